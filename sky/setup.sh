#!/usr/bin/env bash
# SkyPilot setup step shared by sky/*.yaml: a Python 3.11 virtual environment with datarax
# installed from this repository's pyproject.toml, with the extras for the backend.
#
#   bash sky/setup.sh EXTRAS [extra `uv pip install` arguments...]
#   e.g. bash sky/setup.sh bench,wandb,gpu
#
# uv provides Python 3.11 when the image has another version (cloud images often ship 3.10).
set -euo pipefail
extras="${1:?usage: bash sky/setup.sh EXTRAS [uv pip install args...]}"
shift
venv="${DATARAX_VENV:-$HOME/datarax-venv}"

python3 -m pip install --quiet --upgrade uv 2>/dev/null ||
    python3 -m pip install --quiet --user --break-system-packages --upgrade uv
python3 -m uv venv --python 3.11 --allow-existing "$venv"
# unsafe-best-match: take each package's best version across all indexes, as pip does, so an
# extra index (e.g. PyTorch's CPU wheels) only wins where it has the better match.
python3 -m uv pip install --python "$venv/bin/python" --index-strategy unsafe-best-match "$@" -e ".[$extras]"
"$venv/bin/datarax-bench" list adapters
