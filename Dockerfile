# syntax=docker/dockerfile:1
# Tandem's image: one process per container, `python -m backend.serve` (uvicorn).
#
#   docker build -t tandem .
#   docker run -p 8000:8000 -e ALLOWED_HOSTS=localhost tandem   # embedded: SQLite in the container
#
# Production gets DATABASE_URL, REDIS_URL and SECRET_KEY from its environment (see README.md,
# docs/operations.md, docker-compose.yml and deploy/k8s/).

ARG PYTHON_VERSION=3.11
ARG NODE_VERSION=20

# --- 1. The browser editor, built when frontend/package.json exists -------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS frontend
WORKDIR /src/frontend
COPY frontend/ ./
# Without a package.json there is nothing to build: the stage leaves an empty dist/.
RUN if [ -f package.json ]; then \
        if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; \
        else npm install --no-audit --no-fund; fi \
        && npm run build; \
    fi \
    && mkdir -p dist

# --- 2. Python dependencies and the project, into a virtualenv ------------------------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# The dependencies come as wheels (psycopg[binary], pycrdt, uvloop): no compiler needed.
COPY pyproject.toml constraints.txt README.md ./
COPY backend/ backend/
RUN pip install -c constraints.txt .

# --- 3. Runtime: slim, non-root, static files collected at build time -----------------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
ARG TANDEM_UID=10001
RUN groupadd --system --gid "${TANDEM_UID}" tandem \
    && useradd --system --uid "${TANDEM_UID}" --gid tandem --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin tandem
# The source tree in /app is what runs (PYTHONPATH puts it before the copy in site-packages,
# for any entry point: backend.serve, manage.py, daphne, hypercorn): settings.BASE_DIR is /app.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=backend.settings \
    TANDEM_DATA_DIR=/var/lib/tandem \
    HOST=0.0.0.0 \
    PORT=8000
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY manage.py ./
COPY backend/ backend/
COPY --from=frontend /src/frontend/dist/ frontend/dist/
# Static files land in $TANDEM_DATA_DIR/static (served by WhiteNoise). The secret key given
# here exists only for this command, so that no generated key is baked into the image.
RUN mkdir -p "${TANDEM_DATA_DIR}" \
    && SECRET_KEY=collectstatic-only-build-time-key python manage.py collectstatic --noinput --verbosity 0 \
    && chown -R tandem:tandem "${TANDEM_DATA_DIR}"
# Numeric, so that Kubernetes can verify runAsNonRoot.
USER ${TANDEM_UID}:${TANDEM_UID}
EXPOSE 8000
# The Host header is one of ALLOWED_HOSTS' defaults; keep "localhost" in ALLOWED_HOSTS when
# setting it (Django answers 400 to a host it does not serve, even on /healthz).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen(u.Request('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), headers={'Host': 'localhost'}), timeout=4)"]
STOPSIGNAL SIGTERM
CMD ["python", "-m", "backend.serve"]
