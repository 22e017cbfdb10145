"""Refused questionnaires on the profile viewers read, over the real topic and tables: the rule
and the times, never an answer; still listed after a later accepted form; bounded, newest
first; the export keeps the same refusals; erasure removes them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from metaconnect_common.auth import Role
from metaconnect_common.schemas import Interaction
from metaconnect_profile.profiles.schemas import MAX_REFUSED_QUESTIONNAIRES
from tests.profile.conftest import applied, interaction, operator
from tests.profile.personality.answers import COLOUR_ANSWERS, IPIP_ANSWERS

Publish = Callable[[Interaction], Coroutine[Any, Any, None]]
VIEWER = operator(Role.VIEWER)
ADMIN = operator(Role.ADMIN)
# Every descriptor chosen and every rating key: none of them may reach a viewer.
ANSWER_TOKENS = sorted({str(a[k]) for a in COLOUR_ANSWERS for k in ("most", "least")} | set(IPIP_ANSWERS))


def _who(prefix: str) -> dict[str, Any]:
    return {"customer_id": f"{prefix}-{uuid.uuid4().hex[:8]}"}


def _event(who: dict[str, Any], type_: str, **properties: Any) -> Interaction:
    return interaction(who, type_, "web").model_copy(update={"properties": properties})


def _grant(who: dict[str, Any]) -> Interaction:
    return _event(who, "consent.changed", purpose="profiling_questionnaire", granted=True)


async def _send(publish: Publish, engine: AsyncEngine, *events: Interaction) -> uuid.UUID:
    """Publish events of one customer key (one partition: applied in order); wait for the last."""
    for event in events:
        await publish(event)
    return await applied(engine, events[-1].event_id)


async def _profile(client: httpx.AsyncClient, customer: uuid.UUID) -> tuple[dict[str, Any], str]:
    response = await client.get(f"/v1/profiles/{customer}", headers=VIEWER)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body, response.text


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_a_viewer_sees_a_questionnaire_refused_for_missing_consent_until_erasure(
    profile_client: httpx.AsyncClient, publish: Publish, engine: AsyncEngine
) -> None:
    who = _who("refused")
    form = _event(who, "questionnaire.submitted", instrument="colours24", answers=COLOUR_ANSWERS)
    before = datetime.now(UTC)
    customer = await _send(publish, engine, form)

    profile, raw = await _profile(profile_client, customer)
    assert profile["personality"]["colour"] == "unknown"
    [refusal] = profile["refused_questionnaires"]
    assert set(refusal) == {"event_id", "instrument", "rules", "submitted_at", "refused_at"}
    assert (refusal["event_id"], refusal["instrument"], refusal["rules"]) == (
        str(form.event_id),
        "colours24",
        ["consent_required"],
    )
    assert _time(refusal["submitted_at"]) == form.occurred_at
    assert before <= _time(refusal["refused_at"]) <= datetime.now(UTC)
    assert "answers" not in raw
    assert not [token for token in ANSWER_TOKENS if f'"{token}"' in raw]

    # With consent, a new submission gives the colour; the old refusal stays listed.
    grant = _grant(who)  # before the form: consent counts for what is submitted at or after its time
    again = _event(who, "questionnaire.submitted", instrument="colours24", answers=COLOUR_ANSWERS)
    await _send(publish, engine, grant, again)
    profile, _ = await _profile(profile_client, customer)
    assert profile["personality"]["colour"] == "red"
    assert profile["refused_questionnaires"] == [refusal]

    # One record of the refusal: the export shows the same row, with its message.
    response = await profile_client.get(f"/v1/profiles/{customer}/export", headers=ADMIN)
    assert response.status_code == 200, response.text
    [exported] = response.json()["rejections"]
    assert (exported["event_id"], exported["rejected_at"]) == (refusal["event_id"], refusal["refused_at"])
    assert [p["rule"] for p in exported["problems"]] == ["consent_required"]

    assert (await profile_client.delete(f"/v1/profiles/{customer}", headers=ADMIN)).status_code == 204
    assert (await profile_client.get(f"/v1/profiles/{customer}", headers=VIEWER)).status_code == 404
    async with engine.connect() as conn:
        left = await conn.scalar(
            text("SELECT count(*) FROM profile.rejections WHERE event_id = :e OR customer_id = :c"),
            {"e": form.event_id, "c": customer},
        )
    assert left == 0


async def test_refusals_are_listed_newest_first_with_their_rules_and_bounded(
    profile_client: httpx.AsyncClient, publish: Publish, engine: AsyncEngine
) -> None:
    who = _who("refusals")
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    unconsented = [
        _event(who, "questionnaire.submitted", instrument="ipip50", answers=IPIP_ANSWERS).model_copy(
            update={"occurred_at": base + timedelta(minutes=i)}
        )
        for i in range(MAX_REFUSED_QUESTIONNAIRES)
    ]
    grant = _grant(who).model_copy(update={"occurred_at": base + timedelta(minutes=30)})
    malformed = _event(who, "questionnaire.submitted", instrument="ipip50", answers={**IPIP_ANSWERS, "E1": 9})
    malformed = malformed.model_copy(update={"occurred_at": base + timedelta(minutes=40)})
    nameless = _event(who, "questionnaire.submitted", answers=COLOUR_ANSWERS)
    nameless = nameless.model_copy(update={"occurred_at": base + timedelta(minutes=41)})
    bad_consent = _event(who, "consent.changed", purpose="telepathy", granted=True)  # refused, not a questionnaire
    customer = await _send(publish, engine, *unconsented, grant, malformed, nameless, bad_consent)

    profile, raw = await _profile(profile_client, customer)
    listed = profile["refused_questionnaires"]
    assert len(listed) == MAX_REFUSED_QUESTIONNAIRES
    # Refused in one batch or in several: newest refusal first, then newest submission.
    expected = [nameless, malformed, *reversed(unconsented)][:MAX_REFUSED_QUESTIONNAIRES]
    assert [r["event_id"] for r in listed] == [str(e.event_id) for e in expected]
    assert (listed[0]["instrument"], listed[0]["rules"]) == (None, ["required"])
    assert (listed[1]["instrument"], listed[1]["rules"]) == ("ipip50", ["rating_range"])
    assert {tuple(r["rules"]) for r in listed[2:]} == {("consent_required",)}
    assert "answers" not in raw
    assert "rating 9" not in json.dumps(listed)  # the problem's message quotes the answer

    response = await profile_client.get(f"/v1/profiles/{customer}/export", headers=ADMIN)
    assert len(response.json()["rejections"]) == MAX_REFUSED_QUESTIONNAIRES + 3
