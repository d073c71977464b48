# datarax-bench on one NVIDIA GPU: CUDA 12, JAX with CUDA, DALI's CUDA 12 build, PyPI's CUDA torch.
#
#   docker build -f docker/gpu.Dockerfile -t datarax-bench:gpu .
#   docker run --rm --gpus all -v "$PWD/results:/work/results" datarax-bench:gpu        # gpu_a100
#   docker run --rm --gpus all -v "$PWD/results:/work/results" datarax-bench:gpu run --profile gpu_h100
#
# The CUDA libraries themselves come with the jax[cuda12] and torch wheels; the base image
# provides the CUDA 12 user-space setup that the host driver is mounted into.
FROM nvidia/cuda:12.6.3-base-ubuntu22.04

# Ubuntu 22.04 ships Python 3.10; uv installs a standalone Python 3.11 into /opt/python.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    UV_PYTHON_INSTALL_DIR=/opt/python \
    UV_NO_CACHE=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

COPY --from=ghcr.io/astral-sh/uv:0.9.5 /uv /usr/local/bin/uv
RUN uv venv --python 3.11 /opt/venv

WORKDIR /work
COPY pyproject.toml README.md ./
COPY datarax/ datarax/
COPY bench/ bench/
COPY scenarios/ scenarios/
COPY adapters/ adapters/

# unsafe-best-match: each package's best version across indexes, as pip would choose.
RUN uv pip install --index-strategy unsafe-best-match ".[bench,wandb,gpu]" \
    && datarax-bench list adapters

ENTRYPOINT ["datarax-bench"]
CMD ["run", "--profile", "gpu_a100"]
