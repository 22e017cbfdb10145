"""Combining the profiles of customers found to be one person (pure): the survivor's facts win,
counts add up, every consent keeps its newest decision, the stage is the furthest."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metaconnect_common.schemas.interaction import Channel, Interaction
from metaconnect_common.schemas.profiled import Purpose
from metaconnect_profile.profiles.engagement import Receipt, value_at
from metaconnect_profile.profiles.merge import merge_states
from metaconnect_profile.profiles.state import ProfileState
from tests.profile.profiles.events import EMPTY, HALF_LIFE, POLICY, T0, consent, event, run

H = timedelta(hours=1)
EVENTS = st.lists(
    st.tuples(
        st.integers(0, 48),
        st.sampled_from(
            [
                ("message.opened", Channel.PUSH, {}),
                ("message.clicked", Channel.EMAIL, {}),
                ("purchase.completed", Channel.WEB, {}),
                ("lead.qualified", Channel.WEB, {}),
                ("profile.updated", Channel.WEB, {"locale": "de-DE", "traits": {"plan": "gold"}}),
                ("profile.updated", Channel.WEB, {"time_zone": "Europe/Paris", "traits": {"tier": "b"}}),
                ("app.opened", Channel.IN_APP, {}),
            ]
        ),
    ),
    max_size=8,
)


def _state(drawn: list[tuple[int, tuple[str, Channel, dict[str, object]]]]) -> ProfileState:
    events: list[Interaction] = [
        event(kind, props, at=T0 + h * H, channel=channel)
        for h, (kind, channel, props) in sorted(drawn, key=lambda d: d[0])
    ]
    return run(EMPTY, *events, now=T0 + 50 * H).state if events else EMPTY


def test_merging_nothing_changes_nothing() -> None:
    state = run(EMPTY, event("purchase.completed"), consent("marketing", True)).state
    assert merge_states(state, [], POLICY) == state


@settings(max_examples=50, deadline=None)
@given(mine=EVENTS, theirs=EVENTS)
def test_the_survivors_facts_win_counts_add_up_and_the_stage_is_the_furthest(
    mine: list[tuple[int, tuple[str, Channel, dict[str, object]]]],
    theirs: list[tuple[int, tuple[str, Channel, dict[str, object]]]],
) -> None:
    survivor, other = _state(mine), _state(theirs)
    merged = merge_states(survivor, [other], POLICY)
    at = T0 + 100 * H
    for channel in (Channel.PUSH, Channel.EMAIL):
        for receipt in (Receipt.OPENED, Receipt.CLICKED):
            expected = sum(
                value_at(s.engagement.get(channel, {}).get(receipt), at, HALF_LIFE) for s in (survivor, other)
            )
            assert value_at(merged.engagement.get(channel, {}).get(receipt), at, HALF_LIFE) == pytest.approx(expected)
    assert merged.locale == (survivor.locale or other.locale)
    assert merged.time_zone == (survivor.time_zone or other.time_zone)
    seen = [s.app_seen_at for s in (survivor, other) if s.app_seen_at is not None]
    assert merged.app_seen_at == max(seen, default=None)  # either was in the app: the survivor is
    assert merged.traits == {**other.traits, **survivor.traits}
    rank = POLICY.stages.index
    assert rank(merged.lifecycle_stage) == max(rank(survivor.lifecycle_stage), rank(other.lifecycle_stage))
    assert merged.holdout == survivor.holdout


def test_every_consent_keeps_its_newest_decision_whoever_gave_it() -> None:
    survivor = run(EMPTY, consent("marketing", True, at=T0), consent("profiling_behaviour", True, at=T0 + 2 * H)).state
    other = run(EMPTY, consent("marketing", False, at=T0 + H), consent("profiling_behaviour", False, at=T0 + H)).state
    merged = merge_states(survivor, [other], POLICY)
    assert merged.consent.purposes[Purpose.MARKETING].granted is False  # the other's withdrawal is newer
    assert merged.consent.purposes[Purpose.PROFILING_BEHAVIOUR].granted is True
