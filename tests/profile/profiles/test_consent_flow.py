"""Consent through the real topic and tables: what the router sees per purpose and channel,
behavioural evidence only with its consent, and an objection that stops profiling at once."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from metaconnect_common.schemas import Channel, Interaction
from metaconnect_common.schemas.profiled import (
    Colour,
    ConsentState,
    PersonalitySnapshot,
    Profiled,
    ProfileSnapshot,
    Purpose,
)
from metaconnect_profile.personality import QuestionnaireEvidence, estimate, routing_view
from tests.profile.conftest import applied, interaction, profiled_for
from tests.profile.personality.answers import COLOUR_ANSWERS

Publish = Callable[[Interaction], Coroutine[Any, Any, None]]


async def _rows(engine: AsyncEngine, sql: str, **params: Any) -> list[Any]:
    async with engine.connect() as conn:
        return list(await conn.execute(text(sql), params))


async def _evidence(engine: AsyncEngine, customer: uuid.UUID) -> dict[str, int]:
    rows = await _rows(
        engine,
        "SELECT kind, count(*) AS n FROM profile.personality_evidence WHERE customer_id = :c GROUP BY kind",
        c=customer,
    )
    return {r.kind: r.n for r in rows}


async def _send_all(publish: Publish, engine: AsyncEngine, *events: Interaction) -> uuid.UUID:
    """Publish events of one customer key (one partition, so they apply in order); wait for the last."""
    for event in events:
        await publish(event)
    return await applied(engine, events[-1].event_id)


async def _snapshot(bootstrap: str, event: Interaction) -> ProfileSnapshot:
    """The profile snapshot of the one `mc.profiled.v1` record reporting `event`."""
    [record] = await profiled_for(bootstrap, event.event_id)
    profile = Profiled.model_validate(record).profile
    assert profile is not None
    return profile


def _consent(who: dict[str, Any], purpose: str, granted: bool, channel: str | None = None) -> Interaction:
    props: dict[str, Any] = {"purpose": purpose, "granted": granted} | ({"channel": channel} if channel else {})
    # `channel` is also the interaction's own field: set the properties as a whole.
    return interaction(who, "consent.changed", "web").model_copy(update={"properties": props})


def _state(event: Interaction, granted: bool) -> ConsentState:
    return ConsentState(granted=granted, at=event.occurred_at, source=event.source)


async def test_grants_and_withdrawals_per_purpose_and_channel_reach_the_snapshot(
    profile_client: httpx.AsyncClient, publish: Publish, engine: AsyncEngine, kafka_bootstrap: str
) -> None:
    who = {"customer_id": f"consent-{uuid.uuid4().hex[:8]}"}
    marketing = _consent(who, "marketing", True)
    stop_sms = _consent(who, "marketing", False, channel="sms")
    questionnaire = _consent(who, "profiling_questionnaire", True)
    behaviour = _consent(who, "profiling_behaviour", True)
    no_behaviour = _consent(who, "profiling_behaviour", False)
    no_marketing = _consent(who, "marketing", False)
    whatsapp = _consent(who, "marketing", True, channel="whatsapp")
    events = (marketing, stop_sms, questionnaire, behaviour, no_behaviour, no_marketing, whatsapp)
    await _send_all(publish, engine, *events)

    first = await _snapshot(kafka_bootstrap, marketing)
    assert first.purposes == {Purpose.MARKETING: _state(marketing, True)}
    assert first.channel_consent == dict.fromkeys(Channel, _state(marketing, True))

    sms = await _snapshot(kafka_bootstrap, stop_sms)
    assert sms.channel_consent[Channel.SMS] == _state(stop_sms, False), "STOP by SMS withdraws SMS only"
    assert {c for c, s in sms.channel_consent.items() if not s.granted} == {Channel.SMS}

    profiling = await _snapshot(kafka_bootstrap, no_behaviour)
    assert profiling.purposes == {
        Purpose.MARKETING: _state(marketing, True),
        Purpose.PROFILING_QUESTIONNAIRE: _state(questionnaire, True),
        Purpose.PROFILING_BEHAVIOUR: _state(no_behaviour, False),
    }

    last = await _snapshot(kafka_bootstrap, whatsapp)
    assert last.purposes[Purpose.MARKETING] == _state(no_marketing, False)
    # A later general "no" withdraws every channel; a still later channel grant re-opens that one.
    assert last.channel_consent == dict.fromkeys(Channel, _state(no_marketing, False)) | {
        Channel.WHATSAPP: _state(whatsapp, True)
    }


async def test_behavioural_evidence_is_stored_only_with_its_consent(
    profile_client: httpx.AsyncClient, publish: Publish, engine: AsyncEngine, kafka_bootstrap: str
) -> None:
    who = {"customer_id": f"behaviour-{uuid.uuid4().hex[:8]}"}
    without = interaction(who, "message.clicked", "email", tone="red")
    questionnaire_only = _consent(who, "profiling_questionnaire", True)
    still_without = interaction(who, "message.clicked", "email", tone="red")
    customer = await _send_all(publish, engine, without, questionnaire_only, still_without)
    assert await _evidence(engine, customer) == {}, "no behavioural profiling without profiling_behaviour consent"

    grant = _consent(who, "profiling_behaviour", True)
    clicked = interaction(who, "message.clicked", "email", tone="red")
    dismissed = interaction(who, "message.dismissed", "push", tone="blue")
    untoned = interaction(who, "message.clicked", "email")
    await _send_all(publish, engine, grant, clicked, dismissed, untoned)
    stored = await _rows(
        engine,
        "SELECT event_id, kind, payload FROM profile.personality_evidence WHERE customer_id = :c ORDER BY id",
        c=customer,
    )
    assert [(r.event_id, r.kind, r.payload["tone"], r.payload["outcome"]) for r in stored] == [
        (clicked.event_id, "behaviour", "red", "engaged"),
        (dismissed.event_id, "behaviour", "blue", "ignored"),
    ]
    # Every click counts as engagement, with consent or without (that is not profiling).
    [row] = await _rows(engine, "SELECT engagement FROM profile.customers WHERE id = :c", c=customer)
    assert row.engagement["email"]["clicked"]["value"] == pytest.approx(4.0, rel=1e-6)
    # Behaviour alone never names a colour.
    assert (await _snapshot(kafka_bootstrap, untoned)).personality == PersonalitySnapshot()

    withdraw = _consent(who, "profiling_behaviour", False)
    await _send_all(publish, engine, withdraw)
    assert await _evidence(engine, customer) == {}, "a withdrawal deletes the behavioural evidence"


async def test_objection_withdraws_marketing_and_profiling_and_deletes_behavioural_evidence(
    profile_client: httpx.AsyncClient, publish: Publish, engine: AsyncEngine, kafka_bootstrap: str
) -> None:
    who = {"customer_id": f"objection-{uuid.uuid4().hex[:8]}"}
    grants = [_consent(who, p.value, True) for p in Purpose] + [_consent(who, "marketing", True, channel="sms")]
    form = interaction(who, "questionnaire.submitted", "web", instrument="colours24", answers=COLOUR_ANSWERS)
    customer = await _send_all(publish, engine, *grants, form)
    [stored] = await _rows(
        engine, "SELECT payload FROM profile.personality_evidence WHERE event_id = :e", e=form.event_id
    )
    questionnaire = QuestionnaireEvidence.model_validate(stored.payload)
    questionnaire_only = (await _snapshot(kafka_bootstrap, form)).personality
    assert questionnaire_only.colour is Colour.RED

    # Five blue clicks move the estimate a little (weak, capped evidence): towards task, so P(red) grows.
    clicks = [interaction(who, "message.clicked", "email", tone="blue") for _ in range(5)]
    await _send_all(publish, engine, *clicks)
    assert await _evidence(engine, customer) == {"questionnaire": 1, "behaviour": 5}
    leaned = (await _snapshot(kafka_bootstrap, clicks[-1])).personality
    assert leaned.colour is Colour.RED
    assert leaned.probability > questionnaire_only.probability + 0.005

    objection = interaction(who, "consent.changed", "call_center", objection=True)
    after_click = interaction(who, "message.clicked", "email", tone="blue")
    late_form = interaction(who, "questionnaire.submitted", "web", instrument="colours24", answers=COLOUR_ANSWERS)
    await _send_all(publish, engine, objection, after_click, late_form)

    assert await _evidence(engine, customer) == {"questionnaire": 1}, "the objection deletes behavioural evidence"
    snapshot = await _snapshot(kafka_bootstrap, objection)
    withdrawal = _state(objection, False)
    assert snapshot.purposes == dict.fromkeys(Purpose, withdrawal)
    assert snapshot.channel_consent == dict.fromkeys(Channel, withdrawal), "including the earlier SMS grant"
    assert snapshot.personality == PersonalitySnapshot(), "no profiling consent: routing sees unknown"
    # The stored estimate is the questionnaire's alone again.
    [row] = await _rows(engine, "SELECT personality FROM profile.customers WHERE id = :c", c=customer)
    expected = routing_view(estimate([questionnaire], datetime.now(UTC)))
    assert row.personality["colour"] == expected.colour
    assert row.personality["pattern"] == expected.pattern
    assert row.personality["probability"] == pytest.approx(expected.probability, abs=1e-6)

    # After the objection nothing is profiled: no click evidence, the questionnaire is refused.
    [refused] = await _rows(
        engine, "SELECT instrument, problems FROM profile.rejections WHERE event_id = :e", e=late_form.event_id
    )
    assert refused.instrument == "colours24"
    assert [(p["field"], p["rule"]) for p in refused.problems] == [
        ("consent.profiling_questionnaire", "consent_required")
    ]


async def test_questionnaire_without_consent_is_refused(
    profile_client: httpx.AsyncClient, publish: Publish, engine: AsyncEngine, kafka_bootstrap: str
) -> None:
    who = {"customer_id": f"no-consent-{uuid.uuid4().hex[:8]}"}
    behaviour_only = _consent(who, "profiling_behaviour", True)  # the questionnaire is a separate purpose
    form = interaction(who, "questionnaire.submitted", "web", instrument="ipip50", answers={"E1": 5})
    customer = await _send_all(publish, engine, behaviour_only, form)
    [refused] = await _rows(
        engine, "SELECT customer_id, instrument, problems FROM profile.rejections WHERE event_id = :e", e=form.event_id
    )
    assert (refused.customer_id, refused.instrument) == (customer, "ipip50")
    assert [(p["field"], p["rule"]) for p in refused.problems] == [
        ("consent.profiling_questionnaire", "consent_required")
    ]
    assert await _evidence(engine, customer) == {}
    assert (await _snapshot(kafka_bootstrap, form)).personality == PersonalitySnapshot()
