"""Whether one candidate message may go to one customer now, on which channels, or why not (pure).

Filters run in a fixed order and the first one that leaves nothing names the drop:
erased, expired, the policy's channel order (`no_channel`), reachability (`unreachable`),
marketing consent (`no_consent`). Marketing items then meet caps and quiet hours, which
defer rather than drop. Transactional items are service messages: no consent, caps or
quiet hours, only reachability. A webhook message notifies a system, not the customer: only
erasure and expiry stop it, and it counts against no cap of the customer's.

All datetimes are aware; `now` is always passed in, never read from a clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Final

from metaconnect_common.schemas import Channel
from metaconnect_common.schemas.profiled import ProfileSnapshot
from metaconnect_router.channels import local_now
from metaconnect_router.routes.spec import SYSTEM_CHANNELS, Cap, Category, Message, Policy, QuietHours

_MICROSECOND: Final = timedelta(microseconds=1)


class Reason(StrEnum):
    """Why an item was dropped, deferred or lost channels; stored in decision logs, so never renamed."""

    ERASED = "erased"
    EXPIRED = "expired"
    NO_CONSENT = "no_consent"
    UNREACHABLE = "unreachable"
    NO_CHANNEL = "no_channel"
    CAP_REACHED = "cap_reached"
    QUIET_HOURS = "quiet_hours"
    COLLAPSED = "collapsed"  # decided by the bundling code, which knows the newer items


class EligibilityVerdict(StrEnum):
    SEND = "send"
    DEFER = "defer"
    DROP = "drop"


@dataclass(frozen=True)
class SendHistory:
    """What the customer was sent recently: delivery times per channel (aware datetimes), newest last."""

    sent_at: Mapping[Channel, Sequence[datetime]]


@dataclass(frozen=True)
class Eligibility:
    """The verdict for one item.

    `channels` are in the policy's channel order: on SEND the ones it may go on now, on DEFER the
    ones it would go on once `not_before` is reached (all consented ones when every channel is
    capped), empty on DROP. `reasons` say why it was dropped or deferred, or why channels were
    removed (`cap_reached` on a SEND: a cap on some channels only). `not_before` (DEFER only) is UTC.
    """

    verdict: EligibilityVerdict
    channels: tuple[Channel, ...]
    reasons: tuple[Reason, ...]
    not_before: datetime | None


def _drop(reason: Reason) -> Eligibility:
    return Eligibility(EligibilityVerdict.DROP, (), (reason,), None)


def eligibility(
    message: Message,
    policy: Policy,
    profile: ProfileSnapshot,
    *,
    event_time: datetime,
    now: datetime,
    history: SendHistory,
    erased: bool = False,
) -> Eligibility:
    """Whether `message`, triggered at `event_time`, may go to this customer at `now`, and where.

    `history` should hold what caps count (the caller decides whether transactional sends count).
    """
    _require_aware(now, "now")
    if erased:
        return _drop(Reason.ERASED)
    if message.expires_after is not None and now > event_time + message.expires_after:
        return _drop(Reason.EXPIRED)

    if message.to_system:
        return Eligibility(EligibilityVerdict.SEND, tuple(message.channels), (), None)
    allowed = set(message.channels)
    channels = [c for c in policy.channel_order if c in allowed]
    if not channels:
        return _drop(Reason.NO_CHANNEL)
    reachable = set(profile.reachable)
    channels = [c for c in channels if c in reachable]
    if not channels:
        return _drop(Reason.UNREACHABLE)
    if message.category is Category.TRANSACTIONAL:
        return Eligibility(EligibilityVerdict.SEND, tuple(channels), (), None)
    channels = [c for c in channels if _consented(profile, c)]
    if not channels:
        return _drop(Reason.NO_CONSENT)

    reasons: list[Reason] = []
    deferred_until: list[datetime] = []
    capped = {
        c: frees
        for c in channels
        if (frees := slot_frees_at(policy.caps_per_channel.get(c), history.sent_at.get(c, ()), now)) is not None
    }
    open_channels = [c for c in channels if c not in capped]
    if not open_channels:
        # Whichever channel frees first lets it go; until then it waits on all of them.
        deferred_until.append(min(capped.values()))
        open_channels = channels
    overall = slot_frees_at(policy.cap_overall, _all_sends(history.sent_at), now)
    if overall is not None:
        deferred_until.append(overall)
    if capped or overall is not None:
        reasons.append(Reason.CAP_REACHED)

    if policy.quiet_hours is not None:
        quiet_end = quiet_until(policy.quiet_hours, local_now(profile, policy, now))
        if quiet_end is not None:
            reasons.append(Reason.QUIET_HOURS)
            deferred_until.append(quiet_end.astimezone(UTC))

    if deferred_until:
        return Eligibility(EligibilityVerdict.DEFER, tuple(open_channels), tuple(reasons), max(deferred_until))
    return Eligibility(EligibilityVerdict.SEND, tuple(open_channels), tuple(reasons), None)


def _consented(profile: ProfileSnapshot, channel: Channel) -> bool:
    state = profile.channel_consent.get(channel)
    return state is not None and state.granted


def _all_sends(sent_at: Mapping[Channel, Sequence[datetime]]) -> list[datetime]:
    return [when for channel, sends in sent_at.items() if channel not in SYSTEM_CHANNELS for when in sends]


def slot_frees_at(cap: Cap | None, sends: Iterable[datetime], now: datetime) -> datetime | None:
    """None while `cap` has room at `now`, else the UTC instant a slot frees (if nothing else is sent).

    The window is rolling: a send at `s` counts while `now - cap.per < s <= now`. Sends after
    `now` (a replay or simulation at an earlier `now`) do not count.
    """
    if cap is None:
        return None
    since = now - cap.per
    counted = sorted(s for s in sends if since < s <= now)
    if len(counted) < cap.count:
        return None
    # Room again once all but count - 1 of them have left the window.
    return (counted[len(counted) - cap.count] + cap.per).astimezone(UTC)


def quiet_until(quiet: QuietHours, local: datetime) -> datetime | None:
    """None when the wall clock of `local` is outside quiet hours, else when they end, aware in `local`'s zone.

    Membership is by wall clock (`start` <= time < `end`; `start` > `end` spans midnight), so a
    repeated hour in autumn is quiet (or not) both times. The end is the first instant after
    `local` at which the zone's clock reads `end` on the day quiet hours end:

    * ambiguous end (clocks go back): the first occurrence (fold=0), or the second when the
      first has already passed (`local` lies in the repeated hour);
    * nonexistent end (clocks go forward over it): the first valid instant after the gap,
      i.e. the transition itself (02:30 on 2026-03-29 in Europe/Berlin -> 03:00 CEST).
    """
    zone = local.tzinfo
    if zone is None or local.utcoffset() is None:
        raise ValueError("local must be an aware datetime")
    wall = local.time()
    if quiet.start < quiet.end:
        if not quiet.start <= wall < quiet.end:
            return None
        end_day = local.date()
    elif wall >= quiet.start:
        end_day = local.date() + timedelta(days=1)
    elif wall < quiet.end:
        end_day = local.date()
    else:
        return None
    return _first_instant_reading(datetime.combine(end_day, quiet.end), zone, after=local)


def _wall(instant: datetime, zone: tzinfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def _first_instant_reading(wall: datetime, zone: tzinfo, *, after: datetime) -> datetime:
    """The first instant after `after` at which the clock in `zone` reads `wall` (or, in a gap, later)."""
    for fold in (0, 1):
        instant = wall.replace(tzinfo=zone, fold=fold).astimezone(UTC)
        if _wall(instant, zone) == wall and instant > after:
            return instant.astimezone(zone)
    # `wall` falls in a gap. The two folds map it either side of the transition (PEP 495);
    # bisect for the first instant whose clock reads `wall` or later. The clock is monotonic
    # across a gap, and ~35 halvings reach the microsecond for any gap under a day.
    low, high = sorted(wall.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1))
    while high - low > _MICROSECOND:
        middle = low + (high - low) / 2
        if _wall(middle, zone) >= wall:
            high = middle
        else:
            low = middle
    return high.astimezone(zone)


def _require_aware(value: datetime, name: str) -> None:
    # A naive datetime would be read in the host's time zone: not a pure function any more.
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime")
