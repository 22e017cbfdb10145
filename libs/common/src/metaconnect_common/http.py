"""Operational HTTP surface every service shares: health, readiness, metrics, limits."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.telemetry import TelemetryConfig
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from metaconnect_common.errors import ApiError, ErrorBody, FieldError, invalid_request
from metaconnect_common.storable import unstorable_json, unstorable_params

ReadinessCheck = Callable[[], Awaitable[object]]

HTTP_REQUESTS = Counter(
    "mc_http_requests_total",
    "HTTP requests by route and status.",
    ["service", "method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "mc_http_request_duration_seconds",
    "HTTP request latency by route.",
    ["service", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

# FastAPI's own OpenTelemetry spans switch on as soon as a tracer provider exists; the
# services use HttpTelemetryMiddleware instead (one span, far cheaper), so turn them off.
NATIVE_TELEMETRY_OFF: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}

_UNMEASURED = frozenset({"/metrics", "/healthz", "/readyz"})
_TRACE_HEADERS = frozenset({b"traceparent", b"tracestate", b"baggage"})


def add_operational_routes(app: FastAPI, *, service: str, checks: Callable[[], Mapping[str, ReadinessCheck]]) -> None:
    """`/healthz` (the process lives), `/readyz` (its dependencies answer), `/metrics`.

    `checks()` names the readiness checks when `/readyz` is asked; raising `RuntimeError`
    there means the service is still starting (not ready).
    """

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        results: dict[str, str] = {}
        try:
            named = checks()
        except RuntimeError:  # the lifespan has not started the service yet
            return JSONResponse({"ready": False, "checks": {"service": "starting"}}, status_code=503)
        for name, check in named.items():
            try:
                await asyncio.wait_for(check(), 2.0)
                results[name] = "ok"
            except Exception as exc:  # a failing dependency is the answer, not an error
                results[name] = f"unavailable: {type(exc).__name__}"
        ready = all(v == "ok" for v in results.values())
        return JSONResponse({"ready": ready, "checks": results}, status_code=200 if ready else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


class StrictQueryRoute(APIRoute):
    """An API route that answers 422 to a query parameter it does not take, instead of ignoring
    it (`/v1/profiles?trait=x` would otherwise list everyone), and to U+0000 in a path or query
    parameter or a JSON body, or a JSON number that is not finite (`metaconnect_common.storable`),
    naming the field. Routers pass it as `route_class`; provider webhooks do not (providers sign
    whatever URL they were given). A request without a query string, path parameters or a
    suspect body costs a few checks: nothing is added to FastAPI's dependency solving."""

    # Routes that read and check their raw body themselves (ingest's events: one bad event of
    # a batch must not refuse the others) use `RawBodyRoute`.
    checks_body: ClassVar[bool] = True

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        allowed = frozenset(_query_names(self.dependant))
        checks_body = self.checks_body

        async def strict(request: Request) -> Response:
            query: bytes = request.scope.get("query_string", b"")
            if query:
                _refuse_unknown(query, allowed)
            errors = []
            path_params: dict[str, Any] = request.scope.get("path_params") or {}
            if path_params:
                errors = unstorable_params("path", ((k, str(v)) for k, v in path_params.items()))
            if checks_body and request.method in _WITH_BODY:
                errors += unstorable_json(await request.body())
            if errors:
                raise invalid_request(errors)
            return await handler(request)

        return strict


class RawBodyRoute(StrictQueryRoute):
    """A `StrictQueryRoute` whose endpoint reads its raw body and checks it itself."""

    checks_body = False


_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


def _refuse_unknown(query: bytes, allowed: frozenset[str]) -> None:
    pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
    unknown = sorted({name for name, _ in pairs} - allowed)
    if unknown:
        takes = ", ".join(sorted(allowed)) or "none"
        raise ApiError(
            422,
            "validation_failed",
            "request failed validation",
            errors=[
                FieldError(field=f"query.{name}", rule="unknown_parameter", message=f"takes: {takes}")
                for name in unknown
            ],
        )
    if b"%00" in query:
        raise invalid_request(unstorable_params("query", pairs))


def _query_names(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


class HttpTelemetryMiddleware:
    """One server span and the request metrics per HTTP request, by route template.

    A lean stand-in for the OpenTelemetry ASGI instrumentation (which costs several
    hundred microseconds a request): it honours a client's `traceparent`, names the span
    `METHOD /route/{param}` and records only semantic-convention attributes that carry no
    identifiers (never the raw path, which may hold an e-mail address).
    """

    def __init__(self, app: ASGIApp, *, service: str) -> None:
        self.app = app
        self.service = service
        self._tracer = trace.get_tracer("metaconnect.http")
        self._children: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}

    def _metrics(self, method: str, route: str, status: str) -> tuple[Counter, Histogram]:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                HTTP_REQUESTS.labels(self.service, method, route, status),
                HTTP_LATENCY.labels(self.service, method, route),
            )
        return children

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in _UNMEASURED:
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        method = scope["method"]
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"] if k in _TRACE_HEADERS}
        parent = propagate.extract(carrier) if carrier else None
        span = self._tracer.start_span(
            method, context=parent, kind=SpanKind.SERVER, attributes={"http.request.method": method}
        )

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            # No exception messages on spans: they can quote personal data; the type is enough.
            with trace.use_span(span, end_on_exit=False, record_exception=False, set_status_on_exception=False):
                try:
                    await self.app(scope, receive, send_wrapper)
                except Exception as exc:
                    span.set_attribute("error.type", type(exc).__qualname__)
                    raise
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            span.update_name(f"{method} {route}")
            span.set_attribute("http.route", route)
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                span.set_status(StatusCode.ERROR)
            span.end()
            requests, latency = self._metrics(method, route, str(status))
            requests.inc()
            latency.observe(time.perf_counter() - start)


class BodySizeLimitMiddleware:
    """413 with the shared error body when a request body exceeds `max_bytes`."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._reject(scope, receive, send)
                return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLarge:
            await self._reject(scope, receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = ErrorBody(
            error="payload_too_large",
            message=f"request body exceeds {self.max_bytes} bytes",
            errors=[FieldError(field="body", rule="max_bytes", message=f"at most {self.max_bytes} bytes")],
        )
        await JSONResponse(body.model_dump(), status_code=413)(scope, receive, send)


class _BodyTooLarge(Exception):
    pass
