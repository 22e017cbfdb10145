"""The delivery handler, called directly (Kafka is not the point here): a malformed record is
permanent (dead-lettered, never retried); a delivery is sent once however often it arrives."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from sqlalchemy import text

from metaconnect_common.kafka.records import ConsumedRecord, PermanentError
from metaconnect_common.schemas import Channel
from metaconnect_common.state import state_of
from metaconnect_common.topics import DELIVERIES
from metaconnect_delivery.deps import DeliveryState
from metaconnect_delivery.handlers import deliveries_handler
from tests.delivery.test_service import delivery


def _record(value: bytes, headers: list[tuple[str, bytes]] | None = None) -> ConsumedRecord:
    return ConsumedRecord(DELIVERIES, 0, 0, b"key", value, headers or [], 0)


async def test_a_malformed_record_is_permanent(delivery_app: FastAPI) -> None:
    handle = deliveries_handler(state_of(delivery_app, DeliveryState).deliveries)
    with pytest.raises(PermanentError, match="not a Delivery record"):
        await handle(_record(b'{"id": "not a delivery"}'))


async def test_a_delivery_handled_twice_is_sent_once(delivery_app: FastAPI) -> None:
    state = state_of(delivery_app, DeliveryState)
    handle = deliveries_handler(state.deliveries)
    d = delivery(Channel.IN_APP)
    record = _record(d.model_dump_json().encode())
    await handle(record)
    await handle(record)
    async with state.sessions() as session:
        rows = await session.scalar(text("SELECT count(*) FROM delivery.inbox WHERE delivery_id = :d"), {"d": d.id})
        attempts = await session.scalar(
            text("SELECT count(*) FROM delivery.attempts WHERE delivery_id = :d"), {"d": d.id}
        )
    assert (rows, attempts) == (1, 1)
