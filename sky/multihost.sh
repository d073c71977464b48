#!/usr/bin/env bash
# SkyPilot run step of sky/multihost.yaml: every node runs the profile as one JAX process of a
# job across the nodes. jax.distributed's coordinator runs on the head node (the first of
# SKYPILOT_NODE_IPS); each DIST-3 cell derives its own port from DATARAX_COORDINATOR's.
#
#   bash sky/multihost.sh [extra `datarax-bench run` arguments...]
#
# The head node stores its run folder in the bucket under runs/ (and exports to W&B); the other
# nodes store theirs under nodes/<rank>/runs/ and never export.
set -euo pipefail
head_ip="$(echo "${SKYPILOT_NODE_IPS:?SkyPilot sets SKYPILOT_NODE_IPS (one IP per line)}" | head -n 1)"
export DATARAX_COORDINATOR="$head_ip:${DATARAX_COORDINATOR_PORT:-8476}"
export DATARAX_PROCESS_ID="${SKYPILOT_NODE_RANK:?SkyPilot sets SKYPILOT_NODE_RANK}"
export DATARAX_NUM_PROCESSES="${SKYPILOT_NUM_NODES:?SkyPilot sets SKYPILOT_NUM_NODES}"
echo "[datarax] node $DATARAX_PROCESS_ID of $DATARAX_NUM_PROCESSES, coordinator $DATARAX_COORDINATOR"
if [ "$DATARAX_PROCESS_ID" != 0 ]; then
    export DATARAX_RESULTS_DIR="${DATARAX_RESULTS_DIR:-/datarax-results}/nodes/$DATARAX_PROCESS_ID"
    unset WANDB_API_KEY
fi
exec bash "$(dirname "${BASH_SOURCE[0]}")/run.sh" "$@"
