"""Channel choice: in-app when active, mobile first, affinity re-ranking, email last, holdout (pure)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metaconnect_common.schemas import Channel
from metaconnect_common.schemas.profiled import ProfileSnapshot
from metaconnect_router.channels import (
    ChannelChoice,
    active_now,
    bundle_channels,
    channel_affinity,
    choose_channel,
    hour_responsiveness,
    local_now,
)
from metaconnect_router.routes.spec import DEFAULT_CHANNEL_ORDER, Policy

PUSH, EMAIL, SMS, IN_APP, WHATSAPP = Channel.PUSH, Channel.EMAIL, Channel.SMS, Channel.IN_APP, Channel.WHATSAPP
POLICY = Policy()
REASONS = {"only_channel", "in_app_active", "affinity", "default_order", "holdout_default", "transactional"}
# Active evenings: 18:00-22:00 local.
EVENINGS = [0.0] * 18 + [4.0, 6.0, 8.0, 6.0, 2.0, 0.0]


def make_profile(
    engagement: Mapping[Channel, Mapping[str, float]] | None = None, active_hours: Sequence[float] | None = None
) -> ProfileSnapshot:
    document: dict[str, Any] = {"lifecycle_stage": "active", "engagement": dict(engagement or {})}
    if active_hours is not None:
        document["active_hours"] = list(active_hours)
    return ProfileSnapshot.model_validate(document)


def rate(sent: float, engaged: float, kind: str = "opened") -> dict[str, float]:
    return {"sent": sent, "delivered": sent, kind: engaged}


def choose(
    eligible: Sequence[Channel],
    profile: ProfileSnapshot,
    *,
    local_hour: int = 12,
    holdout: bool = False,
    policy: Policy = POLICY,
    transactional: bool = False,
) -> ChannelChoice:
    return choose_channel(
        eligible, profile, policy, local_hour=local_hour, holdout=holdout, transactional=transactional
    )


def test_only_channel() -> None:
    choice = choose([EMAIL], make_profile())
    assert (choice.channel, choice.reason) == (EMAIL, "only_channel")
    assert [c for c, _ in choice.ranked] == [EMAIL]
    assert choose([IN_APP], make_profile(active_hours=EVENINGS), local_hour=4).channel is IN_APP


def test_in_app_when_active() -> None:
    choice = choose([IN_APP, PUSH, EMAIL], make_profile(active_hours=EVENINGS), local_hour=20)
    assert (choice.channel, choice.reason) == (IN_APP, "in_app_active")
    assert [c for c, _ in choice.ranked] == [IN_APP, PUSH, EMAIL]


def test_push_when_not_active_in_app_goes_last() -> None:
    choice = choose([IN_APP, PUSH, EMAIL], make_profile(active_hours=EVENINGS), local_hour=9)
    assert (choice.channel, choice.reason) == (PUSH, "default_order")
    assert [c for c, _ in choice.ranked] == [PUSH, EMAIL, IN_APP]


def test_in_app_skipped_even_for_email_alone() -> None:
    choice = choose([IN_APP, EMAIL], make_profile(active_hours=EVENINGS), local_hour=9)
    assert (choice.channel, choice.reason) == (EMAIL, "default_order")


def test_no_data_keeps_the_policy_order() -> None:
    choice = choose([PUSH, WHATSAPP, SMS, EMAIL], make_profile())
    assert (choice.channel, choice.reason) == (PUSH, "default_order")
    assert [c for c, _ in choice.ranked] == [PUSH, WHATSAPP, SMS, EMAIL]
    scores = [s for _, s in choice.ranked]
    assert scores == sorted(scores, reverse=True)


def test_affinity_reranks_mobile_channels() -> None:
    profile = make_profile({PUSH: rate(20, 0), WHATSAPP: rate(10, 8, "replied")})
    choice = choose([PUSH, WHATSAPP, SMS], profile)
    assert (choice.channel, choice.reason) == (WHATSAPP, "affinity")
    assert [c for c, _ in choice.ranked] == [WHATSAPP, SMS, PUSH]


def test_a_small_affinity_edge_does_not_beat_the_order() -> None:
    profile = make_profile({PUSH: rate(10, 3), WHATSAPP: rate(10, 4, "replied")})
    assert choose([PUSH, WHATSAPP], profile).channel is PUSH


def test_email_last_unless_twice_as_engaging() -> None:
    # Email scores higher (0.99 against 0.9 for push) but is not twice as engaging: last all the same.
    profile = make_profile({PUSH: rate(16, 5.6), EMAIL: rate(16, 8.6)})
    assert channel_affinity(profile, EMAIL) < 2 * channel_affinity(profile, PUSH)
    choice = choose([PUSH, EMAIL], profile)
    assert (choice.channel, choice.reason) == (PUSH, "default_order")
    assert dict(choice.ranked)[EMAIL] > dict(choice.ranked)[PUSH]
    assert [c for c, _ in choice.ranked] == [PUSH, EMAIL]


def test_email_first_when_far_more_engaging() -> None:
    profile = make_profile({PUSH: rate(40, 0), SMS: rate(10, 1, "clicked"), EMAIL: rate(40, 30)})
    choice = choose([IN_APP, PUSH, SMS, EMAIL], profile)
    assert (choice.channel, choice.reason) == (EMAIL, "affinity")
    assert [c for c, _ in choice.ranked] == [EMAIL, SMS, PUSH, IN_APP]


def test_hour_responsiveness_decides_when_email_competes() -> None:
    # Email twice as engaging as push: it competes on score, and push's score depends on the hour.
    profile = make_profile({EMAIL: rate(6, 5)}, active_hours=EVENINGS)
    assert channel_affinity(profile, EMAIL) >= 2 * channel_affinity(profile, PUSH)
    # Push 1.0 x 0.75 x 1.25 against email 0.8 x 1.1 x 1.0 in the evening; push x 0.75 at night.
    assert choose([PUSH, SMS, EMAIL], profile, local_hour=20).channel is PUSH
    assert choose([PUSH, SMS, EMAIL], profile, local_hour=4).channel is EMAIL


def test_email_lowest_even_when_the_policy_puts_it_first() -> None:
    policy = Policy(channel_order=[EMAIL, SMS, PUSH])
    choice = choose([EMAIL, SMS, PUSH], make_profile(), policy=policy)
    assert (choice.channel, choice.reason) == (SMS, "default_order")
    assert [c for c, _ in choice.ranked] == [SMS, PUSH, EMAIL]


def test_holdout_gets_the_first_channel_in_policy_order() -> None:
    profile = make_profile({PUSH: rate(40, 0), EMAIL: rate(40, 30)}, active_hours=EVENINGS)
    choice = choose([IN_APP, PUSH, EMAIL], profile, local_hour=4, holdout=True)
    assert (choice.channel, choice.reason) == (IN_APP, "holdout_default")
    assert choose([EMAIL, PUSH], profile, holdout=True).channel is PUSH  # policy order, not the input's


def test_deterministic_and_independent_of_input_order() -> None:
    profile = make_profile({PUSH: rate(20, 2), SMS: rate(5, 2, "clicked"), EMAIL: rate(9, 4)}, EVENINGS)
    first = choose([PUSH, SMS, EMAIL, IN_APP], profile, local_hour=19)
    assert all(choose([PUSH, SMS, EMAIL, IN_APP], profile, local_hour=19) == first for _ in range(5))
    assert choose([EMAIL, IN_APP, SMS, PUSH], profile, local_hour=19) == first


def test_needs_a_channel() -> None:
    with pytest.raises(ValueError, match="at least one"):
        choose([], make_profile())


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        (None, 0.25),  # unused: the prior mean
        ({}, 0.25),
        ({"sent": 16.0, "opened": 4.0}, 5 / 20),
        ({"sent": 16.0, "delivered": 12.0, "opened": 6.0, "clicked": 3.0}, 7 / 20),  # clicks follow opens
        ({"sent": 2.0, "delivered": 8.0, "replied": 4.0}, 5 / 12),  # more delivered than sent receipts
        ({"opened": 6.0}, 7 / 10),  # engagement without send receipts
        ({"sent": 96.0, "failed": 90.0}, 1 / 100),  # failures count against the channel
    ],
)
def test_channel_affinity(counts: dict[str, float] | None, expected: float) -> None:
    profile = make_profile(None if counts is None else {PUSH: counts})
    assert channel_affinity(profile, PUSH) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("hours", "hour", "active"),
    [
        ([0.0] * 24, 20, False),
        (EVENINGS, 20, True),
        (EVENINGS, 17, False),  # one busier hour next to it is not enough
        (EVENINGS, 22, True),
        (EVENINGS, 16, False),
        (EVENINGS, 9, False),
        ([1.0] * 24, 12, False),  # round the clock: no hour stands out
        ([0.0] * 7 + [1.0] * 16 + [0.0], 12, True),  # an even 16-hour day: every waking hour
        ([0.0] * 7 + [1.0] * 16 + [0.0], 3, False),
        ([0.0] * 20 + [2.0] + [0.0] * 3, 20, False),  # two events say nothing yet
        ([2.0] + [0.0] * 22 + [2.0], 0, True),  # around midnight: the window wraps
        ([2.0] + [0.0] * 22 + [2.0], 23, True),
        ([2.0] + [0.0] * 22 + [2.0], 12, False),
    ],
)
def test_active_now(hours: list[float], hour: int, active: bool) -> None:
    assert active_now(make_profile(active_hours=hours), hour) is active


def test_hour_responsiveness() -> None:
    assert hour_responsiveness(make_profile(), 12) == 0.5  # nothing to go on
    assert hour_responsiveness(make_profile(active_hours=[1.0] * 24), 5) == pytest.approx(0.5)
    assert hour_responsiveness(make_profile(active_hours=EVENINGS), 20) == 1.0
    assert hour_responsiveness(make_profile(active_hours=EVENINGS), 9) == 0.0


def test_a_transactional_message_notifies_and_leaves_a_copy_in_the_inbox() -> None:
    # Active in the app right now, and push is allowed: the push notifies, the inbox keeps a copy.
    choice = choose([IN_APP, PUSH, EMAIL], make_profile(active_hours=EVENINGS), local_hour=20, transactional=True)
    assert (choice.channel, choice.reason, choice.inbox_copy) == (PUSH, "transactional", True)
    assert [c for c, _ in choice.ranked] == [PUSH, EMAIL]
    # No in-app allowed or reachable: no copy.
    plain = choose([SMS, EMAIL], make_profile(), transactional=True)
    assert (plain.channel, plain.inbox_copy) == (SMS, False)
    # In-app the only channel the route allows (or reaches): the inbox alone, as the route says.
    alone = choose([IN_APP], make_profile(), transactional=True)
    assert (alone.channel, alone.reason, alone.inbox_copy) == (IN_APP, "only_channel", False)
    # Holdout: the first notifying channel in the policy's order.
    held = choose([IN_APP, EMAIL, PUSH], make_profile(), holdout=True, transactional=True)
    assert (held.channel, held.reason, held.inbox_copy) == (PUSH, "holdout_default", True)


# --- properties ---------------------------------------------------------------------------------

COUNTS = st.floats(min_value=-1.0, max_value=1e6) | st.sampled_from([math.nan, math.inf, -math.inf])
ENGAGEMENT = st.dictionaries(
    st.sampled_from(list(DEFAULT_CHANNEL_ORDER)),
    st.fixed_dictionaries({}, optional=dict.fromkeys(["sent", "delivered", "opened", "clicked", "replied"], COUNTS)),
)
HISTOGRAM = st.lists(st.floats(min_value=0.0, max_value=1e4), min_size=24, max_size=24)


@settings(max_examples=300, deadline=None)
@given(
    eligible=st.lists(st.sampled_from(list(DEFAULT_CHANNEL_ORDER)), min_size=1, unique=True),
    order=st.permutations(list(DEFAULT_CHANNEL_ORDER)),
    engagement=ENGAGEMENT,
    hours=HISTOGRAM,
    local_hour=st.integers(0, 23),
    holdout=st.booleans(),
    transactional=st.booleans(),
)
def test_choice_invariants(
    eligible: list[Channel],
    order: list[Channel],
    engagement: dict[Channel, dict[str, float]],
    hours: list[float],
    local_hour: int,
    holdout: bool,
    transactional: bool,
) -> None:
    profile = make_profile(engagement, hours)
    policy = Policy(channel_order=order)
    choice = choose(
        eligible, profile, local_hour=local_hour, holdout=holdout, policy=policy, transactional=transactional
    )
    assert choice.channel in eligible
    assert choice.ranked[0][0] is choice.channel
    assert choice.reason in REASONS
    notifying = [c for c in eligible if c is not IN_APP]
    if transactional and notifying:
        # Never the inbox alone while a notifying channel is allowed; the inbox then gets a copy.
        assert sorted(c for c, _ in choice.ranked) == sorted(notifying)
        assert choice.inbox_copy is (IN_APP in eligible)
        if holdout:
            assert choice.channel is min(notifying, key=order.index)
        return
    assert not choice.inbox_copy
    assert sorted(c for c, _ in choice.ranked) == sorted(eligible)
    if holdout and len(eligible) > 1:
        assert choice.channel is min(eligible, key=order.index)
    if not holdout and EMAIL in eligible and len(eligible) > 1 and choice.channel is EMAIL:
        assert choice.reason == "affinity" or set(eligible) == {EMAIL, IN_APP}
    for channel in DEFAULT_CHANNEL_ORDER:
        assert 0.0 <= channel_affinity(profile, channel) <= 1.0
    assert 0.0 <= hour_responsiveness(profile, local_hour) <= 1.0


NOON = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)


def test_local_now_reads_the_customers_zone_then_the_policys_then_utc() -> None:
    berlin = make_profile().model_copy(update={"time_zone": "Europe/Berlin"})
    assert local_now(berlin, POLICY, NOON).hour == 14
    unknown = make_profile().model_copy(update={"time_zone": "Europe/Berlln"})
    assert local_now(unknown, Policy(default_time_zone="America/New_York"), NOON).hour == 8
    assert local_now(unknown, POLICY, NOON).hour == 12
    with pytest.raises(ValueError, match="aware"):
        local_now(berlin, POLICY, NOON.replace(tzinfo=None))


def test_a_bundle_goes_on_a_channel_every_item_allows() -> None:
    profile = make_profile().model_copy(update={"reachable": [PUSH, EMAIL, SMS]})
    assert bundle_channels([[SMS, PUSH, EMAIL], [EMAIL, PUSH]], profile, POLICY, NOON) == [PUSH, EMAIL]


def test_a_bundle_whose_items_share_no_channel_goes_on_the_first_items() -> None:
    assert bundle_channels([[SMS], [EMAIL]], None, POLICY, NOON) == [SMS]


def test_a_bundle_prefers_reachable_channels_and_keeps_the_others_when_none_is() -> None:
    reachable = make_profile().model_copy(update={"reachable": [EMAIL]})
    assert bundle_channels([[PUSH, EMAIL]], reachable, POLICY, NOON) == [EMAIL]
    nowhere = make_profile()
    assert bundle_channels([[PUSH, EMAIL]], nowhere, POLICY, NOON) == [PUSH, EMAIL]


def test_a_bundle_in_holdout_keeps_the_policy_order() -> None:
    fan_of_email = make_profile({EMAIL: rate(10, 9), PUSH: rate(10, 0)}).model_copy(
        update={"reachable": [PUSH, EMAIL], "holdout": True}
    )
    assert bundle_channels([[EMAIL, PUSH]], fan_of_email, POLICY, NOON) == [PUSH, EMAIL]


def test_a_bundle_without_channels_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        bundle_channels([[]], None, POLICY, NOON)
