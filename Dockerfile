# XTuner LLaVA Studio on a CUDA runtime. Models are mounted, never baked in:
#   docker build -t llava-studio .
#   docker run --gpus all -p 7860:7860 -v /root/share/new_models:/root/share/new_models \
#       -v $PWD/work:/app/work llava-studio
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04

ENV DEBIAN_FRONTEND=noninteractive PYTHONUNBUFFERED=1 \
    GRADIO_SERVER_NAME=0.0.0.0 GRADIO_SERVER_PORT=7860 STUDIO_WORK_DIR=/app/work
# Python 3.11, as on the reference machines (deadsnakes: 22.04 ships 3.10).
RUN apt-get update && apt-get install -y --no-install-recommends software-properties-common \
    && add-apt-repository -y ppa:deadsnakes/ppa && apt-get update \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv make \
    && rm -rf /var/lib/apt/lists/*
ENV PYTHON=python3.11
WORKDIR /app
# The install inputs alone first, so a code change reuses the installed layer.
COPY requirements.txt requirements.lock requirements-overrides.txt ./
COPY scripts/install_deps.sh scripts/
COPY backend/training/torch_build.py backend/training/
# No GPU is visible while the image builds: the script picks the torch build for this
# driver instead of nvidia-smi's (CUDA 13.0 here; for an older host, e.g.
# --build-arg STUDIO_NVIDIA_DRIVER=535.104.05 gets the CUDA 12.6 build).
ARG STUDIO_NVIDIA_DRIVER=580.65.06
# The same install script, with the same arguments, as `make run` (and so CI) uses.
RUN scripts/install_deps.sh /app/.venv
COPY . .
# Models are local (mounted or built by the demo profile): never wait on a hub.
ENV HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
VOLUME ["/app/work", "/root/share/new_models"]
EXPOSE 7860
CMD ["/app/.venv/bin/python", "app.py"]
