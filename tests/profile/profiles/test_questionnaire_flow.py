"""Questionnaires through the real topic and tables: scored as computed by hand (in English and
German), weak evidence stays `unknown`, emotional stability never reaches routing, and every
malformed answer set is refused with its precise rule and changes nothing."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from metaconnect_common.schemas import Interaction
from metaconnect_common.schemas.profiled import Colour, PersonalitySnapshot, Profiled, ProfileSnapshot
from metaconnect_profile.personality import Colour as Tone
from metaconnect_profile.personality import score_colours24
from metaconnect_profile.personality.instruments import colours24
from metaconnect_profile.profiles.documents import STATE_COLUMNS
from tests.profile.conftest import applied, interaction, profiled_for
from tests.profile.personality.answers import (
    COLOUR_ANSWERS,
    COLOUR_COMPOSITE,
    COLOUR_LEAST,
    COLOUR_MOST,
    IPIP_ANSWERS,
)

Publish = Callable[[Interaction], Coroutine[Any, Any, None]]
ES_ITEM = re.compile(r'"ES\d+"')


async def _rows(engine: AsyncEngine, sql: str, **params: Any) -> list[Any]:
    async with engine.connect() as conn:
        return list(await conn.execute(text(sql), params))


async def _send_all(publish: Publish, engine: AsyncEngine, *events: Interaction) -> uuid.UUID:
    """Publish events of one customer key (one partition, so they apply in order); wait for the last."""
    for event in events:
        await publish(event)
    return await applied(engine, events[-1].event_id)


async def _snapshot(bootstrap: str, event: Interaction) -> ProfileSnapshot:
    [record] = await profiled_for(bootstrap, event.event_id)
    profile = Profiled.model_validate(record).profile
    assert profile is not None
    return profile


async def _evidence(engine: AsyncEngine, event: Interaction) -> Any:
    [row] = await _rows(
        engine, "SELECT kind, payload, answers FROM profile.personality_evidence WHERE event_id = :e", e=event.event_id
    )
    return row


def _who(prefix: str) -> dict[str, Any]:
    return {"customer_id": f"{prefix}-{uuid.uuid4().hex[:8]}"}


def _grant(who: dict[str, Any]) -> Interaction:
    """Create it before the form: consent counts for what is observed at or after its time."""
    return interaction(who, "consent.changed", "web", purpose="profiling_questionnaire", granted=True)


def _form(who: dict[str, Any], instrument: str, answers: object, **extra: Any) -> Interaction:
    return interaction(who, "questionnaire.submitted", "web", instrument=instrument, answers=answers, **extra)


def _observations(payload: dict[str, Any]) -> dict[str, tuple[float, float]]:
    return {d: (o["z"], o["reliability"]) for d, o in payload["observations"].items()}


async def test_ipip50_is_scored_as_computed_by_hand(
    profile_client: httpx.AsyncClient, publish: Publish, engine: AsyncEngine, kafka_bootstrap: str
) -> None:
    who = _who("ipip")
    grant = _grant(who)
    form = _form(who, "ipip50", IPIP_ANSWERS)
    await _send_all(publish, engine, grant, form)

    row = await _evidence(engine, form)
    assert row.kind == "questionnaire"
    assert (row.payload["instrument"], row.payload["instrument_version"]) == ("ipip50", "1.0.0")
    # Raw E 39, A 45, C 27, ES 29, I 45 against the norms E 30/9, A 38/7, C 34/7, ES 29/8.5, I 39/6.
    assert _observations(row.payload) == {
        "extraversion": (1.0, 0.87),
        "agreeableness": (1.0, 0.82),
        "conscientiousness": (-1.0, 0.79),
        "emotional_stability": (0.0, 0.86),
        "intellect": (1.0, 0.84),
    }
    assert row.answers == {"answers": IPIP_ANSWERS}, "the raw answers are kept for export and re-scoring"

    # Posteriors sqrt(alpha) * z with variance 1 - alpha: E .9327/.13, A .9055/.18, C -.8888/.21. The axes:
    #   dominance = .7 E - .4 A - .2 C = .4685, variance .31 + .49*.13 + .16*.18 + .04*.21 = .4109
    #   warmth    = .4 E + .7 A - .2 C = 1.1847, variance .31 + .16*.13 + .49*.18 + .04*.21 = .4274
    # P(yellow) = Phi(.4685 / .6410) * Phi(1.1847 / .6538) = Phi(.7308) * Phi(1.8122) = .7676 * .9650 = .7407;
    # green (.2346) beats red (.0371) as secondary; the angle 22.5 deg is > 15 deg off yellow's 45 deg
    # diagonal (a blend), and the radius 1.17 >= 1 is strong.
    personality = (await _snapshot(kafka_bootstrap, form)).personality
    assert personality.colour is Colour.YELLOW
    assert personality.secondary is Colour.GREEN
    assert personality.pattern == "strong-yellow-green"
    assert personality.probability == pytest.approx(0.7407, abs=1e-4)


async def test_colour_form_in_german_is_scored_as_computed_by_hand(
    profile_client: httpx.AsyncClient, publish: Publish, engine: AsyncEngine, kafka_bootstrap: str
) -> None:
    # The German form offers the same descriptor ids in German: answers are language-independent.
    german = (await profile_client.get("/v1/questionnaires/colours24", params={"lang": "de"})).json()
    english = (await profile_client.get("/v1/questionnaires/colours24", params={"lang": "en"})).json()
    offered = {g["id"]: {d["id"] for d in g["descriptors"]} for g in german["groups"]}
    assert all({a["most"], a["least"]} <= offered[str(a["group"])] for a in COLOUR_ANSWERS)
    assert german["groups"][0]["descriptors"] != english["groups"][0]["descriptors"]

    who = _who("farben")
    grant = _grant(who)
    form = _form(who, "colours24", COLOUR_ANSWERS, lang="de")
    await _send_all(publish, engine, grant, form)

    row = await _evidence(engine, form)
    assert (row.payload["instrument"], row.payload["instrument_version"]) == ("colours24", "1.0.0")
    # Composites red 9, yellow 6, green -12, blue -3: dominance 9 + 6 = 15 -> 15 / 8 = 1.875,
    # warmth 6 - 12 = -6 -> -0.75, both at the form's assumed reliability .75.
    assert _observations(row.payload) == {"dominance": (1.875, 0.75), "warmth": (-0.75, 0.75)}
    stored = score_colours24(row.answers["answers"])
    assert (stored.most, stored.least, stored.composite) == (COLOUR_MOST, COLOUR_LEAST, COLOUR_COMPOSITE)

    # Prior N(0, 1) on both axes (no Big Five), precision 1 + .75 / .25 = 4: dominance N(sqrt(.75) * 1.875,
    # .25) = N(1.6238, .25), warmth N(-.6495, .25). P(red) = Phi(3.2476) * Phi(1.2990) = .99942 * .90303
    # = .9025; yellow beats blue as secondary; the angle is off red's 135 deg diagonal (a blend); radius
    # 1.75: strong.
    personality = (await _snapshot(kafka_bootstrap, form)).personality
    assert personality.colour is Colour.RED
    assert personality.secondary is Colour.YELLOW
    assert personality.pattern == "strong-red-yellow"
    assert personality.probability == pytest.approx(0.9025, abs=1e-4)


def _balanced_answers() -> list[dict[str, str]]:
    """Most red, yellow, green, blue in turn, least the opposite colour: every colour 6 x most and
    6 x least, every composite 0, both axes z 0."""
    order = list(Tone)  # red, yellow, green, blue
    answers = []
    for n, group in enumerate(colours24().groups):
        by_colour = {d.colour: d.id for d in group.descriptors}
        answers.append({"group": group.id, "most": by_colour[order[n % 4]], "least": by_colour[order[(n + 2) % 4]]})
    return answers


async def test_weak_evidence_stays_unknown(
    profile_client: httpx.AsyncClient, publish: Publish, engine: AsyncEngine, kafka_bootstrap: str
) -> None:
    who = _who("weak")
    grant = _grant(who)
    form = _form(who, "colours24", _balanced_answers())
    await _send_all(publish, engine, grant, form)
    assert _observations((await _evidence(engine, form)).payload) == {
        "dominance": (0.0, 0.75),
        "warmth": (0.0, 0.75),
    }
    # Both axes N(0, .25): every quadrant .25 < .6, so the colour is unknown, not a guess.
    assert (await _snapshot(kafka_bootstrap, form)).personality == PersonalitySnapshot()


async def test_emotional_stability_never_reaches_the_profiled_record(
    profile_client: httpx.AsyncClient, publish: Publish, engine: AsyncEngine, kafka_bootstrap: str
) -> None:
    who = _who("routing-guard")
    grant = _grant(who)
    form = _form(who, "ipip50", IPIP_ANSWERS)
    await _send_all(publish, engine, grant, form)
    assert "emotional_stability" in (await _evidence(engine, form)).payload["observations"]

    [record] = await profiled_for(kafka_bootstrap, form.event_id)
    raw = json.dumps(record)
    assert Profiled.model_validate(record).profile is not None
    for word in ("emotional", "stability", "neurotic"):
        assert word not in raw.lower()
    # Nor the answers to its items, from which the router could score it itself.
    assert not ES_ITEM.search(raw), "questionnaire answers must stay in the profile service"
    assert record["interaction"]["properties"] == {"instrument": "ipip50"}


def _ipip(**changes: object) -> dict[str, object]:
    answers: dict[str, object] = dict(IPIP_ANSWERS)
    for item, rating in changes.items():
        if rating is None:
            del answers[item]
        else:
            answers[item] = rating
    return answers


def _colours(n: int, **changes: object) -> list[dict[str, object]]:
    answers = [dict(a) for a in COLOUR_ANSWERS]
    answers[n].update(changes)
    return answers


# (case, instrument, answers, expected {(field, rule)})
MALFORMED: list[tuple[str, str, object, set[tuple[str, str]]]] = [
    ("49 items", "ipip50", _ipip(I10=None), {("answers", "item_count"), ("answers.I10", "missing_item")}),
    ("51 items", "ipip50", _ipip(X1=3), {("answers", "item_count"), ("answers.X1", "unknown_item")}),
    (
        "unknown item",
        "ipip50",
        _ipip(I10=None, X1=3),
        {("answers.X1", "unknown_item"), ("answers.I10", "missing_item")},
    ),
    ("rating 6 and 0", "ipip50", _ipip(E1=6, E2=0), {("answers.E1", "rating_range"), ("answers.E2", "rating_range")}),
    ("rating 3.5", "ipip50", _ipip(E3=3.5), {("answers.E3", "rating_integer")}),
    ("list for ipip50", "ipip50", [], {("answers", "type")}),
    ("23 groups", "colours24", COLOUR_ANSWERS[:-1], {("answers", "group_count"), ("answers", "missing_group")}),
    ("same most and least", "colours24", _colours(4, least="g05c"), {("answers.4.least", "same_most_least")}),
    ("unknown descriptor", "colours24", _colours(0, most="g01z"), {("answers.0.most", "unknown_descriptor")}),
    ("other group's descriptor", "colours24", _colours(1, most="g03b"), {("answers.1.most", "descriptor_group")}),
    (
        "unknown group",
        "colours24",
        _colours(23, group="g99"),
        {("answers.23.group", "unknown_group"), ("answers", "missing_group")},
    ),
    ("unknown instrument", "mbti", {"E1": 5}, {("properties.instrument", "enum")}),
]


async def test_malformed_answer_sets_are_refused_with_their_rule_and_change_nothing(
    profile_client: httpx.AsyncClient, publish: Publish, engine: AsyncEngine, kafka_bootstrap: str
) -> None:
    who = _who("malformed")
    grant = _grant(who)
    valid = _form(who, "colours24", COLOUR_ANSWERS)
    customer = await _send_all(publish, engine, grant, valid)
    columns = ", ".join([*STATE_COLUMNS, "personality"])
    [before] = await _rows(engine, f"SELECT {columns} FROM profile.customers WHERE id = :c", c=customer)
    personality = (await _snapshot(kafka_bootstrap, valid)).personality
    assert personality.colour is Colour.RED

    forms = [_form(who, instrument, answers) for _, instrument, answers, _ in MALFORMED]
    await _send_all(publish, engine, *forms)

    for (case, instrument, _, expected), form in zip(MALFORMED, forms, strict=True):
        [refused] = await _rows(
            engine,
            "SELECT customer_id, instrument, problems FROM profile.rejections WHERE event_id = :e",
            e=form.event_id,
        )
        assert (refused.customer_id, refused.instrument) == (customer, instrument), case
        assert {(p["field"], p["rule"]) for p in refused.problems} == expected, case
        assert all(p["message"] for p in refused.problems), case
        assert (await _snapshot(kafka_bootstrap, form)).personality == personality, case
    [evidence] = await _rows(
        engine, "SELECT count(*) AS n FROM profile.personality_evidence WHERE customer_id = :c", c=customer
    )
    assert evidence.n == 1, "no evidence from a refused answer set"
    [after] = await _rows(engine, f"SELECT {columns} FROM profile.customers WHERE id = :c", c=customer)
    # Not even the active hours move: a refused interaction changes nothing (profiles/state.py).
    assert after._asdict() == before._asdict()
