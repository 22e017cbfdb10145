"""apply(): effects with and without consent, profile updates, lifecycle, holdout."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metaconnect_common.schemas.interaction import Channel, Interaction
from metaconnect_common.settings import CommonSettings
from metaconnect_profile.config import ProfileSettings
from metaconnect_profile.personality.dimensions import Colour
from metaconnect_profile.personality.evidence import BehaviourEvidence, Outcome
from metaconnect_profile.profiles.engagement import Decayed, Receipt
from metaconnect_profile.profiles.state import (
    BehaviourSignal,
    InvalidateAddress,
    ProfilePolicy,
    QuestionnaireSubmitted,
    Reject,
    assign_holdout,
    new_state,
)
from tests.profile.profiles.events import EMPTY, POLICY, T0, consent, event, objection, run

H = timedelta(hours=1)
BEHAVIOUR = consent("profiling_behaviour", True, at=T0)
QUESTIONNAIRE = consent("profiling_questionnaire", True, at=T0)
IPIP = {"instrument": "ipip50", "answers": {"E1": 5}}  # shape only: the service scores


# --- app presence: who opens an inbox ---


@pytest.mark.parametrize(
    ("kind", "channel", "present"),
    [
        ("app.opened", Channel.IN_APP, True),
        ("app.session_started", Channel.IN_APP, True),
        ("inbox.opened", Channel.IN_APP, True),
        ("message.read", Channel.IN_APP, True),
        ("message.clicked", Channel.IN_APP, True),
        ("app.uninstalled", Channel.IN_APP, False),
        ("customer.created", Channel.IN_APP, False),  # a backend reporting a sign-up
        ("message.delivered", Channel.IN_APP, False),  # the platform stored it; nobody looked
        ("app.opened", Channel.WEB, False),
        ("message.clicked", Channel.EMAIL, False),
    ],
)
def test_app_presence_is_a_customer_in_the_app_or_its_inbox(kind: str, channel: Channel, present: bool) -> None:
    applied = run(EMPTY, event(kind, channel=channel))
    assert (applied.state.app_seen_at == T0) is present


def test_app_presence_keeps_the_newest_time() -> None:
    later = event("app.opened", channel=Channel.IN_APP, at=T0 + H)
    earlier = event("inbox.opened", channel=Channel.IN_APP, at=T0)  # arrives late
    assert run(EMPTY, later, earlier, now=T0 + 2 * H).state.app_seen_at == T0 + H


# --- receipts: addresses and behavioural signals ---


def test_hard_bounce_invalidates_the_address() -> None:
    applied = run(
        EMPTY, event("message.bounced", {"bounce": "hard", "reason": "550 no such user"}, channel=Channel.EMAIL)
    )
    assert applied.effects == (InvalidateAddress(channel=Channel.EMAIL, reason="hard bounce: 550 no such user", at=T0),)
    assert applied.state.engagement[Channel.EMAIL][Receipt.BOUNCED] == Decayed(value=1.0, at=T0)


def test_soft_bounce_only_counts() -> None:
    assert run(EMPTY, event("message.bounced", {"bounce": "soft"}, channel=Channel.EMAIL)).effects == ()


def test_uninstall_invalidates_the_push_token() -> None:
    applied = run(EMPTY, event("app.uninstalled", channel=Channel.IN_APP))
    assert applied.effects == (InvalidateAddress(channel=Channel.PUSH, reason="app uninstalled", at=T0),)


@pytest.mark.parametrize(
    ("kind", "outcome"),
    [
        ("message.opened", Outcome.ENGAGED),
        ("message.clicked", Outcome.ENGAGED),
        ("message.replied", Outcome.ENGAGED),
        ("message.dismissed", Outcome.IGNORED),
    ],
)
def test_behaviour_signal_with_consent(kind: str, outcome: Outcome) -> None:
    applied = run(EMPTY, BEHAVIOUR, event(kind, {"tone": "green"}, at=T0 + H, channel=Channel.PUSH))
    # No outcomes on the channel yet: the baseline is the population rate.
    signal = BehaviourSignal(tone=Colour.GREEN, outcome=outcome, observed_at=T0 + H, base_rate=0.05)
    assert applied.effects == (signal,)
    assert signal.evidence() == BehaviourEvidence(
        tone=Colour.GREEN, outcome=outcome, observed_at=T0 + H, base_rate=0.05
    )


def test_behaviour_signal_carries_the_customers_baseline_on_the_channel() -> None:
    # Before the signal: 10 engagements (opened 6, clicked 4) and 30 dismissals on push, none on email.
    # b = (10 + 20 * .05) / (10 + 30 + 20) = 11 / 60, the receipt at hand not counted in its own baseline.
    history = [
        *(event("message.opened", at=T0, channel=Channel.PUSH) for _ in range(6)),
        *(event("message.clicked", at=T0, channel=Channel.PUSH) for _ in range(4)),
        *(event("message.dismissed", at=T0, channel=Channel.PUSH) for _ in range(30)),
        event("message.sent", at=T0, channel=Channel.PUSH),  # unanswered sends are not outcomes
    ]
    push = run(EMPTY, BEHAVIOUR, *history, event("message.clicked", {"tone": "red"}, at=T0, channel=Channel.PUSH))
    assert [e.base_rate for e in push.effects if isinstance(e, BehaviourSignal)] == [pytest.approx(11 / 60)]
    email = run(EMPTY, BEHAVIOUR, *history, event("message.opened", {"tone": "red"}, at=T0, channel=Channel.EMAIL))
    assert [e.base_rate for e in email.effects if isinstance(e, BehaviourSignal)] == [0.05]


@pytest.mark.parametrize(
    "before",
    [
        [],  # never asked
        [consent("profiling_behaviour", False)],  # refused
        [consent("profiling_questionnaire", True)],  # the other purpose
        [BEHAVIOUR, objection(at=T0 + H)],  # objected
    ],
)
def test_no_behaviour_signal_without_consent(before: list[Interaction]) -> None:
    state = run(EMPTY, *before).state
    applied = run(state, event("message.clicked", {"tone": "red"}, at=T0 + 2 * H))
    assert applied.effects == ()
    assert applied.state.engagement[Channel.WEB][Receipt.CLICKED].value == 1.0  # counting is not profiling


def test_no_behaviour_signal_before_consent_was_given() -> None:
    granted_later = run(EMPTY, consent("profiling_behaviour", True, at=T0 + H)).state
    assert run(granted_later, event("message.opened", {"tone": "red"}, at=T0)).effects == ()


@pytest.mark.parametrize("props", [{}, {"tone": "purple"}, {"tone": 3}])
def test_no_signal_without_a_known_tone(props: dict[str, object]) -> None:
    assert run(EMPTY, BEHAVIOUR, event("message.opened", props, at=T0 + H)).effects == ()


def test_sent_with_a_tone_is_no_signal() -> None:
    assert run(EMPTY, BEHAVIOUR, event("message.sent", {"tone": "red"}, at=T0 + H)).effects == ()


# --- questionnaire gating ---


def test_questionnaire_with_consent() -> None:
    applied = run(EMPTY, QUESTIONNAIRE, event("questionnaire.submitted", IPIP, at=T0 + H))
    assert applied.effects == (QuestionnaireSubmitted(instrument="ipip50", answers={"E1": 5}, observed_at=T0 + H),)


@pytest.mark.parametrize("before", [[], [BEHAVIOUR], [QUESTIONNAIRE, objection(at=T0 + H)]])
def test_questionnaire_without_consent_is_rejected(before: list[Interaction]) -> None:
    state = run(EMPTY, *before).state
    applied = run(state, event("questionnaire.submitted", IPIP, at=T0 + 2 * H))
    (reject,) = applied.effects
    assert isinstance(reject, Reject)
    assert reject.instrument == "ipip50"
    assert [(p.field, p.rule) for p in reject.problems] == [("consent.profiling_questionnaire", "consent_required")]
    assert applied.state == state


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        ({"answers": {}}, [("properties.instrument", "required")]),
        ({"instrument": "mbti", "answers": {}}, [("properties.instrument", "enum")]),
        ({"instrument": "colours24"}, [("properties.answers", "required")]),
        ({"instrument": "colours24", "answers": "abc"}, [("properties.answers", "type")]),
    ],
)
def test_malformed_questionnaire_is_rejected(props: dict[str, object], expected: list[tuple[str, str]]) -> None:
    (reject,) = run(EMPTY, QUESTIONNAIRE, event("questionnaire.submitted", props, at=T0 + H)).effects
    assert isinstance(reject, Reject)
    assert [(p.field, p.rule) for p in reject.problems] == expected


# --- profile.updated ---


def test_profile_update_sets_and_merges() -> None:
    state = run(
        EMPTY,
        event(
            "profile.updated", {"locale": "de-de", "time_zone": "Europe/Berlin", "traits": {"tier": "gold", "kids": 2}}
        ),
        event("profile.updated", {"traits": {"kids": None, "city": "Köln"}}),
    ).state
    assert (state.locale, state.time_zone) == ("de-DE", "Europe/Berlin")
    assert state.traits == {"tier": "gold", "city": "Köln"}
    cleared = run(state, event("profile.updated", {"locale": None, "time_zone": None})).state
    assert (cleared.locale, cleared.time_zone, cleared.traits) == (None, None, state.traits)


@pytest.mark.parametrize(
    ("locale", "canonical"), [("en", "en"), ("DE-at", "de-AT"), ("zh-hant-tw", "zh-Hant-TW"), ("es-419", "es-419")]
)
def test_locale_is_canonicalised(locale: str, canonical: str) -> None:
    assert run(EMPTY, event("profile.updated", {"locale": locale})).state.locale == canonical


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        ({"locale": "de_DE"}, [("properties.locale", "locale_format")]),
        ({"locale": "german"}, [("properties.locale", "locale_format")]),
        ({"locale": 7}, [("properties.locale", "type")]),
        ({"time_zone": "Europe/Berlln"}, [("properties.time_zone", "time_zone_unknown")]),
        ({"time_zone": "America"}, [("properties.time_zone", "time_zone_unknown")]),
        ({"time_zone": "../../etc/passwd"}, [("properties.time_zone", "time_zone_unknown")]),
        ({"time_zone": "X" * 65}, [("properties.time_zone", "max_length")]),
        ({"traits": []}, [("properties.traits", "type")]),
        ({"traits": {"Bad Key": 1}}, [("properties.traits.Bad Key", "trait_key")]),
        ({"traits": {f"t{i}": i for i in range(65)}}, [("properties.traits", "max_traits")]),
        ({"traits": {"blob": "x" * 9000}}, [("properties.traits", "max_bytes")]),
        ({"timezone": "UTC"}, [("properties.timezone", "unexpected_field")]),
        (
            {"locale": "de-DE", "time_zone": "Mars/Olympus"},  # one bad part refuses the whole update
            [("properties.time_zone", "time_zone_unknown")],
        ),
    ],
)
def test_invalid_profile_update_is_rejected_precisely(
    props: dict[str, object], expected: list[tuple[str, str]]
) -> None:
    applied = run(EMPTY, event("profile.updated", props))
    assert applied.state == EMPTY
    (reject,) = applied.effects
    assert isinstance(reject, Reject)
    assert [(p.field, p.rule) for p in reject.problems] == expected


# --- lifecycle and pass-through ---


def test_lifecycle_moves_forward_only() -> None:
    stages = []
    state = EMPTY
    for kind in ["opportunity.created", "lead.qualified", "purchase.completed", "opportunity.created", "app.opened"]:
        state = run(state, event(kind)).state
        stages.append(state.lifecycle_stage)
    assert stages == ["opportunity", "opportunity", "customer", "customer", "customer"]


def test_unconfigured_stage_moves_to_any_rule() -> None:
    old = EMPTY.model_copy(update={"lifecycle_stage": "prospect"})
    assert run(old, event("lead.qualified")).state.lifecycle_stage == "qualified"


def test_unknown_events_pass_through() -> None:
    applied = run(EMPTY, event("store.visited", {"store": "42"}))
    assert applied.effects == ()
    assert applied.state == EMPTY.model_copy(update={"active_hours": applied.state.active_hours})


def test_the_settings_policy_starts_with_the_default_lifecycle() -> None:
    policy = ProfilePolicy.from_settings(ProfileSettings(common=CommonSettings(env="test")))
    assert policy == POLICY


# --- holdout ---


@given(st.uuids(), st.floats(min_value=0.0, max_value=1.0))
def test_holdout_is_deterministic(customer_id: uuid.UUID, share: float) -> None:
    assert assign_holdout(customer_id, share) == assign_holdout(uuid.UUID(str(customer_id)), share)
    assert not assign_holdout(customer_id, 0.0)
    assert assign_holdout(customer_id, 1.0)


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=0, max_value=2**64), st.sampled_from([0.05, 0.1, 0.5]))
def test_holdout_share_is_close(seed: int, share: float) -> None:
    rng = random.Random(seed)
    ids = [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(4000)]
    held = sum(assign_holdout(i, share) for i in ids) / len(ids)
    # 4000 draws: the standard error is at most sqrt(0.25 / 4000) = 0.0079; allow 4.5 of them.
    assert abs(held - share) < 0.036


def test_new_state_draws_the_holdout_once() -> None:
    customer = uuid.UUID("00000000-0000-4000-8000-000000000001")
    state = new_state(customer, POLICY)
    assert state.lifecycle_stage == "lead"
    assert state.holdout == assign_holdout(customer, POLICY.holdout_share)
