# auditor in a container: CPU-only PyTorch, runs as an unprivileged user.
#   docker build -t auditor .
#   docker run --rm -v "$PWD:/work" auditor audit /work/models/candidate --output-dir /work/audit-report
# Models and reports live in the mounted /work; the signing key in /home/auditor/.config/auditor
# (mount a key and pass --key to sign with your own).
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1

# CPU build of torch first, so installing the project pulls no CUDA wheels.
RUN python -m pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

WORKDIR /opt/auditor
COPY pyproject.toml README.md ./
COPY policies ./policies
COPY auditor ./auditor
RUN python -m pip install . \
    && python -c "import torch; assert torch.__version__.startswith('2.13.0'), torch.__version__" \
    && groupadd --gid 10001 auditor \
    && useradd --create-home --uid 10001 --gid 10001 --shell /usr/sbin/nologin auditor

USER 10001:10001
WORKDIR /work
ENTRYPOINT ["auditor"]
CMD ["--help"]
