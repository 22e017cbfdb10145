"""Ingest keeps `customer_refs` equal to the latest record per ref on the real `mc.customers.v1`."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager

import pytest
from fastapi import FastAPI
from hypothesis import given
from hypothesis import strategies as st

from metaconnect_common.db import session_factory
from metaconnect_common.kafka.producer import KafkaPublisher, OutgoingRecord
from metaconnect_common.kafka.records import ConsumedRecord, PermanentError
from metaconnect_common.schemas.customers import customer_ref_record
from metaconnect_common.topics import CUSTOMERS, dlq_topic
from metaconnect_ingest.config import IngestSettings
from metaconnect_ingest.customers import repository
from metaconnect_ingest.customers.handlers import latest_refs
from tests.support import eventually, read_topic


def consumed(record: OutgoingRecord, offset: int = 0) -> ConsumedRecord:
    return ConsumedRecord(CUSTOMERS, 0, offset, record.key, record.value, [], 0)


Publish = Callable[[Sequence[OutgoingRecord]], Awaitable[object]]


@asynccontextmanager
async def publishing(settings: IngestSettings) -> AsyncIterator[Publish]:
    """Writes records to the real topic as the profile service's relay does."""
    publisher = KafkaPublisher(settings.common.kafka, client_id="profile-relay-test")
    try:
        yield publisher.publish
    finally:
        await publisher.stop()


refs = st.sampled_from(["cid:c-1", "email:ada@example.com", "phone:+4915112345678", "ext:crm:C-7"])
customers = st.sampled_from([uuid.UUID(int=1), uuid.UUID(int=2), None])


@given(st.lists(st.tuples(refs, customers), max_size=20))
def test_each_ref_takes_its_last_record(history: list[tuple[str, uuid.UUID | None]]) -> None:
    latest = latest_refs([consumed(customer_ref_record(ref, c), i) for i, (ref, c) in enumerate(history)])
    assert latest == dict(history)


@pytest.mark.parametrize(
    ("key", "value"),
    [(None, b'{"customer_id": "00000000-0000-0000-0000-000000000001"}'), (b"cid:c-1", b"{}"), (b"\xff", None)],
    ids=["no key", "no customer", "not utf-8"],
)
def test_an_unreadable_record_is_permanent(key: bytes | None, value: bytes | None) -> None:
    with pytest.raises(PermanentError):
        latest_refs([ConsumedRecord(CUSTOMERS, 0, 0, key, value, [], 0)])


async def test_records_on_the_topic_name_and_forget_customers(app: FastAPI, settings: IngestSettings) -> None:
    sessions = session_factory(app.state.service.engine)
    ada, survivor = uuid.uuid4(), uuid.uuid4()
    async with publishing(settings) as publish:
        await publish(
            [
                customer_ref_record(f"cid:{ada}", ada),
                customer_ref_record(f"id:{ada}", ada),
                OutgoingRecord(CUSTOMERS, f"email:{ada}@example.com".encode(), b"not json"),  # dead-lettered
                customer_ref_record(f"id:{ada}", survivor),  # merged
                customer_ref_record(f"email:{ada}@example.com", ada),
            ]
        )

        async def named() -> bool:
            async with sessions() as session:
                return (
                    await repository.customer_of(session, f"id:{ada}") == survivor
                    and await repository.customer_of(session, f"email:{ada}@example.com") == ada
                )

        await eventually(named)
        await publish([customer_ref_record(f"cid:{ada}", None)])  # erased

        async def forgotten() -> bool:
            async with sessions() as session:
                return await repository.customer_of(session, f"cid:{ada}") is None

        await eventually(forgotten)
    dead = await read_topic(settings.common.kafka.bootstrap, dlq_topic("ingest"))
    assert [r.key for r in dead] == [f"email:{ada}@example.com".encode()]
