# datarax-bench on the CPU, pinned like this repository's CI (requirements/cpu-constraints.txt).
#
#   docker build -f docker/cpu.Dockerfile -t datarax-bench:cpu .
#   docker run --rm -v "$PWD/results:/work/results" datarax-bench:cpu              # cpu_full
#   docker run --rm -v "$PWD/results:/work/results" datarax-bench:cpu run --profile ci_cpu
#   docker run --rm -v "$PWD/results:/work/results" datarax-bench:cpu report RUN_ID
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    JAX_PLATFORMS=cpu

WORKDIR /work
COPY pyproject.toml README.md ./
COPY requirements/ requirements/
COPY datarax/ datarax/
COPY bench/ bench/
COPY scenarios/ scenarios/
COPY adapters/ adapters/

# torch's CPU build comes from PyTorch's CPU index (PyPI's torch is the CUDA build); the
# constraints file pins every other version to the tested CPU environment.
RUN pip install --no-cache-dir \
        --extra-index-url https://download.pytorch.org/whl/cpu \
        -c requirements/cpu-constraints.txt ".[bench,wandb]" \
    && datarax-bench list adapters

ENTRYPOINT ["datarax-bench"]
CMD ["run", "--profile", "cpu_full"]
