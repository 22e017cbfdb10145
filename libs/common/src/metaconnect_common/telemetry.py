"""Logs, traces and metrics set up the same way in every service.

* JSON logs on stderr carrying `trace_id` / `span_id` of the current span.
* An SDK tracer provider always (so logs and responses carry real ids); spans are
  exported over OTLP/HTTP only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
"""

from __future__ import annotations

import logging
import sys

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from pythonjsonlogger.json import JsonFormatter

from metaconnect_common.settings import TelemetrySettings

_configured: set[str] = set()


class _TraceContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            record.trace_id = format(ctx.trace_id, "032x")
            record.span_id = format(ctx.span_id, "016x")
        return True


def setup_logging(service: str, settings: TelemetrySettings) -> None:
    """Root logger to stderr, JSON with trace ids (plain text when MC_LOG_JSON=false)."""
    handler = logging.StreamHandler(sys.stderr)
    if settings.mc_log_json:
        handler.setFormatter(
            JsonFormatter(
                "{asctime}{levelname}{name}{message}",
                style="{",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                static_fields={"service": service},
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.addFilter(_TraceContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.mc_log_level.upper())
    # aiokafka logs every reconnect attempt at ERROR; warnings are enough.
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
    # httpx and httpcore log every request's full URL at INFO/DEBUG, and a URL can name a customer
    # (`/v1/profiles/email:…`, a provider's path): personal data must never reach the logs.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))


def setup_tracing(service: str, settings: TelemetrySettings) -> None:
    """Install the SDK tracer provider once per process (OTLP export if configured)."""
    if "tracing" in _configured:
        return
    _configured.add("tracing")
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):  # already installed (e.g. by a test harness)
        return
    provider = TracerProvider(resource=Resource.create({"service.name": settings.otel_service_name or service}))
    if settings.otel_exporter_otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)


def setup_telemetry(service: str, settings: TelemetrySettings) -> None:
    setup_logging(service, settings)
    setup_tracing(service, settings)
