"""Identity resolution through the real topic and tables: an event naming identifiers of
several customers merges them into the oldest one, and everything they own moves with them."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from metaconnect_common.kafka.producer import KafkaPublisher, OutgoingRecord
from metaconnect_common.schemas import Interaction
from metaconnect_common.schemas.profiled import Colour, Profiled, Purpose
from metaconnect_common.settings import KafkaSettings
from metaconnect_common.topics import INTERACTIONS
from tests.profile.conftest import applied, interaction, profiled_for
from tests.profile.personality.answers import COLOUR_ANSWERS

Publish = Callable[[Interaction], Coroutine[Any, Any, None]]


def _phone() -> tuple[str, str]:
    """A fresh German mobile number, as E.164 and as people type it."""
    digits = f"{random.randrange(10**8):08d}"
    return f"+49151{digits}", f"+49 151 {digits[:4]} {digits[4:]}"


async def _rows(engine: AsyncEngine, sql: str, **params: Any) -> list[Any]:
    async with engine.connect() as conn:
        return list(await conn.execute(text(sql), params))


async def _send(publish: Publish, engine: AsyncEngine, event: Interaction) -> uuid.UUID:
    """Publish one event and wait until it is applied: events with different keys may land on
    different partitions, so waiting is what orders them."""
    await publish(event)
    return await applied(engine, event.event_id)


async def _profiled(bootstrap: str, event: Interaction) -> Profiled:
    [record] = await profiled_for(bootstrap, event.event_id)
    return Profiled.model_validate(record)


async def test_linking_event_merges_into_the_older_customer_and_moves_what_it_owns(
    profile_client: httpx.AsyncClient, publish: Publish, engine: AsyncEngine, kafka_bootstrap: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    cid, email = f"merge-{tag}", f"ada.{tag}@example.com"
    phone, _ = _phone()

    a = interaction({"customer_id": cid, "email": email}, "app.opened")
    x = await _send(publish, engine, a)
    # The phone's customer: consent, a scored questionnaire and a refused one, then the link.
    b = interaction({"phone": phone}, "consent.changed", purpose="profiling_questionnaire", granted=True)
    p = await _send(publish, engine, b)
    scored = interaction({"phone": phone}, "questionnaire.submitted", instrument="colours24", answers=COLOUR_ANSWERS)
    refused = interaction({"phone": phone}, "questionnaire.submitted", instrument="colours24", answers=[])
    for event in (scored, refused):
        assert await _send(publish, engine, event) == p
    assert p != x

    c = interaction({"email": email, "phone": phone}, "app.opened")
    assert await _send(publish, engine, c) == x, "the older customer survives"

    identities = await _rows(
        engine, "SELECT kind, value, customer_id FROM profile.identities WHERE customer_id IN (:x, :p)", x=x, p=p
    )
    # Both customers' own ids now reach the survivor: a late receipt for the merged one lands there.
    assert {(r.kind, r.value, r.customer_id) for r in identities} == {
        ("cid", cid, x),
        ("email", email, x),
        ("phone", phone, x),
        ("mc", str(x), x),
        ("mc", str(p), x),
    }
    receipt = interaction({"metaconnect_id": str(p)}, "message.delivered")
    assert await _send(publish, engine, receipt) == x
    timeline = await _rows(
        engine,
        "SELECT event_id, customer_id FROM profile.timeline WHERE event_id = ANY(:ids)",
        ids=[e.event_id for e in (a, b, scored, refused, c)],
    )
    assert {r.customer_id for r in timeline} == {x}
    assert len(timeline) == 5
    [evidence] = await _rows(
        engine, "SELECT customer_id FROM profile.personality_evidence WHERE event_id = :e", e=scored.event_id
    )
    assert evidence.customer_id == x
    [rejection] = await _rows(
        engine, "SELECT customer_id FROM profile.rejections WHERE event_id = :e", e=refused.event_id
    )
    assert rejection.customer_id == x
    merges = await _rows(
        engine, "SELECT survivor_id, merged_id, event_id FROM profile.merges WHERE merged_id = :p", p=p
    )
    assert [tuple(m) for m in merges] == [(x, p, c.event_id)]
    [merged] = await _rows(engine, "SELECT merged_into FROM profile.customers WHERE id = :p", p=p)
    assert merged.merged_into == x

    record = await _profiled(kafka_bootstrap, c)
    assert record.customer_id == x
    assert record.merged_from == [p]
    assert record.profile is not None
    # The merged profile carries the phone customer's consent and the personality from its evidence.
    assert record.profile.purposes[Purpose.PROFILING_QUESTIONNAIRE].granted
    assert record.profile.personality.colour is Colour.RED
    assert {"email", "sms", "whatsapp"} <= set(record.profile.reachable)
    # The addresses behind them, for the delivery service (and nowhere in the record's repr).
    assert (record.profile.contact.email, record.profile.contact.phone) == (email, phone)
    assert email not in repr(record.profile.contact)
    assert phone not in repr(record.profile.contact)
    # Every ref that names the survivor now, the merged customer's old id among them.
    assert record.profile.identities == sorted([f"cid:{cid}", f"email:{email}", f"phone:{phone}", f"id:{p}"])

    later = interaction({"phone": phone}, "app.opened")
    assert await _send(publish, engine, later) == x
    after = await _profiled(kafka_bootstrap, later)
    assert after.customer_id == x
    assert after.merged_from == []


async def test_three_customers_merge_into_the_oldest_at_once_and_in_a_chain(
    profile_client: httpx.AsyncClient, publish: Publish, engine: AsyncEngine, kafka_bootstrap: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    # At once: one event names a customer id, an e-mail and a phone of three customers.
    cid, email = f"three-{tag}", f"three.{tag}@example.com"
    phone, _ = _phone()
    x = await _send(publish, engine, interaction({"customer_id": cid}))
    y = await _send(publish, engine, interaction({"email": email}))
    z = await _send(publish, engine, interaction({"phone": phone}))
    link = interaction({"customer_id": cid, "email": email, "phone": phone})
    assert await _send(publish, engine, link) == x
    record = await _profiled(kafka_bootstrap, link)
    assert record.customer_id == x
    assert sorted(record.merged_from) == sorted([y, z])
    merges = await _rows(
        engine, "SELECT survivor_id, merged_id FROM profile.merges WHERE event_id = :e", e=link.event_id
    )
    assert sorted(tuple(m) for m in merges) == sorted([(x, y), (x, z)])
    owners = await _rows(
        engine, "SELECT DISTINCT customer_id FROM profile.identities WHERE customer_id IN (:x, :y, :z)", x=x, y=y, z=z
    )
    assert [o.customer_id for o in owners] == [x]

    # In a chain: the phone merges into the e-mail's customer, which later merges into the id's.
    cid, email = f"chain-{tag}", f"chain.{tag}@example.com"
    phone, _ = _phone()
    x = await _send(publish, engine, interaction({"customer_id": cid}))
    y = await _send(publish, engine, interaction({"email": email}))
    z = await _send(publish, engine, interaction({"phone": phone}))
    assert await _send(publish, engine, interaction({"email": email, "phone": phone})) == y
    second = interaction({"customer_id": cid, "email": email})
    assert await _send(publish, engine, second) == x
    assert (await _profiled(kafka_bootstrap, second)).merged_from == [y]
    merges = await _rows(
        engine, "SELECT survivor_id, merged_id FROM profile.merges WHERE merged_id IN (:y, :z)", y=y, z=z
    )
    assert sorted(tuple(m) for m in merges) == sorted([(x, y), (x, z)]), "earlier merges re-point at the survivor"
    pointers = await _rows(engine, "SELECT id, merged_into FROM profile.customers WHERE id IN (:y, :z)", y=y, z=z)
    assert {r.merged_into for r in pointers} == {x}
    assert await _send(publish, engine, interaction({"phone": phone})) == x


def _raw(customer: dict[str, str], key: str) -> tuple[uuid.UUID, OutgoingRecord]:
    """An interaction record as bytes, its identifiers spelled exactly as given (no normalisation)."""
    payload = interaction({"customer_id": "placeholder"}).model_dump(mode="json") | {"customer": customer}
    return uuid.UUID(payload["event_id"]), OutgoingRecord(INTERACTIONS, key.encode(), json.dumps(payload).encode())


async def test_spellings_of_one_email_or_phone_are_one_identity(
    profile_client: httpx.AsyncClient, publish: Publish, engine: AsyncEngine, kafka_bootstrap: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    phone, typed = _phone()
    # Raw records, spelled as people type them, skip any normalisation on the producing side:
    # the profile service must normalise what it reads.
    upper_id, upper_record = _raw({"email": f"Ada.{tag}@Example.COM"}, f"email:Ada.{tag}@Example.COM")
    spaced_id, spaced_record = _raw({"phone": typed}, f"phone:{typed}")
    raw = KafkaPublisher(KafkaSettings(bootstrap=kafka_bootstrap, linger_ms=0))
    try:
        await raw.publish([upper_record, spaced_record])
    finally:
        await raw.stop()
    upper = await applied(engine, upper_id)
    spaced = await applied(engine, spaced_id)

    assert await _send(publish, engine, interaction({"email": f"ada.{tag}@example.com"})) == upper
    assert await _send(publish, engine, interaction({"phone": phone})) == spaced
    identities = await _rows(
        engine,
        "SELECT kind, value FROM profile.identities WHERE customer_id IN (:a, :b) AND kind <> 'mc'",
        a=upper,
        b=spaced,
    )
    assert sorted(tuple(i) for i in identities) == [("email", f"ada.{tag}@example.com"), ("phone", phone)]
