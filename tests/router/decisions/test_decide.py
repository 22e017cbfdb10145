"""The decision for one profiled event (pure)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from metaconnect_common.conditions import parse_condition
from metaconnect_common.schemas import Channel, Interaction
from metaconnect_common.schemas.profiled import ProfileSnapshot
from metaconnect_router.decisions.decide import ActiveRoute, Outcome, decide, in_route_holdout
from metaconnect_router.decisions.eligibility import SendHistory
from metaconnect_router.decisions.ranking import Arm, Posterior
from metaconnect_router.routes.spec import RouteSpec, Tone
from tests.router.conftest import route_spec

NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)  # 14:00 in Berlin: outside quiet hours
CUSTOMER = uuid.UUID("00000000-0000-4000-8000-000000000001")
GRANTED = {"granted": True, "at": "2026-01-01T00:00:00Z", "source": "test"}
NO_HISTORY = SendHistory(sent_at={})


def profile(**changes: Any) -> ProfileSnapshot:
    base: dict[str, Any] = {
        "lifecycle_stage": "customer",
        "time_zone": "Europe/Berlin",
        "channel_consent": {"push": GRANTED, "email": GRANTED},
        "reachable": ["in_app", "push", "email"],
        "personality": {"colour": "red", "secondary": "yellow", "pattern": "red-yellow", "probability": 0.8},
    }
    base.update(changes)
    return ProfileSnapshot.model_validate(base)


def event(type_: str = "cart.abandoned", **properties: Any) -> Interaction:
    return Interaction.model_validate(
        {
            "event_id": str(uuid.uuid4()),
            "customer": {"customer_id": "c-1", "email": "ada@example.com"},
            "type": type_,
            "channel": "web",
            "occurred_at": NOW - timedelta(minutes=1),
            "received_at": NOW,
            "source": "key",
            "properties": {"value": 25, **properties},
        }
    )


def active(**changes: Any) -> ActiveRoute:
    spec = RouteSpec.model_validate(route_spec("cart", **changes))
    condition = parse_condition(spec.trigger.condition) if spec.trigger.condition else None
    return ActiveRoute(spec.name, 3, spec, condition)


def run(
    ev: Interaction | None = None,
    prof: ProfileSnapshot | None = None,
    routes: list[ActiveRoute] | None = None,
    **kw: Any,
) -> Any:
    return decide(
        ev or event(),
        prof or profile(),
        CUSTOMER,
        [active()] if routes is None else routes,
        posteriors=kw.pop("posteriors", {}),
        history=kw.pop("history", NO_HISTORY),
        now=kw.pop("now", NOW),
        rng=np.random.default_rng(kw.pop("seed", 1)),
        **kw,
    )


def test_no_route_for_the_event_type_or_condition_is_no_match() -> None:
    assert run(event("app.opened")).outcome is Outcome.NO_MATCH
    assert run(event(value=5)).outcome is Outcome.NO_MATCH  # condition: value >= 20
    assert run(routes=[]).outcome is Outcome.NO_MATCH


def test_a_chosen_message_has_a_tone_channels_and_an_explanation() -> None:
    decision = run()
    assert decision.outcome is Outcome.CHOSEN
    choice = decision.choice
    assert choice.route.name == "cart"
    assert choice.tone in (Tone.NEUTRAL, Tone.RED)
    assert choice.channels[0] is Channel.PUSH  # mobile first; email is the fail-over
    assert set(choice.channels) == {Channel.PUSH, Channel.EMAIL}
    assert 0 < choice.propensity <= 1
    explained = decision.explanation
    assert explained["chosen"]["route"] == "cart"
    assert explained["chosen"]["version"] == 3
    assert explained["channel"]["chosen"] == "push"
    assert {o["key"] for o in explained["options"]} == {"cart/cart-left/neutral", "cart/cart-left/red"}
    assert "ada@example.com" not in json.dumps(explained)


def test_no_consent_drops_with_the_reason() -> None:
    decision = run(prof=profile(channel_consent={}))
    assert decision.outcome is Outcome.DROPPED
    assert decision.explanation["candidates"][0]["reasons"] == ["no_consent"]
    assert decision.choice is None


def test_quiet_hours_defer_the_item_to_their_end() -> None:
    night = datetime(2026, 6, 10, 21, 30, tzinfo=UTC)  # 23:30 in Berlin
    decision = run(event(), now=night)
    assert decision.outcome is Outcome.CHOSEN
    assert decision.choice.not_before == datetime(2026, 6, 11, 6, 0, tzinfo=UTC)  # 08:00 Berlin (CEST)


def test_holdout_customers_get_the_neutral_tone_and_the_first_channel() -> None:
    decision = run(prof=profile(holdout=True))
    assert decision.holdout
    assert decision.choice.tone is Tone.NEUTRAL
    assert decision.choice.channel_choice.reason == "holdout_default"
    assert decision.choice.propensity == 1.0


def test_a_route_holdout_share_holds_out_a_stable_share_of_customers() -> None:
    held = sum(in_route_holdout(uuid.uuid4(), "cart", 0.2) for _ in range(5000))
    assert 850 < held < 1150
    some = uuid.uuid4()
    assert in_route_holdout(some, "cart", 0.2) == in_route_holdout(some, "cart", 0.2)


def test_learned_engagement_steers_the_tone() -> None:
    posteriors = {
        Arm("red-yellow", Tone.RED, Channel.PUSH): Posterior(successes=300, failures=700),
        Arm("red-yellow", Tone.NEUTRAL, Channel.PUSH): Posterior(successes=100, failures=900),
    }
    tones = [run(posteriors=posteriors, seed=seed).choice.tone for seed in range(200)]
    assert tones.count(Tone.RED) >= 180


def test_a_route_without_exploration_always_sends_the_best_known_tone() -> None:
    posteriors = {
        Arm("red-yellow", Tone.RED, Channel.PUSH): Posterior(successes=60, failures=40),
        Arm("red-yellow", Tone.NEUTRAL, Channel.PUSH): Posterior(successes=10, failures=90),
    }
    careful = active(policy={"exploration_share": 0})
    exploring = active()
    assert {run(routes=[careful], posteriors=posteriors, seed=seed).choice.tone for seed in range(500)} == {Tone.RED}
    explored = [run(routes=[exploring], posteriors=posteriors, seed=seed).choice for seed in range(500)]
    assert any(c.tone is not Tone.RED for c in explored)  # by default a share still explores
    assert sum(c.explored for c in explored) <= 0.2 * 500 + 30


def test_transactional_messages_ignore_marketing_consent() -> None:
    spec = route_spec("cart")
    spec["messages"][0]["category"] = "transactional"
    decision = run(prof=profile(channel_consent={}), routes=[active(messages=spec["messages"])])
    assert decision.outcome is Outcome.CHOSEN


@settings(max_examples=60, deadline=None)
@given(
    consent=st.dictionaries(st.sampled_from(["push", "email", "sms"]), st.just(GRANTED)),
    reachable=st.lists(st.sampled_from(["in_app", "push", "email", "sms"]), unique=True),
    holdout=st.booleans(),
    zone=st.sampled_from(["Europe/Berlin", "America/New_York", "Asia/Kolkata", None, "Not/AZone"]),
    minutes=st.integers(min_value=0, max_value=60 * 24 * 3),
)
def test_a_decision_never_raises(
    consent: dict[str, Any], reachable: list[str], holdout: bool, zone: str | None, minutes: int
) -> None:
    decision = run(
        prof=profile(channel_consent=consent, reachable=reachable, holdout=holdout, time_zone=zone),
        now=NOW + timedelta(minutes=minutes),
    )
    if decision.outcome is Outcome.CHOSEN:
        assert decision.choice.channels
        assert set(decision.choice.channels) <= {Channel(c) for c in reachable}


def _toned_route(exploration: float) -> ActiveRoute:
    """Red listed first: the list order must not decide."""
    variants = {
        tone: {"push": {"en": {"title": "Hi", "body": body}}, "email": {"en": {"subject": "Hi", "body": body}}}
        for tone, body in (("red", "Decide now"), ("neutral", "Have a look"), ("blue", "Here are the facts"))
    }
    message = route_spec("cart")["messages"][0] | {"variants": variants}
    return active(messages=[message], policy={"exploration_share": exploration, "bundle_window": "PT30M"})


STRONG_BLUE = {"colour": "blue", "secondary": "green", "pattern": "blue-green", "probability": 1.0}


def test_day_one_a_strong_blue_customer_gets_the_blue_variant_and_is_told_why() -> None:
    decision = run(prof=profile(personality=STRONG_BLUE), routes=[_toned_route(0.0)])
    assert decision.choice.tone is Tone.BLUE
    assert decision.choice.propensity == 1.0
    assert not decision.choice.explored
    chosen = decision.explanation["chosen"]
    assert (chosen["tone"], chosen["rule"], chosen["explored"]) == ("blue", "prior", False)
    assert "colour" in chosen["why"]
    options = decision.explanation["options"]
    assert options[0]["key"] == "cart/cart-left/blue"  # the listed scores are the ones that decided
    assert decision.explanation["scored_by"] == "posterior_mean"


def test_with_default_exploration_blue_is_the_most_frequent_first_choice() -> None:
    routes = [_toned_route(0.2)]
    tones = [run(prof=profile(personality=STRONG_BLUE), routes=routes, seed=s).choice.tone for s in range(1000)]
    assert max(set(tones), key=tones.count) is Tone.BLUE


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), exploration=st.sampled_from([0.0, 0.05, 0.2]))
def test_an_explanation_states_the_rule_that_chose(seed: int, exploration: float) -> None:
    learned = {
        Arm("blue-green", Tone.RED, Channel.PUSH): Posterior(9.0, 91.0),
        Arm("blue-green", Tone.BLUE, Channel.PUSH): Posterior(5.0, 95.0),
    }
    decision = run(
        prof=profile(personality=STRONG_BLUE), routes=[_toned_route(exploration)], posteriors=learned, seed=seed
    )
    chosen = decision.explanation["chosen"]
    top = decision.explanation["options"][0]["key"]
    # Red has the best posterior mean (10 / 120 against blue's 6.3 / 120): the greedy choice.
    assert chosen["explored"] == (chosen["tone"] != "red")
    if chosen["rule"] == "greedy":
        assert chosen["tone"] == "red"
    if chosen["rule"] in ("greedy", "thompson"):  # the option listed first is the one that won
        assert top.endswith("/" + chosen["tone"])
    else:
        assert chosen["rule"] == "uniform"
        assert decision.explanation["scored_by"] == "posterior_mean"
