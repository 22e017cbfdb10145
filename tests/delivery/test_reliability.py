"""Backoff, Retry-After, the circuit breaker and the token bucket (pure)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metaconnect_delivery.reliability import (
    Backoff,
    CircuitBreaker,
    CircuitState,
    TokenBucket,
    retry_after_seconds,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@given(st.integers(1, 200), st.integers(0, 2**32 - 1))
def test_backoff_stays_under_its_exponential_ceiling_and_the_cap(attempt: int, seed: int) -> None:
    backoff = Backoff(base_s=0.5, factor=2.0, cap_s=30.0)
    delay = backoff.delay(attempt, random.Random(seed))
    assert 0.0 <= delay <= min(30.0, 0.5 * 2 ** (attempt - 1))


def test_backoff_spreads_retries_and_grows_on_average() -> None:
    backoff = Backoff(base_s=1.0, factor=2.0, cap_s=60.0)
    rng = random.Random(1)
    means = [sum(backoff.delay(n, rng) for _ in range(4000)) / 4000 for n in (1, 2, 3, 4)]
    for n, mean in enumerate(means, start=1):
        assert mean == pytest.approx(2 ** (n - 1) / 2, rel=0.06)  # full jitter: half the ceiling


@given(st.floats(0, 1000), st.integers(1, 10), st.integers(0, 2**32 - 1))
def test_retry_after_is_a_floor_up_to_its_cap(retry_after: float, attempt: int, seed: int) -> None:
    backoff = Backoff(max_retry_after_s=120.0)
    delay = backoff.delay(attempt, random.Random(seed), retry_after_s=retry_after)
    assert delay >= min(retry_after, 120.0)


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after_seconds("7", NOW) == 7.0
    assert retry_after_seconds(format_datetime(NOW + timedelta(seconds=90), usegmt=True), NOW) == 90.0
    assert retry_after_seconds(format_datetime(NOW - timedelta(seconds=90), usegmt=True), NOW) == 0.0
    for unreadable in (None, "", "soon", "-3", "1.5e9x"):
        assert retry_after_seconds(unreadable, NOW) is None


def test_the_circuit_opens_after_consecutive_failures_and_closes_after_a_good_trial() -> None:
    circuit = CircuitBreaker(failure_threshold=3, open_s=10.0)
    for t in (0.0, 1.0):
        circuit.failure(t)
    assert circuit.allow(2.0)
    circuit.success()  # resets the count
    for t in (3.0, 4.0, 5.0):
        assert circuit.allow(t)
        circuit.failure(t)
    assert circuit.state(5.0) is CircuitState.OPEN
    assert not circuit.allow(14.9)
    assert circuit.state(15.0) is CircuitState.HALF_OPEN
    assert circuit.allow(15.0)  # the one trial
    assert not circuit.allow(15.1)  # no second call while it runs
    circuit.success()
    assert circuit.state(15.2) is CircuitState.CLOSED
    assert circuit.allow(15.2)


def test_a_failed_trial_opens_the_circuit_again() -> None:
    circuit = CircuitBreaker(failure_threshold=1, open_s=10.0)
    circuit.failure(0.0)
    assert circuit.allow(10.0)
    circuit.failure(10.5)
    assert circuit.state(11.0) is CircuitState.OPEN
    assert not circuit.allow(20.0)
    assert circuit.allow(20.5)


@given(st.floats(0.5, 500), st.integers(1, 50), st.lists(st.floats(0, 0.5), min_size=1, max_size=200))
def test_the_bucket_never_lets_more_than_burst_plus_rate_times_time(rate: float, burst: int, gaps: list[float]) -> None:
    bucket = TokenBucket(rate, burst)
    now, calls = 0.0, []
    for gap in gaps:
        now += gap
        wait = bucket.take(now)
        if wait == 0.0:
            calls.append(now)
        else:  # nothing was taken: a token is there once the wait is over
            assert bucket.take(now + wait + 1e-9) == 0.0
            calls.append(now + wait)
            now += wait
    span = calls[-1] - calls[0] if len(calls) > 1 else 0.0
    assert len(calls) <= burst + rate * span + 1 + 1e-6
    assert calls == sorted(calls)


def test_the_bucket_waits_rather_than_refuses() -> None:
    bucket = TokenBucket(rate=2.0, burst=2)
    assert [bucket.take(0.0) for _ in range(4)] == [0.0, 0.0, 0.5, 0.5]  # asking again takes nothing
    assert bucket.take(0.5) == 0.0
    assert bucket.take(10.0) == 0.0


def test_nonsense_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="backoff"):
        Backoff(base_s=0)
    with pytest.raises(ValueError, match="circuit"):
        CircuitBreaker(failure_threshold=0)
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(0)
    with pytest.raises(ValueError, match="attempts"):
        Backoff().delay(0, random.Random(0))


def test_the_circuit_says_how_long_until_a_call_may_go() -> None:
    circuit = CircuitBreaker(failure_threshold=1, open_s=10.0)
    assert circuit.wait_s(0.0) == 0.0
    circuit.failure(0.0)
    assert circuit.wait_s(4.0) == 6.0  # the rest of the open period
    assert circuit.wait_s(10.0) == 0.0  # half-open: the trial may go
    assert circuit.allow(10.0)
    assert circuit.wait_s(10.5) == 1.0  # a trial runs: come back soon, its answer decides
    circuit.success()
    assert circuit.wait_s(10.6) == 0.0


def test_the_bucket_tells_how_many_calls_may_go_without_taking_one() -> None:
    bucket = TokenBucket(rate=2.0, burst=2)
    assert bucket.tokens(0.0) == 2.0
    assert bucket.take(0.0) == 0.0
    assert bucket.take(0.0) == 0.0
    assert bucket.tokens(0.25) == 0.5  # half a call refilled
    assert bucket.tokens(0.25) == 0.5  # looking takes nothing
    assert bucket.tokens(10.0) == 2.0  # never more than the burst
