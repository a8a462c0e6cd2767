# syntax=docker/dockerfile:1
# Shopper Segments service: slim, multi-stage, non-root, serving the bundled model.

FROM python:3.11.7-slim-bookworm AS build
# LOCK=train also installs what training and its reports need (docker-compose's train service).
ARG LOCK=runtime
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# No pip or setuptools in the venv: the image's pip installs into it.
RUN python -m venv --without-pip /opt/venv
# Exact versions, every file checked against its hash (requirements/*.lock, `make lock`);
# scikit-learn and numpy as the bundled model was saved with.
COPY requirements ./requirements
RUN pip --python /opt/venv/bin/python install --no-compile --require-hashes -r "requirements/${LOCK}.lock"
COPY pyproject.toml README.md ./
COPY app ./app
COPY training ./training
COPY segments_core ./segments_core
COPY shopper_segments ./shopper_segments
COPY scripts/slim_venv.py ./scripts/
# Without the files the service never loads (scripts/slim_venv.py); then bytecode for what the
# service imports only (the runtime stage runs read-only with PYTHONDONTWRITEBYTECODE).
RUN pip --python /opt/venv/bin/python install --no-compile --no-deps . \
    && python scripts/slim_venv.py /opt/venv \
    && /opt/venv/bin/python -I -c "import shopper_segments.app.main, shopper_segments.app.serve"

FROM python:3.11.7-slim-bookworm AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SEGMENTS_MODEL_ROOT=/srv/models \
    SEGMENTS_MODEL_DIR=/srv/models/online-retail
RUN groupadd --system --gid 10001 segments \
    && useradd --system --uid 10001 --gid 10001 --home-dir /srv --no-create-home segments
WORKDIR /srv
COPY --from=build /opt/venv /opt/venv
COPY --chown=10001:10001 models ./models
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status != 200)"]
# The same start command as `make serve`: one worker per CPU the container may use
# (SEGMENTS_WORKERS overrides), metrics and drift shared by the workers.
CMD ["python", "-m", "shopper_segments.app.serve", "--host", "0.0.0.0", "--port", "8000", "--timeout-keep-alive", "75", "--loop", "asyncio"]
