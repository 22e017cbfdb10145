"""Async SQLAlchemy helpers: engine, sessions, naming convention, unit of work.

Each service owns one Postgres schema and its own Alembic migrations; no service
reads another's tables.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from pydantic_core import from_json, to_json
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

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
    return create_async_engine(
        settings.url.get_secret_value(),
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout_s,
        pool_pre_ping=pre_ping,
        pool_recycle=1800,
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
