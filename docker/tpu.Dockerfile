# datarax-bench on a Cloud TPU v5e VM: jax[tpu] (libtpu from PyPI).
#
#   docker build -f docker/tpu.Dockerfile -t datarax-bench:tpu .
#   docker run --rm --privileged --net=host -v "$PWD/results:/work/results" datarax-bench:tpu   # tpu_v5e
#
# --privileged and the host network give the container the TPU devices, as on any TPU VM.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=2

WORKDIR /work
COPY pyproject.toml README.md ./
COPY requirements/ requirements/
COPY datarax/ datarax/
COPY bench/ bench/
COPY scenarios/ scenarios/
COPY adapters/ adapters/

# The TPU host is an x86_64 CPU machine: the CPU pins apply (jax 0.10.2 brings its matching
# libtpu), with torch's CPU build from PyTorch's CPU index.
RUN pip install --no-cache-dir \
        --extra-index-url https://download.pytorch.org/whl/cpu \
        -c requirements/cpu-constraints.txt ".[bench,wandb,tpu]" \
    && datarax-bench list adapters

ENTRYPOINT ["datarax-bench"]
CMD ["run", "--profile", "tpu_v5e"]
