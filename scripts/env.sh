# Sourced by scripts/bench and scripts/test: create the project's virtual environment when it is
# missing, (re)install when pyproject.toml or the constraints changed, and put it first on PATH.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${DATARAX_VENV:-$root/.venv}"
extras="bench,data,wandb,cloud,dev"
stamp_file="$venv/.datarax-install-stamp"
stamp="$(cat "$root/pyproject.toml" "$root/requirements/cpu-constraints.txt" | sha256sum | cut -d' ' -f1)-$extras"

if [ ! -x "$venv/bin/python" ]; then
    echo "[datarax] creating virtual environment in $venv" >&2
    python3 -m venv "$venv"
fi
if [ "$(cat "$stamp_file" 2>/dev/null)" != "$stamp" ]; then
    echo "[datarax] installing datarax[$extras] into $venv (the first install takes a few minutes)" >&2
    log="$venv/install.log"
    if ! { "$venv/bin/python" -m pip install --upgrade pip &&
           "$venv/bin/python" -m pip install -c "$root/requirements/cpu-constraints.txt" \
               -e "$root[$extras]"; } >"$log" 2>&1; then
        grep -v "is ignored: it is neither a file nor a directory" "$log" | tail -n 40 >&2
        echo "[datarax] install failed; full log: $log" >&2
        exit 1
    fi
    echo "$stamp" > "$stamp_file"
fi
export PATH="$venv/bin:$PATH"
export VIRTUAL_ENV="$venv"
# Quiet TensorFlow's C++ logging; JAX runs on the CPU unless the caller says otherwise.
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
cd "$root"
