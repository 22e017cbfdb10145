"""Operational routes and the shared error shape, on a small app of their own."""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Query
from opentelemetry import trace
from pydantic import BaseModel

from metaconnect_common.errors import ApiError, install_error_handlers
from metaconnect_common.http import (
    BodySizeLimitMiddleware,
    HttpTelemetryMiddleware,
    StrictQueryRoute,
    add_operational_routes,
)
from metaconnect_common.settings import TelemetrySettings
from metaconnect_common.telemetry import setup_logging, setup_tracing


class Thing(BaseModel):
    size: int


def make_app(*, db_ok: bool) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    async def ok() -> None:
        return None

    async def broken() -> None:
        raise ConnectionRefusedError

    add_operational_routes(app, service="t", checks=lambda: {"kafka": ok, "database": ok if db_ok else broken})

    @app.post("/things/{thing_id}")
    async def post_thing(thing_id: int, thing: Thing) -> dict[str, int]:
        if thing.size > 10:
            raise ApiError(409, "conflict", "too big for now")
        return {"id": thing_id}

    app.add_middleware(BodySizeLimitMiddleware, max_bytes=100)
    app.add_middleware(HttpTelemetryMiddleware, service="t")
    return app


async def call(app: FastAPI, method: str, path: str, **kwargs: object) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        return await client.request(method, path, **kwargs)  # type: ignore[arg-type]


async def test_readyz_names_the_failing_dependency() -> None:
    assert (await call(make_app(db_ok=True), "GET", "/readyz")).status_code == 200
    response = await call(make_app(db_ok=False), "GET", "/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "ready": False,
        "checks": {"kafka": "ok", "database": "unavailable: ConnectionRefusedError"},
    }
    assert (await call(make_app(db_ok=False), "GET", "/healthz")).status_code == 200


async def test_metrics_count_requests_by_route_template() -> None:
    app = make_app(db_ok=True)
    await call(app, "POST", "/things/123", json={"size": 1})
    text = (await call(app, "GET", "/metrics")).text
    assert 'mc_http_requests_total{method="POST",route="/things/{thing_id}",service="t",status="200"}' in text
    assert "/things/123" not in text


@pytest.mark.parametrize(
    ("kwargs", "status", "error", "field", "rule"),
    [
        ({"json": {"size": "big"}}, 422, "validation_failed", "size", "int_parsing"),
        (
            {"content": b"{", "headers": {"content-type": "application/json"}},
            400,
            "malformed_json",
            "1",
            "json_invalid",
        ),
        ({"json": {"size": 1, "pad": "x" * 200}}, 413, "payload_too_large", "body", "max_bytes"),
    ],
)
async def test_errors_share_one_shape(
    kwargs: dict[str, object], status: int, error: str, field: str, rule: str
) -> None:
    response = await call(make_app(db_ok=True), "POST", "/things/1", **kwargs)
    assert response.status_code == status
    body = response.json()
    assert body["error"] == error
    assert (body["errors"][0]["field"], body["errors"][0]["rule"]) == (field, rule)


async def test_api_error_and_http_errors_use_the_shape() -> None:
    conflict = await call(make_app(db_ok=True), "POST", "/things/1", json={"size": 11})
    assert conflict.status_code == 409
    assert conflict.json() == {"error": "conflict", "message": "too big for now", "errors": []}
    missing = await call(make_app(db_ok=True), "GET", "/nowhere")
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"


def test_json_logs_carry_trace_and_span_ids(capsys: pytest.CaptureFixture[str]) -> None:
    settings = TelemetrySettings(mc_log_json=True)
    setup_tracing("t", settings)
    setup_logging("t", settings)
    try:
        with trace.get_tracer("test").start_as_current_span("work") as span:
            logging.getLogger("metaconnect.test").warning("hello")
            ctx = span.get_span_context()
        line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
        assert line["message"] == "hello"
        assert line["service"] == "t"
        assert line["trace_id"] == format(ctx.trace_id, "032x")
        assert line["span_id"] == format(ctx.span_id, "016x")
    finally:
        logging.getLogger().handlers.clear()


def _token(token: Annotated[str | None, Query()] = None) -> str | None:
    return token


def _strict_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    strict, webhooks = APIRouter(route_class=StrictQueryRoute), APIRouter()

    @strict.get("/v1/things")
    async def things(_: Annotated[str | None, Depends(_token)], limit: int = 10) -> dict[str, int]:
        return {"limit": limit}

    @strict.get("/v1/things/{name}")
    async def thing(name: str) -> dict[str, str]:
        return {"name": name}

    @strict.put("/v1/things/{name}")
    async def put_thing(name: str, body: dict[str, Any]) -> dict[str, str]:
        return {"name": name}

    @webhooks.get("/v1/webhooks/x")  # providers sign whatever URL they were given
    async def webhook() -> dict[str, str]:
        return {}

    app.include_router(strict)
    app.include_router(webhooks)
    return app


async def test_an_unknown_query_parameter_is_refused_naming_it() -> None:
    app = _strict_app()
    response = await call(app, "GET", "/v1/things?trait=x&limit=3")
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "query.trait", "rule": "unknown_parameter", "message": "takes: limit, token"}
    ]
    assert (await call(app, "GET", "/v1/things?limit=3&token=t")).json() == {"limit": 3}
    assert (await call(app, "GET", "/v1/things")).status_code == 200
    assert (await call(app, "GET", "/v1/webhooks/x?anything=1")).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body", "field", "rule"),
    [
        ("GET", "/v1/things/cid:a%00b", None, "path.name", "null_character"),
        ("GET", "/v1/things?limit=3&token=a%00", None, "query.token", "null_character"),
        ("PUT", "/v1/things/a", b'{"tags": {"x": ["ok", "a\\u0000"]}}', "tags.x.1", "null_character"),
        ("PUT", "/v1/things/a", b'{"k\\u0000": 1}', "k\\u0000", "null_character"),
        ("PUT", "/v1/things/a", b'{"limits": {"rate": NaN}}', "limits.rate", "finite_number"),
        ("PUT", "/v1/things/a", b'{"rate": Infinity}', "rate", "finite_number"),
        ("PUT", "/v1/things/a", b'{"rate": 1e400}', "rate", "finite_number"),
    ],
    ids=["path", "query", "nested body value", "body key", "NaN", "Infinity", "1e400"],
)
async def test_what_postgres_cannot_store_is_refused_naming_the_field(
    method: str, path: str, body: bytes | None, field: str, rule: str
) -> None:
    headers = {"Content-Type": "application/json"}
    response = await call(_strict_app(), method, path, content=body, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "validation_failed"
    assert [(e["field"], e["rule"]) for e in response.json()["errors"]] == [(field, rule)]
    assert "\x00" not in response.text


async def test_a_clean_body_with_look_alikes_passes() -> None:
    body = b'{"film": "NaN, Infinity and \\\\u0000", "big": 1e100}'
    response = await call(
        _strict_app(), "PUT", "/v1/things/a", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text
