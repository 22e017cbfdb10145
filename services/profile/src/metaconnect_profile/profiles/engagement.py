"""Time-decayed counts: engagement per channel and the local active-hours histogram.

Every count is a `Decayed` value: a number and the time it is valid at. Its value at a
later time `t` is

    value(t) = value * 2 ** (-(t - at) / half_life)

so a count of 1 is 0.5 one half-life later and 0.25 two half-lives later. Adding an
increment `w` observed at time `s`:

* `s >= at`: decay the stored value to `s`, add `w`, store it at `s`;
* `s < at` (an event that arrives late): decay the increment to `at` instead
  (`w * 2 ** (-(at - s) / half_life)`) and keep `at`.

Either way the stored value equals the sum over all increments of `w_i * 2 ** (-(at - s_i) / h)`,
so the result does not depend on the order events arrive in. Reading never grows a value:
a read at or before `at` returns the stored value.

Engagement: per channel, one `Decayed` per receipt kind (`Receipt`); absent = 0.
Base rate (`base_rate`): the customer's share of engagements among their outcomes on a
channel, what behavioural personality evidence is weighed against (see
`personality.estimate`):

    b = (E + n0 * b0) / (E + D + n0)

E = opened + clicked + replied, D = dismissed (decayed, before the outcome at hand), b0 the
population rate (5 %) and n0 = 20 outcomes of prior weight. It counts the same thing the
evidence rows count - one row per engaged or dismissed receipt with a tone - so when tones
make no difference a row is an engagement with probability b, however many messages go
unanswered (those carry no tone back and leave no row).
Active hours: 24 buckets indexed by the customer's local hour (0-23), `None` = empty.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from metaconnect_common.schemas.interaction import Channel
from metaconnect_common.schemas.profiled import ChannelEngagement

HOURS: Final = 24
UTC: Final = ZoneInfo("UTC")


class Receipt(StrEnum):
    """What happened to a message on a channel: the `message.<receipt>` event types."""

    SENT = "sent"
    DELIVERED = "delivered"
    OPENED = "opened"
    CLICKED = "clicked"
    REPLIED = "replied"
    FAILED = "failed"
    BOUNCED = "bounced"
    DISMISSED = "dismissed"


# Reported by the platform or a provider, not done by the customer: no active-hours signal.
SYSTEM_RECEIPTS: Final = frozenset({Receipt.SENT, Receipt.DELIVERED, Receipt.FAILED, Receipt.BOUNCED})


class Decayed(BaseModel):
    """A count that halves every half-life: `value` as of `at`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
    at: AwareDatetime


def decay_factor(age: timedelta, half_life: timedelta) -> float:
    """`2 ** (-age / half_life)`; 1 for a zero or negative age (values never grow)."""
    if age <= timedelta(0):
        return 1.0
    return math.pow(0.5, age / half_life)


def value_at(count: Decayed | None, when: datetime, half_life: timedelta) -> float:
    """The value of `count` at `when` (0 for no count)."""
    if count is None:
        return 0.0
    return count.value * decay_factor(when - count.at, half_life)


def add(count: Decayed | None, when: datetime, half_life: timedelta, amount: float = 1.0) -> Decayed:
    """`count` plus `amount` observed at `when`, order-independent (see the module docstring)."""
    if count is None:
        return Decayed(value=amount, at=when)
    if when >= count.at:
        return Decayed(value=value_at(count, when, half_life) + amount, at=when)
    return Decayed(value=count.value + amount * decay_factor(count.at - when, half_life), at=count.at)


BASE_RATE_PRIOR_OUTCOMES: Final = 20.0
ENGAGEMENTS: Final = (Receipt.OPENED, Receipt.CLICKED, Receipt.REPLIED)


def base_rate(counts: Mapping[Receipt, Decayed], when: datetime, half_life: timedelta, population: float) -> float:
    """The customer's engagement rate on one channel at `when`, shrunk towards `population` (see above)."""
    engaged = sum(value_at(counts.get(r), when, half_life) for r in ENGAGEMENTS)
    dismissed = value_at(counts.get(Receipt.DISMISSED), when, half_life)
    n0 = BASE_RATE_PRIOR_OUTCOMES
    return (engaged + n0 * population) / (engaged + dismissed + n0)


Engagement = Mapping[Channel, Mapping[Receipt, Decayed]]
ActiveHours = tuple[Decayed | None, ...]
EMPTY_HOURS: Final[ActiveHours] = (None,) * HOURS


def count_receipt(
    engagement: Engagement, channel: Channel, receipt: Receipt, when: datetime, half_life: timedelta
) -> dict[Channel, dict[Receipt, Decayed]]:
    """A new engagement document with one more `receipt` on `channel` at `when`."""
    updated = {c: dict(counts) for c, counts in engagement.items()}
    counts = updated.setdefault(channel, {})
    counts[receipt] = add(counts.get(receipt), when, half_life)
    return updated


def engagement_snapshot(
    engagement: Engagement, now: datetime, half_life: timedelta
) -> dict[Channel, ChannelEngagement]:
    """Per channel, the counts the router sees, decayed to `now`."""
    return {
        channel: ChannelEngagement(
            sent=value_at(counts.get(Receipt.SENT), now, half_life),
            delivered=value_at(counts.get(Receipt.DELIVERED), now, half_life),
            opened=value_at(counts.get(Receipt.OPENED), now, half_life),
            clicked=value_at(counts.get(Receipt.CLICKED), now, half_life),
            replied=value_at(counts.get(Receipt.REPLIED), now, half_life),
        )
        for channel, counts in engagement.items()
    }


def local_hour(when: datetime, time_zone: str | None) -> int:
    """The hour (0-23) on the customer's wall clock at `when`; UTC when the zone is unknown.

    zoneinfo applies the zone's rules at that instant, so daylight saving time is honoured:
    in Europe/Berlin 01:30 UTC is 03:30 on the last Sunday of March and 02:30 on the last
    Sunday of October (the repeated hour keeps its wall-clock number).
    """
    zone = UTC
    if time_zone:
        try:
            zone = ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # validated when stored; a later tz database may lack it
            zone = UTC
    return when.astimezone(zone).hour


def count_active_hour(
    hours: Sequence[Decayed | None], when: datetime, time_zone: str | None, half_life: timedelta
) -> ActiveHours:
    """The histogram with one more customer-initiated event at `when` in its local hour."""
    hour = local_hour(when, time_zone)
    return tuple(add(bucket, when, half_life) if i == hour else bucket for i, bucket in enumerate(hours))


def hours_snapshot(hours: Sequence[Decayed | None], now: datetime, half_life: timedelta) -> list[float]:
    """The 24 buckets decayed to `now`."""
    return [value_at(bucket, now, half_life) for bucket in hours]
