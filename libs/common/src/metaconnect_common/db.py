"""Async SQLAlchemy helpers: engine, sessions, naming convention, unit of work.

Each service owns one Postgres schema and its own Alembic migrations; no service
reads another's tables.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode
from pydantic_core import from_json, to_json
from sqlalchemy import MetaData, event, text
from sqlalchemy.engine import Connection, ExceptionContext
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from metaconnect_common.metrics import POOLS
from metaconnect_common.settings import DatabaseSettings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def service_metadata(schema: str) -> MetaData:
    """Metadata for one service's own schema, with the shared naming convention."""
    return MetaData(schema=schema, naming_convention=NAMING_CONVENTION)


def _json_text(value: Any) -> str:
    return to_json(value).decode()


def create_engine(settings: DatabaseSettings, *, application_name: str, pre_ping: bool = True) -> AsyncEngine:
    """An asyncpg engine with connect, command and statement timeouts set.

    `pre_ping` checks each connection on checkout (three round trips with asyncpg): right
    for request paths, wasteful for a consumer whose failed batch is retried anyway.
    """
    engine = create_async_engine(
        settings.url.get_secret_value(),
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout_s,
        pool_pre_ping=pre_ping,
        pool_recycle=1800,
        # Error messages would print the statement's parameters (key hashes, encrypted secrets,
        # customers' identifiers) into every log line and dead letter that quotes them.
        hide_parameters=True,
        # JSON(B) columns through pydantic-core's serializer and parser (C, several times the stdlib's speed).
        json_serializer=_json_text,
        json_deserializer=from_json,
        connect_args={
            "timeout": settings.connect_timeout_s,
            "command_timeout": settings.statement_timeout_ms / 1000 + 5,
            "server_settings": {
                "application_name": application_name,
                "statement_timeout": str(settings.statement_timeout_ms),
                "idle_in_transaction_session_timeout": "60000",
            },
        },
    )
    trace_statements(engine)
    POOLS.watch(application_name.removeprefix("metaconnect-"), engine, limit=settings.pool_size + settings.max_overflow)
    return engine


_SPAN_ATTRIBUTE = "_metaconnect_span"
_QUERY_TEXT_MAX = 2000
_tracer = trace.get_tracer("metaconnect.db")


def trace_statements(engine: AsyncEngine) -> None:
    """A CLIENT span per statement (database semantic conventions), only inside a trace.

    Statements outside any span (the outbox relay's and the flusher's polls) would each start
    a trace of their own and bury the interesting ones, so they get none. Statements carry
    placeholders only, never values.
    """
    url = engine.url
    static: dict[str, str | int] = {"db.system.name": "postgresql", "db.system": "postgresql"}
    if url.database:
        static["db.namespace"] = url.database
    if url.host:
        static["server.address"] = url.host
    if url.port:
        static["server.port"] = url.port

    def before(conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if context is None or not trace.get_current_span().is_recording():
            return
        operation = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "QUERY"
        span = _tracer.start_span(
            operation,
            kind=SpanKind.CLIENT,
            attributes={
                **static,
                "db.operation.name": operation,
                "db.query.text": statement[:_QUERY_TEXT_MAX],
                **({"db.operation.batch.size": len(parameters)} if executemany and parameters else {}),
            },
        )
        context._metaconnect_span = span  # the execution context is ours for this statement

    def after(conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        span = getattr(context, _SPAN_ATTRIBUTE, None)
        if span is not None:
            span.end()

    def failed(exception_context: ExceptionContext) -> None:
        context = exception_context.execution_context
        span = getattr(context, _SPAN_ATTRIBUTE, None)
        if span is not None:
            # The type only: database error messages can quote the values they tripped over.
            span.set_attribute("error.type", type(exception_context.original_exception).__qualname__)
            span.set_status(StatusCode.ERROR)
            span.end()

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    event.listen(engine.sync_engine, "after_cursor_execute", after)
    event.listen(engine.sync_engine, "handle_error", failed)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def unit_of_work(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One transaction: committed when the block ends, rolled back if it raises.

    Service code only flushes; whoever opened the unit of work commits.
    """
    async with sessions() as session, session.begin():
        yield session


async def ping(engine: AsyncEngine) -> None:
    """Raise unless the database answers a trivial query."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
