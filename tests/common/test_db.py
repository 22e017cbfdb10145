"""Database plumbing on real PostgreSQL: statement spans and pool metrics."""

from __future__ import annotations

import logging

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from metaconnect_common.db import create_engine
from metaconnect_common.settings import DatabaseSettings

SECRET_VALUE = "someone@example.com"


async def test_a_statement_inside_a_trace_is_a_client_span_with_the_query_but_not_its_values(
    database_settings: DatabaseSettings, span_exporter: InMemorySpanExporter
) -> None:
    engine = create_engine(database_settings, application_name="metaconnect-dbspans")
    span_exporter.clear()
    try:
        with trace.get_tracer("test").start_as_current_span("handler") as parent:
            async with engine.connect() as conn:
                selected = await conn.execute(text("SELECT :value AS v"), {"value": SECRET_VALUE})
                assert selected.scalar() == SECRET_VALUE
        async with engine.connect() as conn:  # outside any trace: no span of its own
            await conn.execute(text("SELECT 2"))
    finally:
        await engine.dispose()
    spans = [s for s in span_exporter.get_finished_spans() if s.kind is SpanKind.CLIENT]
    [span] = [s for s in spans if "SELECT $1" in str((s.attributes or {}).get("db.query.text"))]
    assert span.parent is not None
    assert span.parent.span_id == parent.get_span_context().span_id
    assert span.name == "SELECT"
    attributes = dict(span.attributes or {})
    assert attributes["db.system.name"] == "postgresql"
    assert attributes["db.operation.name"] == "SELECT"
    assert attributes["server.address"]
    assert attributes["db.namespace"]
    assert SECRET_VALUE not in repr(attributes)
    assert not [s for s in spans if s.attributes and s.attributes.get("db.query.text") == "SELECT 2"]


async def test_a_failing_statement_marks_its_span_without_quoting_the_error(
    database_settings: DatabaseSettings, span_exporter: InMemorySpanExporter
) -> None:
    engine = create_engine(database_settings, application_name="metaconnect-dbspans")
    span_exporter.clear()
    try:
        with trace.get_tracer("test").start_as_current_span("handler"):
            async with engine.connect() as conn:
                with pytest.raises(DBAPIError):
                    await conn.execute(text("SELECT CAST(:value AS integer)"), {"value": SECRET_VALUE})
    finally:
        await engine.dispose()
    [span] = [s for s in span_exporter.get_finished_spans() if s.kind is SpanKind.CLIENT]
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes
    assert span.attributes["error.type"]
    assert SECRET_VALUE not in repr(span.attributes) + repr(span.events) + str(span.status.description)


def _sample(name: str, labels: dict[str, str]) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


async def test_the_pool_reports_connections_in_use_and_its_limit(database_url: str) -> None:
    settings = DatabaseSettings(url=database_url, pool_size=3, max_overflow=2)  # type: ignore[arg-type]
    engine = create_engine(settings, application_name="metaconnect-pooltest")
    try:
        async with engine.connect() as first, engine.connect() as second:
            await first.execute(text("SELECT 1"))
            await second.execute(text("SELECT 1"))
            assert _sample("mc_db_pool_connections", {"service": "pooltest", "state": "in_use"}) == 2
        assert _sample("mc_db_pool_connections", {"service": "pooltest", "state": "in_use"}) == 0
        assert _sample("mc_db_pool_connections", {"service": "pooltest", "state": "idle"}) == 2
        assert _sample("mc_db_pool_limit", {"service": "pooltest"}) == 5
    finally:
        await engine.dispose()


async def test_a_failing_statement_never_prints_its_parameters(
    database_settings: DatabaseSettings, caplog: pytest.LogCaptureFixture
) -> None:
    # What a failing INSERT of an API key or a provider account would hold: a key hash, a
    # Fernet ciphertext, an identifier. The error (and any log line quoting it) names the
    # statement, never them.
    planted = {"hash": "planted-key-hash-1f2e", "secret": "gAAAAABplanted-ciphertext", "email": SECRET_VALUE}
    bad = "U+0000 \x00 refused by PostgreSQL"
    engine = create_engine(database_settings, application_name="metaconnect-hidden")
    try:
        async with engine.connect() as conn:
            with pytest.raises(DBAPIError) as failed:
                await conn.execute(
                    text("SELECT CAST(:hash AS text), CAST(:secret AS text), CAST(:email AS text), CAST(:bad AS text)"),
                    {**planted, "bad": bad},
                )
    finally:
        await engine.dispose()
    logging.getLogger("metaconnect.test").exception("statement failed", exc_info=failed.value)
    written = str(failed.value) + repr(failed.value) + caplog.text
    assert "hidden due to hide_parameters" in str(failed.value)
    for value in planted.values():
        assert value not in written
