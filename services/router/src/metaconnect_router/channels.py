"""Which eligible channel one delivery goes out on, on the customer's wall clock (pure).

Shared by the decision (one message) and the bundle flush (the items of one bundle).

Mobile first, email last, re-ranked by the customer's learned channel affinity and how
active they usually are at this local hour:

    score = order weight x (0.5 + affinity) x (0.75 + 0.5 x hour responsiveness)

The order weight is 1.0, 0.9, 0.8, ... down the policy's order with email always lowest;
affinity and responsiveness lie in [0, 1], so each factor can move a score by half or a
quarter of itself either way. Highest score wins; ties keep the policy's order.

A transactional message must reach the customer now, so it goes on a *notifying* channel
(push, WhatsApp, SMS, e-mail) whenever one is eligible; in-app, when eligible too, carries a
copy in the inbox (`inbox_copy`), never the only one. Only a message whose sole eligible
channel is in-app goes to the inbox alone. A webhook message notifies a system, not the
customer: it goes on the webhook and nowhere else.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from metaconnect_common.schemas import Channel
from metaconnect_common.schemas.profiled import ProfileSnapshot
from metaconnect_router.routes.spec import Policy

HOURS: Final = 24
# Beta(1, 3) prior: an unused channel sits at 0.25, worth four deliveries of evidence.
PRIOR_A: Final = 1.0
PRIOR_B: Final = 3.0
ORDER_STEP: Final = 0.1
MIN_ORDER_WEIGHT: Final = 0.1
# Active hours: the share of activity in this hour and its two neighbours. Round the clock
# that share is 3/24; "usually active" needs ~1.4 times that, which a customer active evenly
# over a 16-hour day reaches in every waking hour (3/16) and one active around the clock never does.
WINDOW: Final = (-1, 0, 1)
UNIFORM_SHARE: Final = len(WINDOW) / HOURS
ACTIVE_SHARE: Final = 0.175
# Fewer (time-decayed) events than this say nothing about the customer's hours.
MIN_ACTIVITY: Final = 3.0
NEUTRAL_RESPONSIVENESS: Final = 0.5
# Email goes last unless the customer engages with it at least this many times as well as
# with the best mobile channel left.
EMAIL_AFFINITY_RATIO: Final = 2.0
# Channels that reach the customer when sent (the inbox waits until the app is opened).
NOTIFYING: Final = frozenset({Channel.PUSH, Channel.WHATSAPP, Channel.SMS, Channel.EMAIL})


@dataclass(frozen=True)
class ChannelChoice:
    """The choice, every candidate with its score in the order this decision falls back, and why."""

    channel: Channel
    ranked: tuple[tuple[Channel, float], ...]
    reason: str  # "only_channel", "in_app_active", "affinity", "default_order", "holdout_default", "transactional"
    inbox_copy: bool = False
    """A transactional message sent on a notifying channel that is also stored in the in-app inbox."""


def choose_channel(
    eligible: Sequence[Channel],
    profile: ProfileSnapshot,
    policy: Policy,
    *,
    local_hour: int,
    holdout: bool,
    transactional: bool = False,
) -> ChannelChoice:
    """The channel for one delivery among `eligible` (non-empty, from `eligibility`).

    * `transactional` with a notifying channel eligible: the notifying channels ranked as below
      (`transactional`, or `holdout_default` for the first in policy order), in-app left out of the
      fail-over and carried as `inbox_copy` when it was eligible;
    * one channel: that one (`only_channel`);
    * `holdout` (the caller combines the profile's and the route's): the first in policy order,
      unpersonalised, so uplift can be measured (`holdout_default`);
    * in-app when the customer is usually active at `local_hour` (`in_app_active`); otherwise
      in-app is skipped (an in-app message waits until the app is opened) and goes last;
    * else the best score (`affinity` when that is not the first channel in default order,
      else `default_order`); email stays last unless the email rule lets it compete.
    """
    if not eligible:
        raise ValueError("choose_channel needs at least one eligible channel")
    ordered = _policy_ordered(eligible, policy)
    share = _window_share(profile, local_hour)
    scores = _scores(ordered, profile, _responsiveness(share))

    def ranked(channels: Sequence[Channel]) -> tuple[tuple[Channel, float], ...]:
        return tuple((c, scores[c]) for c in channels)

    notifying = [c for c in ordered if c in NOTIFYING]
    if transactional and notifying:
        order = notifying if holdout else _fallback(notifying, scores, profile)
        return ChannelChoice(
            order[0],
            ranked(order),
            "holdout_default" if holdout else "transactional",
            inbox_copy=Channel.IN_APP in ordered,
        )
    if len(ordered) == 1:
        return ChannelChoice(ordered[0], ranked(ordered), "only_channel")
    if holdout:
        return ChannelChoice(ordered[0], ranked(ordered), "holdout_default")
    rest = [c for c in ordered if c is not Channel.IN_APP]
    if Channel.IN_APP in ordered and _active(share):
        return ChannelChoice(
            Channel.IN_APP, ranked([Channel.IN_APP, *_fallback(rest, scores, profile)]), "in_app_active"
        )
    skipped = [Channel.IN_APP] if Channel.IN_APP in ordered else []
    order = [*_fallback(rest, scores, profile), *skipped]
    default_first = ([c for c in rest if c is not Channel.EMAIL] or rest)[0]
    return ChannelChoice(order[0], ranked(order), "default_order" if order[0] is default_first else "affinity")


def bundle_channels(
    allowed: Sequence[Sequence[Channel]], profile: ProfileSnapshot | None, policy: Policy, now: datetime
) -> list[Channel]:
    """The channels of one bundle's delivery, best first: those every item allows (the first
    item's when they share none), reachable ones first, ranked by `choose_channel` at `now`."""
    if not allowed or not allowed[0]:
        raise ValueError("bundle_channels needs at least one item with a channel")
    common = [c for c in allowed[0] if all(c in a for a in allowed[1:])] or list(allowed[0])
    if profile is None:
        return common
    reachable = [c for c in common if c in profile.reachable] or common
    choice = choose_channel(
        reachable, profile, policy, local_hour=local_now(profile, policy, now).hour, holdout=profile.holdout
    )
    return [c for c, _ in choice.ranked]


@lru_cache(maxsize=1024)
def _zone(name: str | None) -> tzinfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory ("America") or a too-long name
        return None


def local_now(profile: ProfileSnapshot, policy: Policy, now: datetime) -> datetime:
    """`now` on the customer's wall clock: `profile.time_zone`, else (absent or not a zone this
    tz database knows) `policy.default_time_zone`, else UTC."""
    # A naive datetime would be read in the host's time zone: not a pure function any more.
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    zone = _zone(profile.time_zone) or _zone(policy.default_time_zone) or UTC
    return now.astimezone(zone)


def _policy_ordered(eligible: Sequence[Channel], policy: Policy) -> list[Channel]:
    # `eligible` should already be in policy order; sorting again costs nothing and makes sure.
    position = {c: i for i, c in enumerate(policy.channel_order)}
    unique = list(dict.fromkeys(eligible))
    return sorted(unique, key=lambda c: (position.get(c, len(position)), unique.index(c)))


def _scores(ordered: Sequence[Channel], profile: ProfileSnapshot, responsiveness: float) -> dict[Channel, float]:
    by_weight = [c for c in ordered if c is not Channel.EMAIL] + [c for c in ordered if c is Channel.EMAIL]
    scores: dict[Channel, float] = {}
    for i, channel in enumerate(by_weight):
        weight = max(MIN_ORDER_WEIGHT, 1.0 - ORDER_STEP * i)
        # Email waits in the inbox until the customer looks, so the hour of sending is neutral for it.
        hour = NEUTRAL_RESPONSIVENESS if channel is Channel.EMAIL else responsiveness
        scores[channel] = weight * (0.5 + channel_affinity(profile, channel)) * (0.75 + 0.5 * hour)
    return scores


def _fallback(candidates: Sequence[Channel], scores: dict[Channel, float], profile: ProfileSnapshot) -> list[Channel]:
    """Candidates best first: by score (ties in policy order), email last unless the email rule holds."""
    position = {c: i for i, c in enumerate(candidates)}

    def by_score(channels: Sequence[Channel]) -> list[Channel]:
        return sorted(channels, key=lambda c: (-scores[c], position[c]))

    mobile = [c for c in candidates if c is not Channel.EMAIL]
    if Channel.EMAIL in candidates and mobile and not _email_competes(profile, mobile):
        return [*by_score(mobile), Channel.EMAIL]
    return by_score(candidates)


def _email_competes(profile: ProfileSnapshot, mobile: Sequence[Channel]) -> bool:
    best_mobile = max(channel_affinity(profile, c) for c in mobile)
    return channel_affinity(profile, Channel.EMAIL) >= EMAIL_AFFINITY_RATIO * best_mobile


def _count(value: float) -> float:
    # Decayed counts are non-negative and finite by construction; a stray value must not leave [0, 1].
    # (nan, inf and anything <= 0 all fail the chained comparison.)
    return value if 0.0 < value < math.inf else 0.0


def channel_affinity(profile: ProfileSnapshot, channel: Channel) -> float:
    """Smoothed share of messages on `channel` the customer engaged with, in [0, 1].

    `(engaged + PRIOR_A) / (tried + PRIOR_A + PRIOR_B)`, where engaged is the largest of opened,
    clicked and replied (a click or reply mostly follows an open, so summing them would count one
    message two or three times) and tried is what was sent (or delivered, where more receipts of
    that arrived; at least engaged). Sends that failed or bounced thus count against the channel.
    """
    counts = profile.engagement.get(channel)
    if counts is None:
        return PRIOR_A / (PRIOR_A + PRIOR_B)
    engaged = max(_count(counts.opened), _count(counts.clicked), _count(counts.replied))
    tried = max(_count(counts.sent), _count(counts.delivered), engaged)
    return (engaged + PRIOR_A) / (tried + PRIOR_A + PRIOR_B)


def _window_share(profile: ProfileSnapshot, local_hour: int) -> float | None:
    """Share of the customer's activity in `local_hour` and its neighbours; None without enough activity."""
    counts = [_count(v) for v in profile.active_hours]
    total = sum(counts)
    if len(counts) != HOURS or total < MIN_ACTIVITY:
        return None
    return sum(counts[(local_hour + offset) % HOURS] for offset in WINDOW) / total


def _active(share: float | None) -> bool:
    return share is not None and share >= ACTIVE_SHARE


def _responsiveness(share: float | None) -> float:
    if share is None:
        return NEUTRAL_RESPONSIVENESS
    return min(1.0, NEUTRAL_RESPONSIVENESS * share / UNIFORM_SHARE)


def active_now(profile: ProfileSnapshot, local_hour: int) -> bool:
    """The customer is usually active around `local_hour`: at least ACTIVE_SHARE of their activity
    falls in this hour and the hours either side (and there is MIN_ACTIVITY to go on)."""
    return _active(_window_share(profile, local_hour))


def hour_responsiveness(profile: ProfileSnapshot, local_hour: int) -> float:
    """How active the customer is around `local_hour`, in [0, 1]: 0.5 for round-the-clock activity
    (or too little to tell), 1 from twice that share up, 0 for none."""
    return _responsiveness(_window_share(profile, local_hour))
