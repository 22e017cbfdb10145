"""The consumer runner's handlers: a record is a batch of one, its `mc.profiled.v1` record stays
in its trace, and a record that is no interaction is refused for the DLQ with nothing written."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from metaconnect_common.db import session_factory
from metaconnect_common.kafka.records import ConsumedRecord, PermanentError
from metaconnect_common.schemas import Interaction
from metaconnect_ingest.events.service import to_record
from metaconnect_profile.profiles import handlers
from metaconnect_profile.profiles.service import ProfileService
from metaconnect_profile.profiles.state import ProfilePolicy
from tests.profile.conftest import interaction, profile_settings


@pytest.fixture
def service(database_url: str, kafka_bootstrap: str, engine: AsyncEngine) -> ProfileService:
    policy = ProfilePolicy.from_settings(profile_settings(database_url, kafka_bootstrap))
    return ProfileService(session_factory(engine), policy)


def _consumed(event: Interaction, offset: int = 0, traceparent: str | None = None) -> ConsumedRecord:
    record = to_record(event)
    headers = [*record.headers, *([("traceparent", traceparent.encode())] if traceparent else [])]
    return ConsumedRecord(record.topic, 0, offset, record.key, record.value, headers, 0)


async def _reported(engine: AsyncEngine, event: Interaction) -> list[tuple[dict[str, object], dict[str, str]]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT value, headers FROM profile.outbox"
                " WHERE convert_from(value, 'UTF8')::jsonb -> 'interaction' ->> 'event_id' = :e"
            ),
            {"e": str(event.event_id)},
        )
        return [(json.loads(r.value), dict(map(tuple, r.headers))) for r in rows]


async def test_one_record_is_applied_as_a_batch_of_one_in_its_trace(
    service: ProfileService, engine: AsyncEngine
) -> None:
    event = interaction({"customer_id": f"handled-{uuid.uuid4().hex[:8]}"}, "message.opened", "push")
    trace_id = uuid.uuid4().hex
    await handlers.handle(service, _consumed(event, traceparent=f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"))
    await handlers.handle(service, _consumed(event))  # redelivered: skipped
    [(value, headers)] = await _reported(engine, event)
    assert value["interaction"]["event_id"] == str(event.event_id)  # type: ignore[index]
    assert headers["traceparent"].split("-")[1] == trace_id


async def test_records_of_a_partition_are_applied_together_each_in_its_own_trace(
    service: ProfileService, engine: AsyncEngine
) -> None:
    who = {"customer_id": f"batched-{uuid.uuid4().hex[:8]}"}
    events = [interaction(who), interaction(who, "message.opened", "push")]
    traces = [uuid.uuid4().hex for _ in events]
    await handlers.handle_batch(
        service,
        [
            _consumed(e, n, f"00-{t}-{uuid.uuid4().hex[:16]}-01")
            for n, (e, t) in enumerate(zip(events, traces, strict=True))
        ],
    )
    for event, trace_id in zip(events, traces, strict=True):
        [(_, headers)] = await _reported(engine, event)
        assert headers["traceparent"].split("-")[1] == trace_id


async def test_a_record_that_is_no_interaction_fails_the_batch_permanently_and_writes_nothing(
    service: ProfileService, engine: AsyncEngine
) -> None:
    good = interaction({"customer_id": f"poison-{uuid.uuid4().hex[:8]}"})
    poison = ConsumedRecord("mc.interactions.v1", 0, 1, b"k", b'{"not": "an interaction"}', [], 0)
    with pytest.raises(PermanentError):
        await handlers.handle_batch(service, [_consumed(good), poison])
    with pytest.raises(PermanentError):
        await handlers.handle(service, poison)
    assert await _reported(engine, good) == []
    async with engine.connect() as conn:
        applied = await conn.scalar(
            text("SELECT count(*) FROM profile.processed_events WHERE event_id = :e"), {"e": good.event_id}
        )
    assert applied == 0
