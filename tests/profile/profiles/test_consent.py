"""Consent: per purpose and per channel, with time and source; objection; out-of-order changes; rejections."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from metaconnect_common.schemas.interaction import Channel
from metaconnect_common.schemas.profiled import ConsentState, Purpose
from metaconnect_profile.profiles.consent import Objection, Problem, marketing_consent
from metaconnect_profile.profiles.state import DeleteBehaviouralEvidence, Reject
from tests.profile.profiles.events import EMPTY, T0, consent, event, objection, run

H = timedelta(hours=1)


@pytest.mark.parametrize("purpose", list(Purpose))
def test_grant_then_withdraw_keeps_time_and_source(purpose: Purpose) -> None:
    granted = run(EMPTY, consent(purpose.value, True, at=T0, source="key_web")).state
    assert granted.consent.purposes[purpose] == ConsentState(granted=True, at=T0, source="key_web")

    withdrawn = run(granted, consent(purpose.value, False, at=T0 + H, source="key_app")).state
    assert withdrawn.consent.purposes[purpose] == ConsentState(granted=False, at=T0 + H, source="key_app")
    assert set(withdrawn.consent.purposes) == {purpose}  # the other purposes stay undecided


def test_purposes_are_separate() -> None:
    state = run(EMPTY, consent("profiling_questionnaire", True)).state
    assert state.consent.purposes[Purpose.PROFILING_QUESTIONNAIRE].granted
    assert Purpose.PROFILING_BEHAVIOUR not in state.consent.purposes
    assert Purpose.MARKETING not in state.consent.purposes


def test_marketing_per_channel() -> None:
    state = run(
        EMPTY,
        consent("marketing", True, at=T0, source="key_web"),
        consent("marketing", False, at=T0 + H, channel="sms", source="twilio"),
    ).state
    assert state.consent.channels == {Channel.SMS: ConsentState(granted=False, at=T0 + H, source="twilio")}
    assert marketing_consent(state.consent, Channel.SMS) == ConsentState(granted=False, at=T0 + H, source="twilio")
    assert marketing_consent(state.consent, Channel.EMAIL) == ConsentState(granted=True, at=T0, source="key_web")


def test_channel_only_grant_covers_that_channel() -> None:
    state = run(EMPTY, consent("marketing", True, channel="whatsapp")).state
    whatsapp = marketing_consent(state.consent, Channel.WHATSAPP)
    assert whatsapp is not None
    assert whatsapp.granted
    assert marketing_consent(state.consent, Channel.PUSH) is None


def test_later_general_withdrawal_beats_earlier_channel_grant() -> None:
    state = run(
        EMPTY,
        consent("marketing", True, at=T0, channel="push"),
        consent("marketing", False, at=T0 + H),
    ).state
    push = marketing_consent(state.consent, Channel.PUSH)
    assert push is not None
    assert not push.granted


def test_objection_withdraws_everything_and_deletes_behavioural_evidence() -> None:
    before = run(
        EMPTY,
        consent("marketing", True, at=T0),
        consent("marketing", True, at=T0, channel="sms"),
        consent("profiling_questionnaire", True, at=T0),
        consent("profiling_behaviour", True, at=T0),
    ).state
    applied = run(before, objection(at=T0 + H, source="call_center"))
    withdrawal = ConsentState(granted=False, at=T0 + H, source="call_center")
    assert applied.state.consent.purposes == dict.fromkeys(Purpose, withdrawal)
    assert all(marketing_consent(applied.state.consent, c) == withdrawal for c in Channel)
    assert applied.state.consent.objection == Objection(at=T0 + H, source="call_center")
    assert applied.effects == (DeleteBehaviouralEvidence(reason="objection", at=T0 + H),)


def test_objection_without_prior_consent_still_deletes() -> None:
    applied = run(EMPTY, objection())
    assert applied.effects == (DeleteBehaviouralEvidence(reason="objection", at=T0),)
    assert applied.state.consent.purposes[Purpose.PROFILING_BEHAVIOUR].granted is False


def test_withdrawing_behavioural_profiling_deletes_its_evidence() -> None:
    granted = run(EMPTY, consent("profiling_behaviour", True)).state
    applied = run(granted, consent("profiling_behaviour", False, at=T0 + H))
    assert applied.effects == (DeleteBehaviouralEvidence(reason="withdrawn", at=T0 + H),)
    assert run(granted, consent("profiling_questionnaire", False, at=T0 + H)).effects == ()


def test_stale_change_does_not_overwrite_newer() -> None:
    newer = run(EMPTY, consent("marketing", False, at=T0 + H, source="new")).state
    applied = run(newer, consent("marketing", True, at=T0, source="old"))
    assert applied.state.consent == newer.consent
    assert applied.effects == ()


def test_stale_channel_grant_after_objection_stays_withdrawn() -> None:
    objected = run(EMPTY, objection(at=T0 + H)).state
    late = run(objected, consent("marketing", True, at=T0, channel="email")).state
    email = marketing_consent(late.consent, Channel.EMAIL)
    assert email is not None
    assert not email.granted


def test_same_time_withdrawal_beats_grant() -> None:
    a = run(EMPTY, consent("marketing", True), consent("marketing", False)).state
    b = run(EMPTY, consent("marketing", False), consent("marketing", True)).state
    assert a.consent == b.consent
    assert not a.consent.purposes[Purpose.MARKETING].granted


def test_any_arrival_order_gives_the_same_ledger() -> None:
    changes = [
        consent("marketing", True, at=T0, source="a"),
        consent("marketing", False, at=T0 + H, channel="sms", source="b"),
        objection(at=T0 + 2 * H, source="c"),
        consent("profiling_questionnaire", True, at=T0 + 3 * H, source="d"),
        consent("marketing", True, at=T0 + 4 * H, channel="push", source="e"),
    ]
    in_order = run(EMPTY, *changes).state.consent
    assert all(run(EMPTY, *order).state.consent == in_order for order in itertools.permutations(changes))
    state = run(EMPTY, *changes).state
    effective = {c: s.granted for c in Channel if (s := marketing_consent(state.consent, c))}
    assert effective == {**dict.fromkeys(Channel, False), Channel.PUSH: True}


@pytest.mark.parametrize(
    ("properties", "expected"),
    [
        ({}, [("properties.purpose", "required"), ("properties.granted", "required")]),
        ({"purpose": "sales", "granted": True}, [("properties.purpose", "enum")]),
        ({"purpose": "marketing", "granted": "yes"}, [("properties.granted", "type")]),
        ({"purpose": "marketing", "granted": True, "channel": "fax"}, [("properties.channel", "enum")]),
        (
            {"purpose": "profiling_behaviour", "granted": True, "channel": "sms"},
            [("properties.channel", "channel_marketing_only")],
        ),
        ({"purpose": "marketing", "granted": True, "chanel": "sms"}, [("properties.chanel", "unexpected_field")]),
        ({"objection": False}, [("properties.objection", "objection_true")]),
        ({"objection": True, "purpose": "marketing"}, [("properties.purpose", "unexpected_field")]),
    ],
)
def test_invalid_properties_are_rejected_with_field_and_rule(
    properties: dict[str, object], expected: list[tuple[str, str]]
) -> None:
    granted = run(EMPTY, consent("marketing", True)).state
    applied = run(granted, event("consent.changed", properties, at=T0 + H))
    assert applied.state == granted  # unchanged, active hours included
    (reject,) = applied.effects
    assert isinstance(reject, Reject)
    assert [(p.field, p.rule) for p in reject.problems] == expected
    assert all(isinstance(p, Problem) and p.message for p in reject.problems)
