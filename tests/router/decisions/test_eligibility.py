"""Eligibility: the filter matrix, caps, quiet hours across time zones and DST changes (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metaconnect_common.schemas import Channel
from metaconnect_common.schemas.profiled import ProfileSnapshot
from metaconnect_router.channels import local_now
from metaconnect_router.decisions.eligibility import (
    Eligibility,
    EligibilityVerdict,
    Reason,
    SendHistory,
    eligibility,
    quiet_until,
    slot_frees_at,
)
from metaconnect_router.routes.spec import DEFAULT_CHANNEL_ORDER, Cap, Message, Policy, QuietHours

PUSH, EMAIL, SMS, IN_APP, WHATSAPP = Channel.PUSH, Channel.EMAIL, Channel.SMS, Channel.IN_APP, Channel.WHATSAPP
NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
NO_HISTORY = SendHistory(sent_at={})
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def make_message(
    channels: Sequence[Channel] = (PUSH, EMAIL), *, category: str = "marketing", expires_after: timedelta | None = None
) -> Message:
    return Message.model_validate(
        {
            "id": "welcome",
            "category": category,
            "channels": list(channels),
            "expires_after": expires_after,
            "variants": {"neutral": {c: {"en": {"body": "Hello"}} for c in channels}},
        }
    )


def make_profile(
    *,
    reachable: Sequence[Channel] = (PUSH, EMAIL),
    consent: Mapping[Channel, bool] | None = None,
    time_zone: str | None = None,
) -> ProfileSnapshot:
    granted = dict.fromkeys(reachable, True) if consent is None else consent
    return ProfileSnapshot.model_validate(
        {
            "lifecycle_stage": "active",
            "time_zone": time_zone,
            "reachable": list(reachable),
            "channel_consent": {
                c: {"granted": g, "at": "2026-01-01T00:00:00Z", "source": "preference_center"}
                for c, g in granted.items()
            },
        }
    )


def make_policy(**fields: Any) -> Policy:
    return Policy.model_validate(fields)


def check(
    message: Message,
    profile: ProfileSnapshot,
    policy: Policy | None = None,
    *,
    now: datetime = NOW,
    history: SendHistory = NO_HISTORY,
    erased: bool = False,
) -> Eligibility:
    return eligibility(
        message,
        policy or make_policy(),
        profile,
        event_time=now - timedelta(minutes=5),
        now=now,
        history=history,
        erased=erased,
    )


def quiet(start: int, end: int, **fields: Any) -> Policy:
    return make_policy(quiet_hours={"start": time(start), "end": time(end)}, **fields)


# --- the matrix ---------------------------------------------------------------------------------

MATRIX = [
    # id, message, profile, policy, erased, expected (verdict, channels, reasons)
    ("marketing_ok", make_message(), make_profile(), None, False, (EligibilityVerdict.SEND, (PUSH, EMAIL), ())),
    ("erased", make_message(), make_profile(), None, True, (EligibilityVerdict.DROP, (), (Reason.ERASED,))),
    (
        "erased_transactional",
        make_message(category="transactional"),
        make_profile(),
        None,
        True,
        (EligibilityVerdict.DROP, (), (Reason.ERASED,)),
    ),
    (
        "no_consent_at_all",
        make_message(),
        make_profile(consent={}),
        None,
        False,
        (EligibilityVerdict.DROP, (), (Reason.NO_CONSENT,)),
    ),
    (
        "consent_withdrawn",
        make_message(),
        make_profile(consent={PUSH: False, EMAIL: False}),
        None,
        False,
        (EligibilityVerdict.DROP, (), (Reason.NO_CONSENT,)),
    ),
    (
        "consent_push_only",
        make_message(),
        make_profile(consent={PUSH: True, EMAIL: False}),
        None,
        False,
        (EligibilityVerdict.SEND, (PUSH,), ()),
    ),
    (
        "reachable_email_only",
        make_message(),
        make_profile(reachable=(EMAIL,), consent={PUSH: True, EMAIL: True}),
        None,
        False,
        (EligibilityVerdict.SEND, (EMAIL,), ()),
    ),
    (
        "unreachable",
        make_message(),
        make_profile(reachable=(SMS,), consent={PUSH: True, EMAIL: True}),
        None,
        False,
        (EligibilityVerdict.DROP, (), (Reason.UNREACHABLE,)),
    ),
    (
        "unreachable_and_no_consent",
        make_message(),
        make_profile(reachable=(), consent={}),
        None,
        False,
        (EligibilityVerdict.DROP, (), (Reason.UNREACHABLE,)),
    ),
    (
        # Reachable only where there is no consent: consent removed the last channel.
        "reachable_push_consent_email",
        make_message(),
        make_profile(reachable=(PUSH,), consent={EMAIL: True}),
        None,
        False,
        (EligibilityVerdict.DROP, (), (Reason.NO_CONSENT,)),
    ),
    (
        "not_in_channel_order",
        make_message((SMS, WHATSAPP)),
        make_profile(reachable=(SMS, WHATSAPP)),
        make_policy(channel_order=[PUSH, EMAIL]),
        False,
        (EligibilityVerdict.DROP, (), (Reason.NO_CHANNEL,)),
    ),
    (
        "channel_order_removes_one",
        make_message((PUSH, EMAIL)),
        make_profile(),
        make_policy(channel_order=[PUSH, SMS]),
        False,
        (EligibilityVerdict.SEND, (PUSH,), ()),
    ),
    (
        "policy_order_wins",
        make_message((EMAIL, SMS, PUSH)),
        make_profile(reachable=(EMAIL, SMS, PUSH)),
        None,
        False,
        (EligibilityVerdict.SEND, (PUSH, SMS, EMAIL), ()),
    ),
    (
        "transactional_ignores_consent",
        make_message(category="transactional"),
        make_profile(consent={}),
        None,
        False,
        (EligibilityVerdict.SEND, (PUSH, EMAIL), ()),
    ),
    (
        "transactional_needs_reachability",
        make_message(category="transactional"),
        make_profile(reachable=()),
        None,
        False,
        (EligibilityVerdict.DROP, (), (Reason.UNREACHABLE,)),
    ),
    (
        "transactional_ignores_quiet_hours",
        make_message(category="transactional"),
        make_profile(),
        quiet(11, 13),
        False,
        (EligibilityVerdict.SEND, (PUSH, EMAIL), ()),
    ),
    (
        "in_app_when_reachable",
        make_message((IN_APP, EMAIL)),
        make_profile(reachable=(IN_APP, EMAIL)),
        None,
        False,
        (EligibilityVerdict.SEND, (IN_APP, EMAIL), ()),
    ),
]


@pytest.mark.parametrize(
    ("message", "profile", "policy", "erased", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in MATRIX],
)
def test_matrix(
    message: Message,
    profile: ProfileSnapshot,
    policy: Policy | None,
    erased: bool,
    expected: tuple[EligibilityVerdict, tuple[Channel, ...], tuple[Reason, ...]],
) -> None:
    result = check(message, profile, policy, erased=erased)
    assert (result.verdict, result.channels, result.reasons) == expected
    assert result.not_before is None


@pytest.mark.parametrize(
    ("age", "verdict"),
    [
        (timedelta(hours=1), EligibilityVerdict.SEND),
        (timedelta(hours=2), EligibilityVerdict.SEND),  # exactly at the deadline: not yet later than it
        (timedelta(hours=2, microseconds=1), EligibilityVerdict.DROP),
        (timedelta(days=3), EligibilityVerdict.DROP),
    ],
)
def test_expiry(age: timedelta, verdict: EligibilityVerdict) -> None:
    result = eligibility(
        make_message(expires_after=timedelta(hours=2)),
        make_policy(),
        make_profile(),
        event_time=NOW - age,
        now=NOW,
        history=NO_HISTORY,
    )
    assert result.verdict is verdict
    if verdict is EligibilityVerdict.DROP:
        assert result.reasons == (Reason.EXPIRED,)
        assert result.channels == ()


def test_erased_and_expired_say_erased() -> None:
    message = make_message(expires_after=timedelta(minutes=1))
    assert check(message, make_profile(consent={}), erased=True).reasons == (Reason.ERASED,)
    assert check(message, make_profile(consent={})).reasons == (Reason.EXPIRED,)


def test_transactional_expires_too() -> None:
    result = check(make_message(category="transactional", expires_after=timedelta(minutes=1)), make_profile())
    assert (result.verdict, result.reasons) == (EligibilityVerdict.DROP, (Reason.EXPIRED,))


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        check(make_message(), make_profile(), now=NOW.replace(tzinfo=None))


# --- caps ---------------------------------------------------------------------------------------

DAY = timedelta(days=1)


def history(**sends: Sequence[timedelta]) -> SendHistory:
    """Sends per channel, given as ages before NOW (oldest first)."""
    return SendHistory(sent_at={Channel(c): [NOW - age for age in ages] for c, ages in sends.items()})


def test_cap_on_push_only_leaves_email() -> None:
    policy = make_policy(caps_per_channel={PUSH: {"count": 1, "per": DAY}})
    result = check(make_message(), make_profile(), policy, history=history(push=[timedelta(hours=2)]))
    assert result == Eligibility(EligibilityVerdict.SEND, (EMAIL,), (Reason.CAP_REACHED,), None)


def test_every_channel_capped_defers_until_the_first_slot_frees() -> None:
    policy = make_policy(
        caps_per_channel={PUSH: {"count": 2, "per": DAY}, EMAIL: {"count": 1, "per": timedelta(hours=12)}}
    )
    sends = history(push=[timedelta(hours=20), timedelta(hours=3)], email=[timedelta(hours=6)])
    result = check(make_message(), make_profile(), policy, history=sends)
    assert result.verdict is EligibilityVerdict.DEFER
    assert result.reasons == (Reason.CAP_REACHED,)
    assert result.channels == (PUSH, EMAIL)
    # Push frees when its send of 20 h ago leaves the day (in 4 h); email in 6 h.
    assert result.not_before == NOW + timedelta(hours=4)


def test_overall_cap_defers_until_the_oldest_counted_send_leaves() -> None:
    policy = make_policy(cap_overall={"count": 2, "per": timedelta(days=7)})
    sends = history(push=[timedelta(days=6)], sms=[timedelta(days=2)], email=[timedelta(days=8)])
    result = check(make_message(), make_profile(), policy, history=sends)
    assert (result.verdict, result.reasons) == (EligibilityVerdict.DEFER, (Reason.CAP_REACHED,))
    assert result.channels == (PUSH, EMAIL)
    assert result.not_before == NOW + DAY  # the SMS send counts although SMS is not a candidate


def test_over_full_cap_waits_for_enough_sends_to_leave() -> None:
    cap = Cap(count=2, per=DAY)
    sends = [NOW - timedelta(hours=h) for h in (23, 10, 5)]
    # Three counted, room for two: the two oldest must leave; the second oldest leaves in 14 h.
    assert slot_frees_at(cap, sends, NOW) == NOW + timedelta(hours=14)
    assert slot_frees_at(cap, sends[:1], NOW) is None
    assert slot_frees_at(None, sends, NOW) is None


def test_cap_window_bounds() -> None:
    cap = Cap(count=1, per=DAY)
    assert slot_frees_at(cap, [NOW - DAY], NOW) is None  # left the window exactly now
    assert slot_frees_at(cap, [NOW - DAY + timedelta(seconds=1)], NOW) == NOW + timedelta(seconds=1)
    assert slot_frees_at(cap, [NOW + timedelta(hours=1)], NOW) is None  # after `now`: a replay's future
    frees = slot_frees_at(cap, [datetime(2026, 6, 10, 13, 0, tzinfo=BERLIN)], NOW)
    assert frees == datetime(2026, 6, 11, 11, 0, tzinfo=UTC)
    assert frees is not None
    assert frees.tzinfo is UTC


def test_overall_and_channel_caps_take_the_later() -> None:
    policy = make_policy(
        caps_per_channel={PUSH: {"count": 1, "per": DAY}, EMAIL: {"count": 1, "per": DAY}},
        cap_overall={"count": 3, "per": timedelta(days=7)},
    )
    sends = history(push=[timedelta(days=3), timedelta(hours=23)], email=[timedelta(hours=12)])
    result = check(make_message(), make_profile(), policy, history=sends)
    # Push frees in 1 h, but the overall cap (3 of 3 used) only when the send of 3 days ago leaves.
    assert result.verdict is EligibilityVerdict.DEFER
    assert result.not_before == NOW + timedelta(days=4)
    assert result.reasons == (Reason.CAP_REACHED,)


def test_caps_not_full_send() -> None:
    policy = make_policy(caps_per_channel={PUSH: {"count": 2, "per": DAY}}, cap_overall={"count": 5, "per": DAY})
    sends = history(push=[timedelta(days=2), timedelta(hours=1)])
    assert check(make_message(), make_profile(), policy, history=sends) == Eligibility(
        EligibilityVerdict.SEND, (PUSH, EMAIL), (), None
    )


def test_transactional_ignores_caps() -> None:
    policy = make_policy(caps_per_channel={PUSH: {"count": 1, "per": DAY}}, cap_overall={"count": 1, "per": DAY})
    sends = history(push=[timedelta(hours=1)])
    result = check(make_message(category="transactional"), make_profile(consent={}), policy, history=sends)
    assert result == Eligibility(EligibilityVerdict.SEND, (PUSH, EMAIL), (), None)


# --- quiet hours --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "now", "not_before"),
    [
        # Quiet 21:00-08:00, evaluated at 22:00 local (23:00 for Chatham) on 2026-06-10.
        ("Europe/Berlin", "2026-06-10T20:00:00+00:00", "2026-06-11T06:00:00+00:00"),  # CEST +02:00
        ("America/New_York", "2026-06-11T02:00:00+00:00", "2026-06-11T12:00:00+00:00"),  # EDT -04:00
        ("Asia/Kolkata", "2026-06-10T16:30:00+00:00", "2026-06-11T02:30:00+00:00"),  # +05:30
        ("Pacific/Chatham", "2026-06-10T10:15:00+00:00", "2026-06-10T19:15:00+00:00"),  # +12:45 (winter)
        # After midnight: quiet hours end the same local day.
        ("Europe/Berlin", "2026-06-10T01:00:00+00:00", "2026-06-10T06:00:00+00:00"),
        ("Pacific/Chatham", "2026-06-10T14:00:00+00:00", "2026-06-10T19:15:00+00:00"),
    ],
)
def test_quiet_hours_span_midnight(zone: str, now: str, not_before: str) -> None:
    at = datetime.fromisoformat(now)
    result = check(make_message(), make_profile(time_zone=zone), quiet(21, 8), now=at)
    assert result.verdict is EligibilityVerdict.DEFER
    assert result.reasons == (Reason.QUIET_HOURS,)
    assert result.channels == (PUSH, EMAIL)
    assert result.not_before == datetime.fromisoformat(not_before)
    assert result.not_before is not None
    assert result.not_before.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("zone", "now"),
    [
        ("Europe/Berlin", "2026-06-10T18:59:59+00:00"),  # 20:59:59 local
        ("Europe/Berlin", "2026-06-10T06:00:00+00:00"),  # 08:00 local: the end is not quiet
        ("Asia/Kolkata", "2026-06-10T15:29:00+00:00"),  # 20:59 local
        ("Pacific/Chatham", "2026-06-10T19:15:00+00:00"),  # 08:00 local
    ],
)
def test_outside_quiet_hours_sends(zone: str, now: str) -> None:
    result = check(make_message(), make_profile(time_zone=zone), quiet(21, 8), now=datetime.fromisoformat(now))
    assert result == Eligibility(EligibilityVerdict.SEND, (PUSH, EMAIL), (), None)


@pytest.mark.parametrize(
    ("zone", "now", "not_before"),
    [
        # Berlin springs forward 2026-03-29 02:00 CET -> 03:00 CEST: 08:00 CEST is 06:00 UTC.
        ("Europe/Berlin", "2026-03-28T21:00:00+00:00", "2026-03-29T06:00:00+00:00"),
        ("Europe/Berlin", "2026-03-29T00:59:00+00:00", "2026-03-29T06:00:00+00:00"),  # 01:59 CET
        ("Europe/Berlin", "2026-03-29T01:00:00+00:00", "2026-03-29T06:00:00+00:00"),  # 03:00 CEST
        # Berlin falls back 2026-10-25 03:00 CEST -> 02:00 CET: 08:00 CET is 07:00 UTC.
        ("Europe/Berlin", "2026-10-24T20:00:00+00:00", "2026-10-25T07:00:00+00:00"),
        ("Europe/Berlin", "2026-10-25T00:30:00+00:00", "2026-10-25T07:00:00+00:00"),  # 02:30 CEST
        ("Europe/Berlin", "2026-10-25T01:30:00+00:00", "2026-10-25T07:00:00+00:00"),  # 02:30 CET
        # New York springs forward 2026-03-08 02:00 EST -> 03:00 EDT: 08:00 EDT is 12:00 UTC.
        ("America/New_York", "2026-03-08T03:00:00+00:00", "2026-03-08T12:00:00+00:00"),
        # New York falls back 2026-11-01 02:00 EDT -> 01:00 EST: 08:00 EST is 13:00 UTC.
        ("America/New_York", "2026-11-01T02:00:00+00:00", "2026-11-01T13:00:00+00:00"),
        ("America/New_York", "2026-11-01T06:30:00+00:00", "2026-11-01T13:00:00+00:00"),  # 01:30 EST
    ],
)
def test_quiet_hours_across_dst_changes(zone: str, now: str, not_before: str) -> None:
    result = check(make_message(), make_profile(time_zone=zone), quiet(21, 8), now=datetime.fromisoformat(now))
    assert (result.verdict, result.reasons) == (EligibilityVerdict.DEFER, (Reason.QUIET_HOURS,))
    assert result.not_before == datetime.fromisoformat(not_before)


def q(start: time, end: time) -> QuietHours:
    return QuietHours(start=start, end=end)


def test_nonexistent_end_moves_to_the_first_valid_instant() -> None:
    # 02:30 does not exist in Berlin on 2026-03-29: quiet hours end when the clocks jump to 03:00 CEST.
    end = quiet_until(q(time(22), time(2, 30)), datetime(2026, 3, 28, 23, 0, tzinfo=BERLIN))
    assert end == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert end is not None
    assert (end.hour, end.minute, end.utcoffset()) == (3, 0, timedelta(hours=2))
    end = quiet_until(q(time(22), time(2, 30)), datetime(2026, 3, 7, 23, 0, tzinfo=NEW_YORK))
    assert end == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)  # 03:00 EDT


def test_ambiguous_end_takes_the_first_occurrence_unless_past() -> None:
    quiet_hours = q(time(22), time(2, 30))
    first = quiet_until(quiet_hours, datetime(2026, 10, 24, 23, 0, tzinfo=BERLIN))
    # Compared in UTC: PEP 495 makes == between zones False for a time in the repeated hour.
    assert first is not None
    assert first.astimezone(UTC) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    assert (first.hour, first.minute, first.fold) == (2, 30, 0)
    # At 02:15 CET (the repeated hour) the first 02:30 has passed: the second one it is.
    second = quiet_until(quiet_hours, datetime(2026, 10, 25, 2, 15, fold=1, tzinfo=BERLIN))
    assert second is not None
    assert second.astimezone(UTC) == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 02:30 CET
    assert (second.hour, second.minute, second.fold) == (2, 30, 1)


def test_start_in_a_gap_still_counts() -> None:
    # Quiet from 02:30, which does not exist that night: 03:10 CEST is after it.
    end = quiet_until(q(time(2, 30), time(6)), datetime(2026, 3, 29, 3, 10, tzinfo=BERLIN))
    assert end == datetime(2026, 3, 29, 4, 0, tzinfo=UTC)


def test_daytime_quiet_hours_bounds() -> None:
    quiet_hours = q(time(12), time(14))
    at = datetime(2026, 6, 10, 12, 0, tzinfo=BERLIN)
    assert quiet_until(quiet_hours, at) == at.replace(hour=14)
    assert quiet_until(quiet_hours, at.replace(hour=13, minute=59)) == at.replace(hour=14)
    assert quiet_until(quiet_hours, at.replace(hour=14)) is None
    assert quiet_until(quiet_hours, at.replace(hour=11, minute=59)) is None


def test_quiet_until_needs_an_aware_datetime() -> None:
    with pytest.raises(ValueError, match="aware"):
        quiet_until(q(time(22), time(6)), datetime(2026, 6, 10, 23, 0))


@pytest.mark.parametrize(
    ("profile_zone", "expected"),
    [
        ("Asia/Tokyo", "Asia/Tokyo"),
        (None, "Asia/Kolkata"),
        ("", "Asia/Kolkata"),
        ("Mars/Olympus_Mons", "Asia/Kolkata"),
        ("America", "Asia/Kolkata"),  # a directory of the tz database, not a zone
        ("../../etc/passwd", "Asia/Kolkata"),
        ("x" * 300, "Asia/Kolkata"),
    ],
)
def test_local_now_falls_back_to_the_policy_zone(profile_zone: str | None, expected: str) -> None:
    local = local_now(make_profile(time_zone=profile_zone), make_policy(default_time_zone="Asia/Kolkata"), NOW)
    assert local == NOW
    assert local.tzinfo == ZoneInfo(expected)


def test_unknown_zone_uses_the_policy_default_for_quiet_hours() -> None:
    policy = quiet(21, 8, default_time_zone="America/New_York")
    at = datetime(2026, 6, 11, 2, 0, tzinfo=UTC)  # 22:00 EDT; 04:00 in Berlin, 02:00 UTC
    result = check(make_message(), make_profile(time_zone="Not/AZone"), policy, now=at)
    assert result.not_before == datetime(2026, 6, 11, 12, 0, tzinfo=UTC)
    daytime = check(make_message(), make_profile(), quiet(21, 8), now=NOW)  # UTC default: 12:00
    assert daytime.verdict is EligibilityVerdict.SEND


def test_quiet_hours_and_caps_defer_to_the_later() -> None:
    policy = quiet(21, 8, cap_overall={"count": 1, "per": DAY}, default_time_zone="Europe/Berlin")
    at = datetime(2026, 6, 10, 20, 0, tzinfo=UTC)  # 22:00 CEST, quiet until 06:00 UTC
    early = SendHistory(sent_at={PUSH: [at - timedelta(hours=20)]})  # frees in 4 h
    late = SendHistory(sent_at={PUSH: [at - timedelta(hours=1)]})  # frees in 23 h
    for sends, not_before in ((early, datetime(2026, 6, 11, 6, 0, tzinfo=UTC)), (late, at + timedelta(hours=23))):
        result = check(make_message(), make_profile(), policy, now=at, history=sends)
        assert result.verdict is EligibilityVerdict.DEFER
        assert result.reasons == (Reason.CAP_REACHED, Reason.QUIET_HOURS)
        assert result.not_before == not_before


def test_quiet_hours_with_a_partial_cap() -> None:
    policy = quiet(21, 8, caps_per_channel={PUSH: {"count": 1, "per": DAY}}, default_time_zone="Europe/Berlin")
    at = datetime(2026, 6, 10, 20, 0, tzinfo=UTC)
    result = check(make_message(), make_profile(), policy, now=at, history=SendHistory({PUSH: [at]}))
    assert result == Eligibility(
        EligibilityVerdict.DEFER,
        (EMAIL,),
        (Reason.CAP_REACHED, Reason.QUIET_HOURS),
        datetime(2026, 6, 11, 6, 0, tzinfo=UTC),
    )


def test_transactional_bypasses_consent_caps_and_quiet_hours_together() -> None:
    policy = quiet(0, 23, cap_overall={"count": 1, "per": DAY}, caps_per_channel={PUSH: {"count": 1, "per": DAY}})
    sends = SendHistory({PUSH: [NOW - timedelta(minutes=1)]})
    result = check(make_message(category="transactional"), make_profile(consent={}), policy, history=sends)
    assert result == Eligibility(EligibilityVerdict.SEND, (PUSH, EMAIL), (), None)


def test_reason_codes_are_stable() -> None:
    assert [r.value for r in Reason] == [
        "erased",
        "expired",
        "no_consent",
        "unreachable",
        "no_channel",
        "cap_reached",
        "quiet_hours",
        "collapsed",
    ]


# --- properties ---------------------------------------------------------------------------------

DELIVERABLE = list(DEFAULT_CHANNEL_ORDER)
# Listed once: `st.timezone_keys()` scans the tz database on every draw inside a composite.
ZONE_KEYS = st.sampled_from(sorted(available_timezones()))
ZONE_NAMES = st.one_of(
    st.none(),
    st.sampled_from(["", "Mars/Base", "America", "Europe/Berlin", "Pacific/Chatham", "Australia/Lord_Howe"]),
    st.sampled_from(["Pacific/Apia", "Asia/Kolkata", "America/New_York", "America/St_Johns", "Asia/Tehran"]),
    ZONE_KEYS,
)
WINDOWS = st.timedeltas(min_value=timedelta(minutes=1), max_value=timedelta(days=31))
CAPS = st.builds(Cap, count=st.integers(1, 5), per=WINDOWS)
LOCAL_TIMES = st.builds(time, st.integers(0, 23), st.integers(0, 59))
QUIET_HOURS = st.tuples(LOCAL_TIMES, LOCAL_TIMES).filter(lambda p: p[0] != p[1]).map(lambda p: q(*p))
INSTANTS = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.sampled_from([UTC, BERLIN, NEW_YORK])
)


@st.composite
def cases(draw: st.DrawFn) -> tuple[Message, Policy, ProfileSnapshot, datetime, datetime, SendHistory]:
    channels = draw(st.lists(st.sampled_from(DELIVERABLE), min_size=1, unique=True))
    message = make_message(
        channels,
        category=draw(st.sampled_from(["marketing", "transactional"])),
        expires_after=draw(st.none() | st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=30))),
    )
    policy = Policy(
        channel_order=draw(st.permutations(DELIVERABLE).flatmap(lambda p: st.integers(0, 5).map(lambda n: p[:n]))),
        cap_overall=draw(st.none() | CAPS),
        caps_per_channel=draw(st.dictionaries(st.sampled_from(DELIVERABLE), CAPS)),
        quiet_hours=draw(st.none() | QUIET_HOURS),
        default_time_zone=draw(ZONE_KEYS),
    )
    profile = ProfileSnapshot.model_validate(
        {
            "lifecycle_stage": "active",
            "time_zone": draw(ZONE_NAMES),
            "reachable": draw(st.lists(st.sampled_from(list(Channel)), unique=True)),
            "channel_consent": {
                c: {"granted": g, "at": "2026-01-01T00:00:00Z", "source": "test"}
                for c, g in draw(st.dictionaries(st.sampled_from(DELIVERABLE), st.booleans())).items()
            },
        }
    )
    now = draw(INSTANTS)
    event_time = now - draw(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=40)))
    ages = st.lists(st.timedeltas(min_value=-timedelta(days=1), max_value=timedelta(days=40)), max_size=6)
    sent_at = {c: [now - age for age in draw(ages)] for c in draw(st.lists(st.sampled_from(DELIVERABLE), unique=True))}
    return message, policy, profile, event_time, now, SendHistory(sent_at)


@settings(max_examples=300, deadline=None)
@given(cases(), st.booleans())
def test_eligibility_invariants(
    case: tuple[Message, Policy, ProfileSnapshot, datetime, datetime, SendHistory], erased: bool
) -> None:
    message, policy, profile, event_time, now, sends = case
    result = eligibility(message, policy, profile, event_time=event_time, now=now, history=sends, erased=erased)
    assert set(result.channels) <= set(message.channels) & set(profile.reachable) & set(policy.channel_order)
    order = [c for c in policy.channel_order if c in result.channels]
    assert list(result.channels) == order
    if result.verdict is EligibilityVerdict.SEND:
        assert result.channels
        assert result.not_before is None
    elif result.verdict is EligibilityVerdict.DEFER:
        assert result.channels
        assert result.not_before is not None
        assert result.not_before > now
        assert result.not_before.utcoffset() == timedelta(0)
        assert {Reason.CAP_REACHED, Reason.QUIET_HOURS} & set(result.reasons)
    else:
        assert result.channels == ()
        assert len(result.reasons) == 1
    if erased:
        assert result.reasons == (Reason.ERASED,)


@settings(max_examples=300, deadline=None)
@given(QUIET_HOURS, INSTANTS, ZONE_KEYS)
def test_quiet_until_ends_after_local_within_a_day(quiet_hours: QuietHours, instant: datetime, key: str) -> None:
    local = instant.astimezone(ZoneInfo(key))
    end = quiet_until(quiet_hours, local)
    wall = local.time()
    if quiet_hours.start < quiet_hours.end:
        inside, end_day = quiet_hours.start <= wall < quiet_hours.end, local.date()
    else:
        inside = wall >= quiet_hours.start or wall < quiet_hours.end
        end_day = local.date() + timedelta(days=int(wall >= quiet_hours.start))
    assert (end is not None) == inside
    if end is not None:
        assert local < end <= local + timedelta(days=2)
        # The clock reads the end time then, unless that time was skipped (then it reads later).
        assert end.replace(tzinfo=None) >= datetime.combine(end_day, quiet_hours.end)


def test_a_webhook_message_notifies_its_system_whatever_the_customer_allows() -> None:
    # No address, no consent, a full cap and quiet hours: none of them is the system's business.
    hook = make_message([Channel.WEBHOOK])
    policy = make_policy(cap_overall={"count": 1, "per": "P1D"}, quiet_hours={"start": "00:00", "end": "23:59"})
    full = SendHistory(sent_at={PUSH: [NOW - timedelta(hours=1)]})
    verdict = check(hook, make_profile(reachable=(), consent={}), policy, history=full)
    assert (verdict.verdict, verdict.channels) == (EligibilityVerdict.SEND, (Channel.WEBHOOK,))
    assert check(hook, make_profile(), erased=True).reasons == (Reason.ERASED,)
    late = make_message([Channel.WEBHOOK], expires_after=timedelta(minutes=1))
    assert check(late, make_profile()).reasons == (Reason.EXPIRED,)  # its event was 5 minutes ago
    # And what went to a system counts against none of the customer's caps.
    notified = SendHistory(sent_at={Channel.WEBHOOK: [NOW - timedelta(minutes=m) for m in range(5)]})
    capped = make_policy(cap_overall={"count": 1, "per": "P1D"})
    assert check(make_message(), make_profile(), capped, history=notified).verdict is EligibilityVerdict.SEND
