"""What a delivery does after an attempt: go again later, fail over, or end (pure).

Retries never wait on the consumer path: the consumer only stores a delivery as `pending`;
workers claim due deliveries (`next_attempt_at`), make one attempt each time and store the next
step. A retry waits as a row, not as a sleeping task, so a slow provider or a long
`Retry-After` holds no partition, a restart loses no wait, and nothing in flight is cancelled.

    after(state, result, now=, policy=) -> Retry | FailOver | Sent | Failed
    held(state, reason, wait_s=, now=, deadline=) -> Retry | FailOver | Failed
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from metaconnect_delivery.providers.base import SendResult, Verdict
from metaconnect_delivery.reliability import Backoff


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int
    """Attempts per channel before failing over."""
    backoff: Backoff
    deadline: timedelta
    """From acceptance: a delivery not sent by then fails (`deadline`)."""


@dataclass(frozen=True)
class Progress:
    """Where a delivery stands: its channel (an index into `Delivery.channels`), the attempts made on
    it, how many channels there are, and when the delivery was accepted."""

    channel_index: int
    channel_attempts: int
    channels: int
    accepted_at: datetime


@dataclass(frozen=True)
class Retry:
    at: datetime


@dataclass(frozen=True)
class FailOver:
    """Try the next channel now."""

    channel_index: int


@dataclass(frozen=True)
class Sent:
    pass


@dataclass(frozen=True)
class Failed:
    reason: str


Step = Retry | FailOver | Sent | Failed


def after(progress: Progress, result: SendResult, *, now: datetime, policy: RetryPolicy, rng: random.Random) -> Step:
    """The step after an attempt on the current channel that ended in `result`.

    * sent: done;
    * worth retrying (`RETRY`), attempts left on this channel, the provider's `Retry-After` within
      `backoff.max_retry_after_s`, and the retry due before the deadline: again after the backoff;
    * otherwise the next channel, now; none left (or past the deadline): failed with this reason.
    """
    if result.verdict is Verdict.SENT:
        return Sent()
    deadline = progress.accepted_at + policy.deadline
    attempts = progress.channel_attempts + 1
    if result.verdict is Verdict.RETRY and attempts < policy.attempts:
        asked = result.retry_after_s
        if asked is None or asked <= policy.backoff.max_retry_after_s:
            at = now + timedelta(seconds=policy.backoff.delay(attempts, rng, retry_after_s=asked))
            if at < deadline:
                return Retry(at)
    return next_channel(progress, result.reason, now=now, deadline=deadline)


def next_channel(progress: Progress, reason: str, *, now: datetime, deadline: datetime) -> FailOver | Failed:
    """The next channel of the delivery, or failed with `reason` when none is left or time is up."""
    if now >= deadline:
        return Failed("deadline")
    if progress.channel_index + 1 < progress.channels:
        return FailOver(progress.channel_index + 1)
    return Failed(reason)


def held(
    progress: Progress, reason: str, *, wait_s: float, now: datetime, deadline: datetime
) -> Retry | FailOver | Failed:
    """The step when the channel's provider cannot be called for `wait_s` seconds (its circuit is
    open): the next channel now if there is one; on the last channel, due again when a call may go,
    if that is before the deadline, else failed with `reason`. A provider's outage never fails a
    message it could still send in time."""
    if now >= deadline:
        return Failed("deadline")
    if progress.channel_index + 1 < progress.channels:
        return FailOver(progress.channel_index + 1)
    at = now + timedelta(seconds=wait_s)
    return Retry(at) if at < deadline else Failed(reason)
