"""The outbox relay on real PostgreSQL and Kafka: committed rows published in order, once each,
and no look at the table that can only find nothing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import MetaData, Table, event, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from metaconnect_common.db import session_factory, unit_of_work
from metaconnect_common.kafka.admin import ensure_topics
from metaconnect_common.kafka.producer import KafkaPublisher, OutgoingRecord
from metaconnect_common.outbox import OutboxRelay, enqueue, outbox_table
from metaconnect_common.settings import KafkaSettings
from tests.support import read_topic


@pytest.fixture
async def table(engine: AsyncEngine) -> AsyncIterator[Table]:
    schema = f"outbox_{uuid.uuid4().hex[:8]}"
    async with engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        created = outbox_table(MetaData(schema=schema))
        await conn.run_sync(created.metadata.create_all)
    yield created
    async with engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture
async def publisher(kafka_settings: KafkaSettings, topic: str) -> AsyncIterator[KafkaPublisher]:
    await ensure_topics(kafka_settings, [topic])
    publisher = KafkaPublisher(kafka_settings)
    await publisher.start()
    yield publisher
    await publisher.stop()


async def commit(sessions: async_sessionmaker, table: Table, topic: str, values: list[bytes]) -> None:  # type: ignore[type-arg]
    async with unit_of_work(sessions) as session:
        await enqueue(session, table, [OutgoingRecord(topic, b"k", v) for v in values])


def selects_of(engine: AsyncEngine, table: Table) -> list[str]:
    """Every SELECT on `table` the engine runs from now on."""
    seen: list[str] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().upper().startswith("SELECT") and f"{table.schema}.outbox" in statement:
            seen.append(statement)

    return seen


async def test_a_flush_publishes_what_was_committed_once_in_order_with_one_look(
    engine: AsyncEngine, table: Table, publisher: KafkaPublisher, topic: str, kafka_bootstrap: str
) -> None:
    sessions = session_factory(engine)
    relay = OutboxRelay(sessions, publisher, table, batch_size=10)
    await commit(sessions, table, topic, [b"1", b"2", b"3"])
    looks = selects_of(engine, table)
    assert await relay.flush() == 3
    assert len(looks) == 1  # three rows, fewer than a batch: nothing can be left, no second look
    assert await relay.flush() == 0  # nothing pending
    assert [r.value for r in await read_topic(kafka_bootstrap, topic)] == [b"1", b"2", b"3"]
    async with sessions() as session:
        assert await session.scalar(select(func.count()).where(table.c.published_at.is_(None))) == 0


async def test_full_batches_are_followed_by_another_until_none_is_full(
    engine: AsyncEngine, table: Table, publisher: KafkaPublisher, topic: str, kafka_bootstrap: str
) -> None:
    sessions = session_factory(engine)
    relay = OutboxRelay(sessions, publisher, table, batch_size=2)
    await commit(sessions, table, topic, [b"a", b"b", b"c", b"d", b"e"])
    assert await relay.flush() == 5
    assert [r.value for r in await read_topic(kafka_bootstrap, topic)] == [b"a", b"b", b"c", b"d", b"e"]


async def test_after_a_batch_that_enqueued_nothing_the_relay_does_not_look(
    engine: AsyncEngine, table: Table, publisher: KafkaPublisher, topic: str, kafka_bootstrap: str
) -> None:
    sessions = session_factory(engine)
    relay = OutboxRelay(sessions, publisher, table)
    await commit(sessions, table, topic, [b"x"])
    looks = selects_of(engine, table)
    assert await relay.flush_enqueued() == 1
    assert await relay.flush_enqueued() == 0  # nothing enqueued since: no transaction at all
    assert len(looks) == 1
    await commit(sessions, table, topic, [b"y"])
    assert await relay.flush_enqueued() == 1
    assert [r.value for r in await read_topic(kafka_bootstrap, topic)] == [b"x", b"y"]


async def test_rows_enqueued_but_not_yet_committed_when_a_flush_looks_are_flushed_by_the_next_one(
    engine: AsyncEngine, table: Table, publisher: KafkaPublisher, topic: str, kafka_bootstrap: str
) -> None:
    """A flusher round between another transaction's enqueue and its commit sees no rows; the
    committer's own flush after its commit must still look."""
    sessions = session_factory(engine)
    relay = OutboxRelay(sessions, publisher, table)
    async with unit_of_work(sessions) as session:
        await enqueue(session, table, [OutgoingRecord(topic, b"k", b"late")])
        assert await relay.flush_enqueued() == 0  # another task's flush: nothing committed yet
    assert await relay.flush_enqueued() == 1  # the committer's, after its commit
    assert [r.value for r in await read_topic(kafka_bootstrap, topic)] == [b"late"]


async def test_rows_rolled_back_leave_nothing_to_flush(
    engine: AsyncEngine, table: Table, publisher: KafkaPublisher, topic: str
) -> None:
    sessions = session_factory(engine)
    relay = OutboxRelay(sessions, publisher, table)
    looks = selects_of(engine, table)

    async def changes_its_mind() -> None:
        async with unit_of_work(sessions) as session:
            await enqueue(session, table, [OutgoingRecord(topic, b"k", b"never")])
            raise RuntimeError("the handler changed its mind")

    with pytest.raises(RuntimeError, match="changed its mind"):
        await changes_its_mind()
    assert await relay.flush_enqueued() == 0
    assert looks == []
