"""Which stage an interaction moves a customer into (pure `apply` with the lifecycle in the policy):
forward always, back only into `allow_back` stages, the furthest of several, conditions over the
event and the profile before the move, `lifecycle.moved`, and a new customer's first stage."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from metaconnect_profile.lifecycles.spec import Lifecycle, LifecycleSpec
from metaconnect_profile.profiles.merge import merge_states
from metaconnect_profile.profiles.reporting import stage_change_of
from metaconnect_profile.profiles.state import Applied, ProfilePolicy, ProfileState, Reject, StageEntered, apply
from tests.profile.profiles.events import T0, event

SPEC = LifecycleSpec.model_validate(
    {
        "name": "home-builder",
        "stages": [
            {"name": "lead", "allow_back": True, "enter_on": [{"event_types": ["lead.disqualified"]}]},
            {
                "name": "qualified",
                "enter_on": [{"event_types": ["lead.qualified"], "condition": "event.properties.budget >= 300000"}],
            },
            {"name": "sales", "enter_on": [{"event_types": ["sales.*"]}]},
            {
                "name": "contract",
                "enter_on": [
                    {"event_types": ["contract.signed"]},
                    {"event_types": ["offer.accepted"], "condition": 'profile.traits.financing == "approved"'},
                ],
            },
            {"name": "handover", "enter_on": [{"event_types": ["sales.closed_won"]}]},
        ],
    }
)
POLICY = ProfilePolicy(lifecycle=Lifecycle.compile(SPEC, 7), engagement_half_life_days=30.0, holdout_share=0.0)
KNOWN = ProfileState(lifecycle_stage="lead", stage_entered_at=T0 - timedelta(days=1))


def _apply(state: ProfileState, type_: str, **properties: Any) -> Applied:
    return apply(state, event(type_, properties, at=T0), now=T0, policy=POLICY)


def _in(stage: str) -> ProfileState:
    return KNOWN.model_copy(update={"lifecycle_stage": stage})


def _entered(applied: Applied) -> list[StageEntered]:
    return [e for e in applied.effects if isinstance(e, StageEntered)]


def test_a_rule_moves_forward_and_records_the_entry() -> None:
    applied = _apply(KNOWN, "sales.assigned")
    assert applied.state.lifecycle_stage == "sales"
    assert applied.state.stage_entered_at == T0
    assert _entered(applied) == [
        StageEntered(from_stage="lead", to_stage="sales", backward=False, lifecycle_version=7, at=T0)
    ]


def test_a_condition_reads_the_event() -> None:
    assert _apply(KNOWN, "lead.qualified", budget=450000).state.lifecycle_stage == "qualified"
    low = _apply(KNOWN, "lead.qualified", budget=90000)
    assert low.state.lifecycle_stage == "lead"
    assert _entered(low) == []


def test_a_condition_reads_the_profile_as_the_interaction_left_it() -> None:
    approved = _apply(_in("sales"), "profile.updated", traits={"financing": "approved"}).state
    assert _apply(approved, "offer.accepted").state.lifecycle_stage == "contract"
    assert _apply(_in("sales"), "offer.accepted").state.lifecycle_stage == "sales"


def test_the_furthest_matching_stage_wins() -> None:
    # `sales.closed_won` matches both `sales.*` and handover's rule.
    assert _apply(KNOWN, "sales.closed_won").state.lifecycle_stage == "handover"


def test_a_rule_naming_an_earlier_stage_does_nothing_unless_it_allows_moving_back() -> None:
    assert _apply(_in("contract"), "sales.assigned").state.lifecycle_stage == "contract"
    back = _apply(_in("contract"), "lead.disqualified")
    assert back.state.lifecycle_stage == "lead"
    assert _entered(back)[0].backward


def test_lifecycle_moved_moves_forward_and_back_by_the_same_rule() -> None:
    assert _apply(KNOWN, "lifecycle.moved", stage="contract").state.lifecycle_stage == "contract"
    assert _apply(_in("handover"), "lifecycle.moved", stage="lead").state.lifecycle_stage == "lead"
    same = _apply(_in("sales"), "lifecycle.moved", stage="sales")
    assert same.state == _in("sales")  # no move, and no active hour: a journey or a CRM sent it


def test_lifecycle_moved_refuses_unknown_stages_and_refused_moves_back() -> None:
    for properties, rule in (
        ({"stage": "vip"}, "enum"),
        ({}, "required"),
        ({"stage": 3}, "type"),
    ):
        refused = _apply(_in("sales"), "lifecycle.moved", **properties)
        assert refused.state == _in("sales")
        (effect,) = refused.effects
        assert isinstance(effect, Reject)
        assert [(p.field, p.rule) for p in effect.problems] == [("properties.stage", rule)]
    back = _apply(_in("contract"), "lifecycle.moved", stage="qualified")
    assert isinstance(back.effects[0], Reject)
    assert back.effects[0].problems[0].rule == "backward_not_allowed"


def test_a_new_customer_enters_its_first_stage_at_its_first_event() -> None:
    new = ProfileState(lifecycle_stage="lead")
    applied = _apply(new, "app.opened")
    assert applied.state.stage_entered_at == T0
    assert _entered(applied) == [
        StageEntered(from_stage=None, to_stage="lead", backward=False, lifecycle_version=7, at=T0)
    ]
    change = stage_change_of(applied.effects)
    assert change is not None
    assert (change.from_stage, change.to_stage) == (None, "lead")
    moved_on = _apply(new, "sales.assigned")
    assert [(e.from_stage, e.to_stage) for e in _entered(moved_on)] == [(None, "lead"), ("lead", "sales")]
    change = stage_change_of(moved_on.effects)
    assert change is not None
    assert (change.from_stage, change.to_stage, change.backward) == (None, "sales", False)


def test_a_new_customer_enters_its_first_stage_even_when_its_first_event_is_refused() -> None:
    refused = _apply(ProfileState(lifecycle_stage="lead"), "lifecycle.moved", stage="vip")
    assert refused.state == ProfileState(lifecycle_stage="lead", stage_entered_at=T0)
    assert [type(e) for e in refused.effects] == [StageEntered, Reject]


def test_a_stage_no_longer_configured_ranks_below_every_stage() -> None:
    assert _apply(_in("prospect"), "lead.disqualified").state.lifecycle_stage == "lead"


STAGES = list(POLICY.stages)
TYPES = ["sales.assigned", "contract.signed", "sales.closed_won", "lead.disqualified", "app.opened", "lead.qualified"]


@given(st.sampled_from(STAGES), st.lists(st.sampled_from(TYPES), max_size=12))
def test_only_allow_back_stages_are_entered_backwards(start: str, types: list[str]) -> None:
    state = _in(start)
    for type_ in types:
        before = state.lifecycle_stage
        applied = _apply(state, type_, budget=500000)
        state = applied.state
        for entered in _entered(applied):
            if entered.backward:
                assert entered.to_stage in POLICY.lifecycle.allow_back
            assert entered.from_stage == before
        if state.lifecycle_stage != before:
            assert state.stage_entered_at == T0


def test_a_merge_keeps_the_further_stage_and_when_it_was_entered() -> None:
    early, late = T0 - timedelta(days=9), T0 - timedelta(days=2)
    sales = ProfileState(lifecycle_stage="sales", stage_entered_at=late)
    lead = ProfileState(lifecycle_stage="lead", stage_entered_at=early)
    for survivor, other in ((sales, lead), (lead, sales)):
        merged = merge_states(survivor, [other], POLICY)
        assert (merged.lifecycle_stage, merged.stage_entered_at) == ("sales", late)
    both = merge_states(sales, [sales.model_copy(update={"stage_entered_at": early})], POLICY)
    assert both.stage_entered_at == early  # in it since the earlier of the two
