"""The router's handlers, called directly (Kafka is not the point here): a record that is not a
profiled interaction is permanent; one record is a batch of one and is decided on once."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from metaconnect_common.kafka.records import ConsumedRecord, PermanentError
from metaconnect_common.state import state_of
from metaconnect_common.topics import PROFILED
from metaconnect_router.decisions import handlers
from metaconnect_router.deps import RouterState
from tests.router.conftest import operator, route_spec
from tests.router.test_pipeline import profiled

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _record(value: bytes) -> ConsumedRecord:
    return ConsumedRecord(PROFILED, 0, 0, b"key", value, [("traceparent", TRACEPARENT.encode())], 0)


def test_a_record_is_read_with_the_trace_it_continues() -> None:
    record = profiled(uuid.uuid4(), "handler.read")
    assert handlers.profiled_of(_record(record.model_dump_json().encode())) == (record, TRACEPARENT)


def test_a_record_that_is_not_a_profiled_interaction_is_permanent() -> None:
    with pytest.raises(PermanentError, match="not a Profiled record"):
        handlers.profiled_of(_record(b'{"schema_version": 1}'))


async def test_one_record_handled_twice_is_decided_on_once(
    router_app: FastAPI, router_client: httpx.AsyncClient
) -> None:
    tag = f"handler{uuid.uuid4().hex[:6]}"
    spec = route_spec(f"route-{tag}")
    spec["trigger"] = {"event_types": [f"{tag}.tick"]}
    assert (await router_client.post("/v1/routes", json=spec, headers=operator())).status_code == 201
    state = state_of(router_app, RouterState)
    state.decisions.catalog.invalidate()
    customer = uuid.uuid4()
    record = _record(profiled(customer, f"{tag}.tick").model_dump_json().encode())

    await handlers.handle(state.decisions, record)
    await handlers.handle(state.decisions, record)

    async with state.sessions() as session:
        decided = await session.scalar(
            text("SELECT count(*) FROM router.decisions WHERE customer_id = :c"), {"c": customer}
        )
    assert decided == 1
