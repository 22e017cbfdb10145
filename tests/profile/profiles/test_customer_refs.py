"""`mc.customers.v1` over the real topic and tables: after interactions through the running service,
the latest record of every key names the customer `identities` says owns it now (device tokens never
published), through attachments, a merge of stored customers (an invalidated address included) and
an erasure, which leaves a tombstone for every identifier and id of the customers erased."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from metaconnect_common.auth import Role
from metaconnect_common.schemas import Interaction
from metaconnect_common.schemas.customers import CustomerRefRecord
from metaconnect_common.topics import CUSTOMERS
from metaconnect_profile.identity.keys import published_ref
from tests.profile.conftest import applied, interaction, operator
from tests.support import eventually, read_topic

Publish = Callable[[Interaction], Coroutine[Any, Any, None]]
ADMIN = operator(Role.ADMIN)


async def _published(bootstrap: str) -> dict[str, uuid.UUID | None]:
    """The latest value of every key of `mc.customers.v1`: the customer it names, None for a tombstone."""
    latest: dict[str, uuid.UUID | None] = {}
    for record in await read_topic(bootstrap, CUSTOMERS):  # each partition in offset order
        assert record.key is not None
        value: bytes | None = record.value  # None: a tombstone
        latest[record.key.decode()] = (
            None if value is None else CustomerRefRecord.model_validate_json(value).customer_id
        )
    return latest


async def _owners(engine: AsyncEngine) -> dict[str, uuid.UUID]:
    """What the topic should say: the owner of every identifier stored, valid or not, but device tokens."""
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT kind, value, customer_id FROM profile.identities"))
    return {ref: r.customer_id for r in rows if (ref := published_ref(r.kind, r.value))}


async def _topic_agrees(engine: AsyncEngine, bootstrap: str) -> dict[str, uuid.UUID | None]:
    """Wait until the topic says what `identities` says (every other key forgotten); the latest values."""
    latest: dict[str, uuid.UUID | None] = {}

    async def agrees() -> bool:
        nonlocal latest
        owners = await _owners(engine)
        try:
            latest = await _published(bootstrap)
        except TimeoutError:  # the topic is not there yet
            return False
        return latest == {**dict.fromkeys(latest), **owners}

    await eventually(agrees)
    return latest


async def _send(publish: Publish, engine: AsyncEngine, event: Interaction) -> uuid.UUID:
    await publish(event)
    return await applied(engine, event.event_id)


async def test_every_identifier_names_its_customer_and_device_tokens_are_never_published(
    profile_client: httpx.AsyncClient, publish: Publish, engine: AsyncEngine, kafka_bootstrap: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    who = {"customer_id": f"n-{tag}", "email": f"n.{tag}@example.com", "device_token": f"apns-{tag}"}
    customer = await _send(publish, engine, interaction({**who, "external_ids": {"crm": f"C-{tag}"}}))
    phone = f"+49151{int(tag, 16) % 100_000:05d}123"
    assert await _send(publish, engine, interaction({"customer_id": f"n-{tag}", "phone": phone})) == customer

    latest = await _topic_agrees(engine, kafka_bootstrap)
    for ref in (f"id:{customer}", f"cid:n-{tag}", f"email:n.{tag}@example.com", f"ext:crm:C-{tag}", f"phone:{phone}"):
        assert latest[ref] == customer, ref
    assert not [key for key in latest if key.startswith("device:")]


async def test_a_merge_repoints_every_identifier_and_an_erasure_leaves_tombstones(
    profile_client: httpx.AsyncClient, publish: Publish, engine: AsyncEngine, kafka_bootstrap: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    email, phone = f"m.{tag}@example.com", f"+49152{int(tag, 16) % 100_000:05d}456"
    survivor = await _send(publish, engine, interaction({"customer_id": f"m-{tag}"}))
    merged = await _send(publish, engine, interaction({"email": email, "phone": phone}))
    bounced = interaction({"metaconnect_id": str(merged)}, "message.bounced", "email", bounce="hard")
    assert await _send(publish, engine, bounced) == merged
    async with engine.connect() as conn:
        invalid_at = await conn.scalar(
            text("SELECT invalid_at FROM profile.identities WHERE kind = 'email' AND value = :v"), {"v": email}
        )
    assert invalid_at is not None  # the e-mail no longer reaches the customer, yet still names it
    assert (await _topic_agrees(engine, kafka_bootstrap))[f"email:{email}"] == merged

    # Linked by the phone alone: the e-mail moves with it, untouched by the interaction.
    assert await _send(publish, engine, interaction({"customer_id": f"m-{tag}", "phone": phone})) == survivor
    refs = (f"id:{survivor}", f"id:{merged}", f"cid:m-{tag}", f"email:{email}", f"phone:{phone}")
    latest = await _topic_agrees(engine, kafka_bootstrap)
    assert {ref: latest[ref] for ref in refs} == dict.fromkeys(refs, survivor)

    assert (await profile_client.delete(f"/v1/profiles/email:{email}", headers=ADMIN)).status_code == 204
    latest = await _topic_agrees(engine, kafka_bootstrap)
    assert {ref: latest[ref] for ref in refs} == dict.fromkeys(refs, None)
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT convert_from(key, 'UTF8') AS ref, value FROM profile.outbox WHERE topic = :t"),
                {"t": CUSTOMERS},
            )
        ).all()
    # The erasure deleted the records naming the customers; only the tombstones name the identifiers.
    assert sorted(r.ref for r in rows if r.ref in refs) == sorted(refs)
    assert all(r.value is None for r in rows if r.ref in refs)
