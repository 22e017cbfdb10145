"""The delivery handlers, called directly (Kafka is not the point here): a malformed record is
permanent (dead-lettered, never retried); a delivery handled twice is stored and sent once."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from sqlalchemy import text

from metaconnect_common.kafka.records import ConsumedRecord, PermanentError
from metaconnect_common.schemas import Channel
from metaconnect_common.state import state_of
from metaconnect_common.topics import DELIVERIES
from metaconnect_delivery.deps import DeliveryState
from metaconnect_delivery.handlers import deliveries_handlers
from tests.delivery.test_service import delivery, status_of
from tests.support import eventually


def _record(value: bytes, headers: list[tuple[str, bytes]] | None = None) -> ConsumedRecord:
    return ConsumedRecord(DELIVERIES, 0, 0, b"key", value, headers or [], 0)


async def test_a_malformed_record_is_permanent(delivery_app: FastAPI) -> None:
    handle, handle_batch = deliveries_handlers(state_of(delivery_app, DeliveryState).deliveries, lambda: None)
    with pytest.raises(PermanentError, match="not a Delivery record"):
        await handle(_record(b'{"id": "not a delivery"}'))
    good = _record(delivery(Channel.IN_APP).model_dump_json().encode())
    with pytest.raises(PermanentError):  # a batch holding it fails whole: the runner then goes one by one
        await handle_batch([good, _record(b"{}")])


async def test_a_delivery_handled_twice_is_sent_once(delivery_app: FastAPI) -> None:
    state = state_of(delivery_app, DeliveryState)
    handle, handle_batch = deliveries_handlers(state.deliveries, state.workers.wake)
    d = delivery(Channel.IN_APP)
    record = _record(d.model_dump_json().encode())
    await handle(record)
    await handle_batch([record, record])

    async def sent() -> bool:
        return await status_of(state.deliveries, d.id) == "sent"

    await eventually(sent)
    await handle(record)  # once more, after it was sent
    async with state.sessions() as session:
        rows = await session.scalar(text("SELECT count(*) FROM delivery.inbox WHERE delivery_id = :d"), {"d": d.id})
        attempts = await session.scalar(
            text("SELECT count(*) FROM delivery.attempts WHERE delivery_id = :d"), {"d": d.id}
        )
    assert (rows, attempts) == (1, 1)
