"""What a delivery does after an attempt (pure): retry later, fail over, or end."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from metaconnect_delivery.providers.base import SendResult, Verdict
from metaconnect_delivery.reliability import Backoff
from metaconnect_delivery.schedule import Failed, FailOver, Progress, Retry, RetryPolicy, Sent, after, held

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
POLICY = RetryPolicy(
    attempts=4, backoff=Backoff(base_s=0.5, cap_s=10.0, max_retry_after_s=30.0), deadline=timedelta(minutes=15)
)
RETRY = SendResult(Verdict.RETRY, "http_503")
PERMANENT = SendResult(Verdict.PERMANENT, "http_400")
SENT = SendResult(Verdict.SENT, "accepted")


def progress(channel_index: int = 0, attempts: int = 0, channels: int = 2) -> Progress:
    return Progress(channel_index=channel_index, channel_attempts=attempts, channels=channels, accepted_at=T0)


def step(result: SendResult, p: Progress, now: datetime = T0) -> object:
    return after(p, result, now=now, policy=POLICY, rng=random.Random(0))


def test_sent_ends_it() -> None:
    assert step(SENT, progress()) == Sent()


def test_a_retryable_answer_waits_as_a_row_then_fails_over_after_the_last_attempt() -> None:
    retry = step(RETRY, progress())
    assert isinstance(retry, Retry)
    assert T0 <= retry.at <= T0 + timedelta(seconds=0.5)
    assert step(RETRY, progress(attempts=3)) == FailOver(1)  # the fourth attempt failed
    assert step(RETRY, progress(channel_index=1, attempts=3)) == Failed("http_503")


def test_a_permanent_answer_fails_over_at_once() -> None:
    assert step(PERMANENT, progress()) == FailOver(1)
    assert step(PERMANENT, progress(channel_index=1)) == Failed("http_400")


def test_retry_after_is_honoured_and_a_longer_one_fails_over() -> None:
    polite = step(SendResult(Verdict.RETRY, "http_429", retry_after_s=20), progress())
    assert polite == Retry(T0 + timedelta(seconds=20))
    assert step(SendResult(Verdict.RETRY, "http_429", retry_after_s=31), progress()) == FailOver(1)


def test_past_its_deadline_a_delivery_fails() -> None:
    late = T0 + timedelta(minutes=15)
    assert step(RETRY, progress(), now=late) == Failed("deadline")
    assert step(PERMANENT, progress(), now=late) == Failed("deadline")
    # A retry that would fall due after the deadline is not scheduled: the next channel goes now.
    almost = T0 + timedelta(minutes=15) - timedelta(milliseconds=1)
    assert step(SendResult(Verdict.RETRY, "http_429", retry_after_s=20), progress(), now=almost) == FailOver(1)


@given(
    verdict=st.sampled_from(list(Verdict)),
    channel_index=st.integers(0, 4),
    extra_channels=st.integers(0, 3),
    attempts=st.integers(0, 6),
    retry_after=st.none() | st.floats(0, 60),
    elapsed_s=st.floats(0, 2000),
)
def test_every_step_moves_forward_and_never_past_the_deadline(
    verdict: Verdict,
    channel_index: int,
    extra_channels: int,
    attempts: int,
    retry_after: float | None,
    elapsed_s: float,
) -> None:
    p = progress(channel_index, attempts, channels=channel_index + 1 + extra_channels)
    now = T0 + timedelta(seconds=elapsed_s)
    result = step(SendResult(verdict, "x", retry_after_s=retry_after), p, now=now)
    match result:
        case Sent():
            assert verdict is Verdict.SENT
        case Retry(at=at):
            assert verdict is Verdict.RETRY
            assert attempts + 1 < POLICY.attempts
            assert now <= at < T0 + POLICY.deadline
        case FailOver(channel_index=index):
            assert index == channel_index + 1
            assert now < T0 + POLICY.deadline
        case Failed():
            assert channel_index + 1 == p.channels or now >= T0 + POLICY.deadline


DEADLINE = T0 + timedelta(minutes=15)


def test_a_provider_that_cannot_be_called_sends_the_delivery_on_to_its_next_channel() -> None:
    assert held(progress(), "circuit_open", wait_s=20.0, now=T0, deadline=DEADLINE) == FailOver(1)


def test_on_the_last_channel_the_delivery_waits_for_the_provider_until_its_deadline() -> None:
    last = progress(channel_index=1)
    assert held(last, "circuit_open", wait_s=20.0, now=T0, deadline=DEADLINE) == Retry(T0 + timedelta(seconds=20))
    late = T0 + timedelta(minutes=14, seconds=50)
    assert held(last, "circuit_open", wait_s=20.0, now=late, deadline=DEADLINE) == Failed("circuit_open")
    assert held(last, "circuit_open", wait_s=0.0, now=DEADLINE, deadline=DEADLINE) == Failed("deadline")


@given(
    index=st.integers(0, 3),
    channels=st.integers(1, 4),
    wait_s=st.floats(0, 3600),
    elapsed_s=st.floats(0, 1800),
)
def test_a_held_delivery_fails_only_when_no_channel_is_left_and_the_wait_outlasts_its_deadline(
    index: int, channels: int, wait_s: float, elapsed_s: float
) -> None:
    p = progress(channel_index=min(index, channels - 1), channels=channels)
    now = T0 + timedelta(seconds=elapsed_s)
    step = held(p, "circuit_open", wait_s=wait_s, now=now, deadline=DEADLINE)
    if isinstance(step, Failed):
        assert now >= DEADLINE or (p.channel_index == channels - 1 and now + timedelta(seconds=wait_s) >= DEADLINE)
    elif isinstance(step, Retry):
        assert p.channel_index == channels - 1
        assert step.at < DEADLINE
    else:
        assert step == FailOver(p.channel_index + 1)
