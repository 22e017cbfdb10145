# syntax=docker/dockerfile:1
# The `metaconnect` command, for one-shot tasks against a running stack: applying routes,
# minting operator tokens, channel API keys. Build from the repository root:
#   docker build -f deploy/docker/cli.Dockerfile -t metaconnect/cli:local .
#   docker run --rm metaconnect/cli:local routes apply /opt/metaconnect/routes --url http://router:8003
# The demo route (`metaconnect demo traffic`'s: metaconnect_router.simulation's, taking only
# the demo's own events) is written to /opt/metaconnect/routes at build time, so it is always
# the one the code defines.

FROM python:3.11.14-slim-bookworm AS builder
COPY --from=ghcr.io/astral-sh/uv:0.13.8 /uv /bin/uv
# Bytecode compiled now, since the root filesystem is read-only at run time; files copied
# out of the cache mount, not linked; the image's own Python, never a downloaded one.
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
WORKDIR /app

# Third-party dependencies first: this layer changes only with uv.lock. uv resolves the
# whole workspace, so it needs every member's pyproject.toml.
COPY uv.lock pyproject.toml ./
COPY libs/common/pyproject.toml libs/common/
COPY services/ingest/pyproject.toml services/ingest/
COPY services/profile/pyproject.toml services/profile/
COPY services/router/pyproject.toml services/router/
COPY services/delivery/pyproject.toml services/delivery/
COPY services/console/pyproject.toml services/console/
COPY tools/sandbox/pyproject.toml tools/sandbox/
COPY tools/cli/pyproject.toml tools/cli/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-install-workspace --no-dev --package metaconnect-cli

# Then the code: the command and the members it imports, installed as wheels (not editable).
COPY libs/common libs/common
COPY services/ingest services/ingest
COPY services/profile services/profile
COPY services/router services/router
COPY services/delivery services/delivery
COPY services/console services/console
COPY tools/sandbox tools/sandbox
COPY tools/cli tools/cli
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package metaconnect-cli
RUN mkdir -p /opt/metaconnect/routes \
    && .venv/bin/python -c "from metaconnect_cli.routes_code import dump; \
from metaconnect_cli.demo import TrafficPlan, demo_spec; \
plan = TrafficPlan(customers=1, events=0, rate=1.0, settle_s=0.0, timeout_s=1.0, seed=0); \
print(dump(demo_spec(plan).model_dump(mode='json', exclude_defaults=True)), end='')" \
       > /opt/metaconnect/routes/demo-new-items.yaml

FROM python:3.11.14-slim-bookworm
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="metaconnect-cli" \
      org.opencontainers.image.description="The metaconnect command: routes as code, operator tokens, API keys, migrations" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.vendor="Metaconnect"
RUN groupadd --system --gid 10001 metaconnect \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin metaconnect
# Only the virtualenv and the demo route: no uv, no sources, no build tools.
COPY --from=builder /app/.venv /app/.venv
COPY --from=builder /opt/metaconnect/routes /opt/metaconnect/routes
ENV PATH="/app/.venv/bin:${PATH}" PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
USER 10001:10001
# One-shot tasks: nothing to probe.
HEALTHCHECK NONE
ENTRYPOINT ["metaconnect"]
CMD ["--help"]
