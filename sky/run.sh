#!/usr/bin/env bash
# SkyPilot run step shared by sky/*.yaml: run a profile, write its report, export to W&B when a
# key was passed, and copy the run folder to the results bucket mounted at DATARAX_RESULTS_DIR.
#
#   DATARAX_PROFILE=cpu_full bash sky/run.sh [extra `datarax-bench run` arguments...]
#
# DATARAX_PROFILE=auto picks gpu_h100 on an H100 host and gpu_a100 on any other GPU.
# The run folder is copied even when the run fails, and the run's exit code is kept.
set -uo pipefail
venv="${DATARAX_VENV:-$HOME/datarax-venv}"
results_dir="${DATARAX_RESULTS_DIR:-/datarax-results}"   # where sky/*.yaml mount the bucket
profile="${DATARAX_PROFILE:?set DATARAX_PROFILE to a shipped profile name (datarax-bench list profiles)}"
export PATH="$venv/bin:$PATH"

if [ "$profile" = auto ]; then
    gpu_name="$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)"
    case "$gpu_name" in
        *H100*) profile=gpu_h100 ;;
        *) profile=gpu_a100 ;;
    esac
    echo "[datarax] GPU '${gpu_name:-none found}': profile $profile"
fi

output="results/sky/${SKYPILOT_TASK_ID:-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$output"
status=0
datarax-bench run --profile "$profile" --output "$output" "$@" || status=$?

for run_dir in "$output"/*/; do
    [ -f "$run_dir/results.jsonl" ] || continue
    datarax-bench report "$run_dir" || status=$((status ? status : 1))
    if [ -n "${WANDB_API_KEY:-}" ] && datarax-bench export --help >/dev/null 2>&1; then
        WANDB_MODE=online datarax-bench export wandb "$run_dir" || echo "[datarax] W&B export failed; results are kept" >&2
    fi
    mkdir -p "$results_dir/runs"
    cp -r "$run_dir" "$results_dir/runs/" && echo "[datarax] run folder stored in $results_dir/runs/$(basename "$run_dir")"
done
exit "$status"
