"""`ProfileService.apply` against the real PostgreSQL: one batch leaves what batches of one leave,
merges included; each event once; identifier races retried."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from metaconnect_common.db import session_factory
from metaconnect_common.schemas import Interaction
from metaconnect_common.topics import PROFILED
from metaconnect_profile.identity.resolution import IdentityConflict
from metaconnect_profile.profiles.batch import TracedInteraction
from metaconnect_profile.profiles.service import ProfileService
from metaconnect_profile.profiles.state import ProfilePolicy
from tests.profile.conftest import interaction, profile_settings
from tests.profile.personality.answers import COLOUR_ANSWERS

START = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
NOW = START + timedelta(minutes=30)


def scenario(tag: str) -> list[Interaction]:
    """Two customers' interactions, touching every effect the batch carries out, at fixed times."""
    a = {"customer_id": f"{tag}-a"}
    a_mail = {"customer_id": f"{tag}-a", "email": f"{tag}-a@example.com"}
    b = {"email": f"{tag}-b@example.com", "phone": f"+49151{uuid.uuid4().int % 10**8:08d}"}
    events = [
        interaction(a, "app.opened", "in_app"),
        interaction(a_mail, "consent.changed", "web", purpose="profiling_behaviour", granted=True),
        interaction(a, "message.clicked", "email", tone="red"),
        interaction(b, "consent.changed", "web", purpose="profiling_questionnaire", granted=True),
        interaction(a, "message.opened", "push", tone="yellow"),
        interaction(b, "questionnaire.submitted", "web", instrument="colours24", answers=COLOUR_ANSWERS),
        interaction(b, "questionnaire.submitted", "web", instrument="colours24", answers=[]),
        interaction(a, "message.bounced", "email", bounce="hard", reason="550 no such user"),
        interaction(a, "message.clicked", "sms", tone="blue"),
        interaction(a, "consent.changed", "web", purpose="profiling_behaviour", granted=False),
        interaction(b, "purchase.completed", "store", amount=12.5),
        interaction(a, "profile.updated", "web", locale="de-DE", time_zone="Europe/Berlin"),
    ]
    timed = [e.model_copy(update={"occurred_at": START + timedelta(minutes=i)}) for i, e in enumerate(events)]
    return [*timed, timed[2]]  # the same record twice in one batch


def traced(events: list[Interaction]) -> list[TracedInteraction]:
    return [TracedInteraction(e) for e in events]


@pytest.fixture
async def service(database_url: str, kafka_bootstrap: str, engine: AsyncEngine) -> ProfileService:
    # No holdout: it is drawn from the customer id, which differs between the runs compared.
    policy = ProfilePolicy.from_settings(profile_settings(database_url, kafka_bootstrap, holdout_share=0.0))
    return ProfileService(session_factory(engine), policy)


async def _outcome(engine: AsyncEngine, events: list[Interaction]) -> dict[str, Any]:
    """What applying `events` left behind, without the ids that differ between two runs."""
    ids = list(dict.fromkeys(e.event_id for e in events))
    async with engine.connect() as conn:
        customers = (
            await conn.execute(
                text(
                    "SELECT DISTINCT c.* FROM profile.customers c JOIN profile.processed_events p"
                    " ON p.customer_id = c.id WHERE p.event_id = ANY(:ids) ORDER BY c.created_at, c.lifecycle_stage"
                ),
                {"ids": ids},
            )
        ).mappings()
        rows = [
            {
                **{k: v for k, v in c.items() if k not in {"id", "created_at", "updated_at"}},
                "merged": bool(c["merged_into"]),
            }
            | {"merged_into": None}
            for c in customers
        ]
        customer_ids = await conn.scalars(
            text("SELECT DISTINCT customer_id FROM profile.processed_events WHERE event_id = ANY(:ids)"), {"ids": ids}
        )
        owned = list(customer_ids)
        counts = {
            table: await conn.scalar(
                text(f"SELECT count(*) FROM profile.{table} WHERE customer_id = ANY(:c)"), {"c": owned}
            )
            for table in ("processed_events", "timeline", "personality_evidence", "rejections", "identities")
        }
        invalid = await conn.scalar(
            text("SELECT count(*) FROM profile.identities WHERE customer_id = ANY(:c) AND invalid_at IS NOT NULL"),
            {"c": owned},
        )
        outbox = [json.loads(v) for v in await conn.scalars(text("SELECT value FROM profile.outbox ORDER BY id"))]
    by_event = {r["interaction"]["event_id"]: r for r in outbox if r.get("interaction")}
    snapshots = [_comparable(by_event[str(i)]["profile"]) for i in ids]
    return {"customers": rows, "counts": counts, "invalid": invalid, "snapshots": snapshots}


def _comparable(snapshot: dict[str, Any]) -> dict[str, Any]:
    """The two runs' addresses and ids differ by their tag, random phone numbers and customer ids:
    keep which are there."""
    contact = snapshot["contact"]
    email = contact["email"].rsplit("-", 1)[-1] if contact["email"] else None
    shape = {"email": email, "phone": contact["phone"] is not None, "push_tokens": len(contact["push_tokens"])}
    kinds = sorted(ref.partition(":")[0] for ref in snapshot["identities"])
    return {**snapshot, "contact": shape, "identities": kinds}


async def test_a_batch_leaves_what_one_by_one_leaves(service: ProfileService, engine: AsyncEngine) -> None:
    one_by_one, together = scenario(f"single-{uuid.uuid4().hex[:8]}"), scenario(f"batch-{uuid.uuid4().hex[:8]}")
    for event in one_by_one:
        await service.apply([TracedInteraction(event)], now=NOW)
    assert await service.apply(traced(together), now=NOW) == len(together) - 1

    expected, got = await _outcome(engine, one_by_one), await _outcome(engine, together)
    for i, (g, e) in enumerate(zip(got["snapshots"], expected["snapshots"], strict=True)):
        assert g == e, (i, {k: (g[k], e[k]) for k in g if g[k] != e[k]})
    assert got == expected
    assert got["counts"] == {
        "processed_events": 12,
        "timeline": 12,
        "personality_evidence": 1,  # the questionnaire; the behaviour evidence went with the consent
        "rejections": 1,
        "identities": 6,  # two customers' cid, e-mail, phone and their own ids (mc)
    }
    assert got["invalid"] == 1
    assert [s["personality"]["colour"] for s in got["snapshots"]][4:6] == ["unknown", "red"]


async def test_a_batch_applied_again_changes_nothing(service: ProfileService, engine: AsyncEngine) -> None:
    events = scenario(f"again-{uuid.uuid4().hex[:8]}")
    assert await service.apply(traced(events), now=NOW) == len(events) - 1
    before = await _outcome(engine, events)
    assert await service.apply(traced(events), now=NOW + timedelta(minutes=5)) == 0
    assert await _outcome(engine, events) == before


def merging(tag: str) -> list[Interaction]:
    """Three customers with evidence, consent and a bounced address, linked by two events, then more."""
    a = {"customer_id": f"{tag}-a"}
    b = {"email": f"{tag}-b@example.com"}
    c = {"phone": f"+49151{uuid.uuid4().int % 10**8:08d}"}
    events = [
        interaction(a, "consent.changed", "web", purpose="profiling_behaviour", granted=True),
        interaction(a, "message.clicked", "push", tone="red"),
        interaction(b, "consent.changed", "web", purpose="profiling_questionnaire", granted=True),
        interaction(b, "questionnaire.submitted", "web", instrument="colours24", answers=COLOUR_ANSWERS),
        interaction(c, "message.opened", "sms", tone="blue"),
        interaction(b, "message.bounced", "email", bounce="hard"),
        interaction({**b, **c}, "app.opened"),  # b and c merge
        interaction({**a, **c}, "message.clicked", "push", tone="green"),  # a and the survivor merge
        interaction(b, "message.opened", "push", tone="yellow"),
        interaction({**a, "email": f"{tag}-new@example.com"}, "profile.updated", "web", locale="de-DE"),
        interaction(c, "consent.changed", "web", purpose="profiling_behaviour", granted=False),
        interaction(a, "purchase.completed", "store", amount=3),
    ]
    return [e.model_copy(update={"occurred_at": START + timedelta(minutes=i)}) for i, e in enumerate(events)]


async def test_merges_in_a_batch_leave_what_they_leave_one_by_one(service: ProfileService, engine: AsyncEngine) -> None:
    tag = f"mbatch-{uuid.uuid4().hex[:8]}"
    one_by_one, together = merging(f"msingle-{uuid.uuid4().hex[:8]}"), merging(tag)
    # The customers are created a second apart, so both runs pick the same survivors (the oldest).
    for n, (single, batched) in enumerate(zip(one_by_one[:6], together[:6], strict=True)):
        for event in (single, batched):
            await service.apply([TracedInteraction(event)], now=NOW - timedelta(seconds=10 - n))
    for event in one_by_one[6:]:
        await service.apply([TracedInteraction(event)], now=NOW)
    assert await service.apply(traced(together[6:]), now=NOW) == len(together) - 6

    expected, got = await _outcome(engine, one_by_one), await _outcome(engine, together)
    for i, (g, e) in enumerate(zip(got["snapshots"], expected["snapshots"], strict=True)):
        assert g == e, (i, {k: (g[k], e[k]) for k in g if g[k] != e[k]})
    assert got == expected
    async with engine.connect() as conn:
        merges = await conn.scalar(
            text("SELECT count(*) FROM profile.merges WHERE event_id = ANY(:ids)"),
            {"ids": [e.event_id for e in together]},
        )
        live = await conn.scalar(
            text(
                "SELECT count(DISTINCT c.id) FROM profile.customers c JOIN profile.identities i ON i.customer_id = c.id"
                " WHERE i.value LIKE :tag AND c.merged_into IS NULL"
            ),
            {"tag": f"%{tag}%"},
        )
    assert merges == 2
    assert live == 1


async def test_a_merge_is_applied_in_the_batch(service: ProfileService, engine: AsyncEngine) -> None:
    tag = uuid.uuid4().hex[:8]
    a, b = {"customer_id": f"merge-{tag}"}, {"email": f"merge-{tag}@example.com"}
    await service.apply(traced([interaction(a), interaction(b)]), now=NOW)
    first, linking = interaction(a, "message.opened", "push"), interaction({**a, **b}, "app.opened")
    assert await service.apply(traced([first, linking]), now=NOW) == 2
    async with engine.connect() as conn:
        owners = await conn.scalar(
            text("SELECT count(DISTINCT customer_id) FROM profile.identities WHERE value = ANY(:values)"),
            {"values": [a["customer_id"], b["email"]]},
        )
        [reported] = await conn.scalars(
            text(
                "SELECT value FROM profile.outbox"
                " WHERE convert_from(value, 'UTF8')::jsonb -> 'interaction' ->> 'event_id' = :e"
            ),
            {"e": str(linking.event_id)},
        )
    assert owners == 1  # merged
    assert len(json.loads(reported)["merged_from"]) == 1


async def test_a_trace_header_of_the_consumed_record_stays_with_its_profiled_record(
    service: ProfileService, engine: AsyncEngine
) -> None:
    who = {"customer_id": f"trace-{uuid.uuid4().hex[:8]}"}
    events = [interaction(who), interaction(who, "message.opened", "push")]
    parents = [f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01".encode() for _ in events]
    await service.apply(
        [TracedInteraction(e, [("traceparent", p)]) for e, p in zip(events, parents, strict=True)], now=NOW
    )
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT value, headers FROM profile.outbox WHERE topic = :t ORDER BY id DESC LIMIT 2"),
                {"t": PROFILED},
            )
        ).all()
    found = {json.loads(r.value)["interaction"]["event_id"]: dict(map(tuple, r.headers)) for r in rows}
    for event, parent in zip(events, parents, strict=True):
        assert found[str(event.event_id)]["traceparent"] == parent.decode()


async def test_two_batches_racing_for_a_new_identifier_end_on_one_customer(
    service: ProfileService, engine: AsyncEngine
) -> None:
    who = {"email": f"race-{uuid.uuid4().hex[:8]}@example.com"}
    batches = [[interaction(who), interaction(who, "message.opened", "push")] for _ in range(2)]

    async def apply(events: list[Interaction]) -> None:
        try:
            await service.apply(traced(events), now=NOW)
        except IdentityConflict:  # the identifier was claimed by the other batch: the runner retries
            await service.apply(traced(events), now=NOW)

    await asyncio.gather(*(apply(b) for b in batches))
    ids = [e.event_id for b in batches for e in b]
    async with engine.connect() as conn:
        owners = await conn.scalar(
            text("SELECT count(DISTINCT customer_id) FROM profile.processed_events WHERE event_id = ANY(:ids)"),
            {"ids": ids},
        )
        processed = await conn.scalar(
            text("SELECT count(*) FROM profile.processed_events WHERE event_id = ANY(:ids)"), {"ids": ids}
        )
        identities = await conn.scalar(
            text("SELECT count(*) FROM profile.identities WHERE value = :v"), {"v": who["email"]}
        )
    assert (owners, processed, identities) == (1, 4, 1)


async def test_a_receipt_names_its_customer_by_metaconnect_id(service: ProfileService, engine: AsyncEngine) -> None:
    first = interaction({"customer_id": f"mc-{uuid.uuid4().hex[:8]}"}, "app.opened")
    await service.apply([TracedInteraction(first)], now=NOW)
    async with engine.connect() as conn:
        customer = await conn.scalar(
            text("SELECT customer_id FROM profile.processed_events WHERE event_id = :e"), {"e": first.event_id}
        )
    batched = interaction({"metaconnect_id": str(customer)}, "message.delivered", "push")
    alone = interaction({"metaconnect_id": str(customer)}, "message.opened", "push")
    assert await service.apply([TracedInteraction(batched)], now=NOW) == 1
    assert await service.apply([TracedInteraction(alone)], now=NOW) == 1
    async with engine.connect() as conn:
        owners = await conn.scalars(
            text("SELECT customer_id FROM profile.processed_events WHERE event_id = ANY(:e)"),
            {"e": [batched.event_id, alone.event_id]},
        )
        assert set(owners) == {customer}


async def test_a_receipt_for_an_unknown_metaconnect_id_creates_nobody(
    service: ProfileService, engine: AsyncEngine
) -> None:
    ghost = uuid.uuid4()  # an erased customer's late receipt, say
    receipt = interaction({"metaconnect_id": str(ghost)}, "message.delivered", "push")
    known = interaction({"customer_id": f"ghost-{uuid.uuid4().hex[:8]}"}, "app.opened")
    assert await service.apply(traced([receipt, known]), now=NOW) == 1
    assert await service.apply([TracedInteraction(receipt)], now=NOW) == 0
    async with engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM profile.customers WHERE id = :c"), {"c": ghost}) == 0
        assert (
            await conn.scalar(text("SELECT count(*) FROM profile.identities WHERE value = :v"), {"v": str(ghost)}) == 0
        )
