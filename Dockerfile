# syntax=docker/dockerfile:1
# The switch's image: api, Ray head and Ray workers all run it (one Ray version everywhere,
# and the actors' code is importable on every node). Build: docker build -t kenya-switch .
# The base matches the Python and platform deploy/requirements.lock was resolved for.

FROM python:3.11.7-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/switch
# Dependencies first (their layer survives code changes), every file checked by its sha256.
COPY deploy/requirements.lock deploy/requirements.lock
RUN /opt/switch/bin/pip install --require-hashes --no-deps -r deploy/requirements.lock
COPY pyproject.toml README.md LICENSE NOTICE.md ./
COPY switch switch
COPY infra infra
COPY sandbox sandbox
COPY app app
COPY actors actors
COPY routing routing
COPY connectors connectors
COPY api api
COPY bench bench
RUN /opt/switch/bin/pip install --no-deps .

FROM python:3.11.7-slim-bookworm
LABEL org.opencontainers.image.title="kenya-switch" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/switch/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SWITCH_HOST=0.0.0.0 \
    SWITCH_PORT=8080 \
    SWITCH_DATA_DIR=/var/lib/switch
# A fixed, unprivileged uid (Kubernetes' runAsNonRoot checks the number).
RUN groupadd --system --gid 10001 switch \
 && useradd --system --uid 10001 --gid switch --home-dir /var/lib/switch --create-home switch
COPY --from=build /opt/switch /opt/switch
COPY deploy/docker/entrypoint.sh /usr/local/bin/switch-entrypoint
USER 10001:10001
WORKDIR /var/lib/switch
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
ENTRYPOINT ["switch-entrypoint"]
CMD ["serve", "--workers", "2"]
