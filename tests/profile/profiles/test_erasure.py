"""Erasure (GDPR Art. 17) over the real topic and tables: afterwards no table of schema
`profile` holds any personal data of the customer or of those merged into it (but for the
`mc.customers.v1` tombstones, which name the identifiers they forget), ids answer 404, a
tombstone is on `mc.profiled.v1`, and an old event redelivered is still skipped."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from metaconnect_common.auth import Role
from metaconnect_common.schemas import Interaction
from metaconnect_common.schemas.profiled import Profiled
from metaconnect_common.topics import CUSTOMERS, PROFILED
from metaconnect_profile.profiles.reporting import PROFILED_NAMESPACE
from tests.profile.conftest import applied, interaction, operator
from tests.profile.personality.answers import IPIP_ANSWERS
from tests.support import read_topic

Publish = Callable[[Interaction], Coroutine[Any, Any, None]]
ADMIN = operator(Role.ADMIN)
VIEWER = operator(Role.VIEWER)


def _event(who: dict[str, Any], type_: str, channel: str = "web", **properties: Any) -> Interaction:
    return interaction(who, type_, channel).model_copy(update={"properties": properties})


async def _send(publish: Publish, engine: AsyncEngine, *events: Interaction) -> uuid.UUID:
    """Publish events of one customer key (one partition: applied in order); wait for the last."""
    for event in events:
        await publish(event)
    return await applied(engine, events[-1].event_id)


# The outbox rows forgetting an identifier on `mc.customers.v1`: a tombstone's key is the identifier.
_TOMBSTONE = f"topic = '{CUSTOMERS}' AND value IS NULL"


async def _rows_holding(engine: AsyncEngine, needles: list[str], *, tombstones: bool = True) -> dict[str, list[str]]:
    """Per table of schema `profile`, every row whose text (any column, bytes as text) holds a needle
    (without `tombstones`, those of `mc.customers.v1` left out)."""
    found: dict[str, list[str]] = {}
    async with engine.connect() as conn:
        columns = await conn.execute(
            text(
                "SELECT table_name, column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'profile' ORDER BY table_name, ordinal_position"
            )
        )
        tables: defaultdict[str, list[str]] = defaultdict(list)
        for table, column, data_type in columns:
            tables[table].append(f"encode(\"{column}\", 'escape')" if data_type == "bytea" else f'"{column}"::text')
        assert {"customers", "identities", "timeline", "personality_evidence", "rejections", "outbox"} <= set(tables)
        for table, expressions in tables.items():
            row_text = f"lower(concat_ws(' | ', {', '.join(expressions)}))"
            kept = "" if tombstones or table != "outbox" else f" AND NOT ({_TOMBSTONE})"
            rows = await conn.execute(
                text(
                    f"SELECT {row_text} FROM profile.{table} "  # table and column names from the catalogue
                    f"WHERE EXISTS (SELECT 1 FROM unnest(CAST(:needles AS text[])) n WHERE strpos({row_text}, n) > 0)"
                    f"{kept}"
                ),
                {"needles": [n.lower() for n in needles]},
            )
            hits = [r[0] for r in rows]
            if hits:
                found[table] = hits
    return found


async def _count(engine: AsyncEngine, sql: str, **params: Any) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(text(sql), params) or 0)


async def _tombstones(bootstrap: str, customer: uuid.UUID) -> list[dict[str, Any]]:
    records = [json.loads(r.value) for r in await read_topic(bootstrap, PROFILED)]
    return [v for v in records if v["kind"] == "erased" and v["customer_id"] == str(customer)]


async def test_erasure_leaves_no_personal_data_and_publishes_a_tombstone(
    profile_client: httpx.AsyncClient, publish: Publish, engine: AsyncEngine, kafka_bootstrap: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    email, phone, device = f"grace.{tag}@example.com", f"+49151{int(tag, 16) % 100_000:05d}321", f"apns-{tag}-token"
    other_email, name, note = f"g.hopper.{tag}@example.org", f"Grace Hopper {tag}", f"ring the bell at Elm St {tag}"
    who = {"customer_id": f"g-{tag}", "email": email, "phone": phone, "device_token": device}
    first = _event({**who, "external_ids": {"crm": f"CRM-{tag}"}}, "app.opened", "in_app")
    customer = await _send(
        publish,
        engine,
        first,
        _event(who, "questionnaire.submitted", instrument="ipip50", answers=IPIP_ANSWERS),  # refused: no consent
        _event(who, "consent.changed", purpose="profiling_questionnaire", granted=True),
        _event(who, "consent.changed", purpose="marketing", granted=True),
        _event(who, "questionnaire.submitted", instrument="ipip50", answers=IPIP_ANSWERS),
        _event(who, "profile.updated", locale="en-GB", time_zone="Europe/London", traits={"full_name": name}),
        _event(who, "order.placed", "store", delivery_note=note, contact=email),
        _event(who, "message.opened", "email", tone="yellow"),
    )
    # Another customer, with personal data of its own in its row, found to be the same person.
    other = {"email": other_email}
    merged = await _send(publish, engine, _event(other, "profile.updated", traits={"nickname": f"Amazing {tag}"}))
    await _send(publish, engine, _event({"customer_id": f"g-{tag}", **other}, "app.opened"))
    assert (await profile_client.get(f"/v1/profiles/{merged}", headers=VIEWER)).json()["id"] == str(customer)

    personal = [email, phone, device, other_email, name, note, f"Amazing {tag}", f"g-{tag}", f"CRM-{tag}"]
    before = await _rows_holding(engine, personal)
    assert {"customers", "identities", "timeline", "outbox"} <= set(before)  # the scan finds what is there
    assert await _count(engine, "SELECT count(*) FROM profile.personality_evidence WHERE customer_id = :c", c=customer)
    assert await _count(engine, "SELECT count(*) FROM profile.rejections WHERE customer_id = :c", c=customer)
    processed = await _count(
        engine, "SELECT count(*) FROM profile.processed_events WHERE customer_id IN (:c, :m)", c=customer, m=merged
    )

    response = await profile_client.delete(f"/v1/profiles/{merged}", headers=ADMIN)  # a merged id names the survivor
    assert response.status_code == 204
    assert response.content == b""

    assert await _rows_holding(engine, personal, tombstones=False) == {}
    async with engine.connect() as conn:
        forgotten = await conn.scalars(text(f"SELECT convert_from(key, 'UTF8') FROM profile.outbox WHERE {_TOMBSTONE}"))
        assert {
            f"email:{email}",
            f"phone:{phone}",
            f"cid:g-{tag}",
            f"ext:crm:CRM-{tag}",
            f"email:{other_email}",
        } <= set(forgotten)
    for table in ("identities", "timeline", "personality_evidence", "rejections"):
        remaining = await _count(
            engine, f"SELECT count(*) FROM profile.{table} WHERE customer_id IN (:c, :m)", c=customer, m=merged
        )
        assert remaining == 0, table
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT * FROM profile.customers WHERE id IN (:c, :m) ORDER BY created_at"),
                {"c": customer, "m": merged},
            )
        ).all()
    for row in rows:
        assert row.erased_at is not None
        assert (row.traits, row.consent, row.engagement, row.active_hours, row.personality) == ({}, {}, {}, [], {})
        assert (row.locale, row.time_zone) == (None, None)
    assert [row.merged_into for row in rows] == [None, customer]
    # Ids only are kept: applied event ids (so redeliveries stay skipped) and the merge record.
    after = await _count(
        engine, "SELECT count(*) FROM profile.processed_events WHERE customer_id IN (:c, :m)", c=customer, m=merged
    )
    assert after == processed == 10
    assert await _count(engine, "SELECT count(*) FROM profile.merges WHERE merged_id = :m", m=merged) == 1

    for ref in (str(customer), str(merged), f"email:{email}", f"cid:g-{tag}", f"ext:crm:CRM-{tag}"):
        for path in (f"/v1/profiles/{ref}", f"/v1/profiles/{ref}/timeline", f"/v1/profiles/{ref}/personality"):
            assert (await profile_client.get(path, headers=VIEWER)).status_code == 404, path
        assert (await profile_client.get(f"/v1/profiles/{ref}/export", headers=ADMIN)).status_code == 404
    again = await profile_client.delete(f"/v1/profiles/{customer}", headers=ADMIN)
    assert again.status_code == 404
    assert again.json()["error"] == "not_found"
    page = (await profile_client.get("/v1/profiles", params={"limit": 200}, headers=VIEWER)).json()
    assert str(customer) not in {item["id"] for item in page["items"]}

    [tombstone] = await _tombstones(kafka_bootstrap, customer)
    erased = Profiled.model_validate(tombstone)
    assert erased.id == uuid.uuid5(PROFILED_NAMESPACE, f"erased:{customer}")
    assert erased.merged_from == [merged]
    assert (erased.interaction, erased.profile) == (None, None)
    assert not any(p.lower() in json.dumps(tombstone).lower() for p in personal)


async def test_erasure_needs_an_admin_and_old_events_redelivered_stay_skipped(
    profile_client: httpx.AsyncClient, publish: Publish, engine: AsyncEngine, kafka_bootstrap: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    who = {"customer_id": f"r-{tag}", "email": f"r.{tag}@example.com"}
    old = _event(who, "profile.updated", traits={"city": f"Ada's town {tag}"})
    customer = await _send(publish, engine, old)

    assert (await profile_client.delete(f"/v1/profiles/email:r.{tag}@example.com")).status_code == 401
    for role in (Role.VIEWER, Role.EDITOR):
        response = await profile_client.delete(f"/v1/profiles/email:r.{tag}@example.com", headers=operator(role))
        assert response.status_code == 403
    assert (await profile_client.get(f"/v1/profiles/{customer}", headers=VIEWER)).status_code == 200

    assert (await profile_client.delete(f"/v1/profiles/email:r.{tag}@example.com", headers=ADMIN)).status_code == 204
    assert len(await _tombstones(kafka_bootstrap, customer)) == 1

    # The old event again (a redelivery), then a new one on the same key: the new one makes a
    # new customer; the old one changed nothing, so its data did not come back.
    new = _event(who, "app.opened")
    await publish(old)
    successor = await _send(publish, engine, new)
    assert successor != customer
    assert await _rows_holding(engine, [f"Ada's town {tag}"], tombstones=False) == {}
    timeline = (await profile_client.get(f"/v1/profiles/{successor}/timeline", headers=VIEWER)).json()
    assert [item["event_id"] for item in timeline["items"]] == [str(new.event_id)]
    assert await applied(engine, old.event_id) == customer  # still recorded against the erased id
