# syntax=docker/dockerfile:1
# Metaconnect console. Build from the repository root:
#   docker build -f deploy/docker/console.Dockerfile -t metaconnect/console:local .
# Run `serve` (the default), or `migrate` (and, for the four pipeline services, `topics`) as
# one-shot jobs with the same image. The five service images differ only in their names and
# port: diff them.

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
    uv sync --frozen --no-install-workspace --no-dev --package metaconnect-console

# Then the code: the service and the library it uses, installed as wheels (not editable).
COPY libs/common libs/common
COPY services/console services/console
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package metaconnect-console

FROM python:3.11.14-slim-bookworm
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="metaconnect-console" \
      org.opencontainers.image.description="Metaconnect console: web pages for marketing ops, support, management and admins over the four services' APIs" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.vendor="Metaconnect"
RUN groupadd --system --gid 10001 metaconnect \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin metaconnect
# Only the virtualenv: no uv, no sources, no build tools.
COPY --from=builder /app/.venv /app/.venv
ENV PATH="/app/.venv/bin:${PATH}" PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3)"]
ENTRYPOINT ["python", "-m", "metaconnect_console"]
CMD ["serve"]
