"""Retries, circuit breaking and rate limits per provider (pure: the caller passes the time).

* `Backoff`: exponential backoff with full jitter (delay ~ U(0, min(cap, base x factor^(n-1))))
  so retries of many deliveries spread out instead of hitting a recovering provider together;
  a provider's `Retry-After` is a floor, never shortened by the jitter.
* `CircuitBreaker`: after `failure_threshold` consecutive failures the circuit opens and calls
  fail fast (the delivery fails over to its next channel); after `open_s` one trial call is let
  through (half-open): success closes the circuit, failure opens it again.
* `TokenBucket`: at most `rate` calls per second with bursts of `burst`; `take` says how long
  to wait when no token is left, so a caller comes back then instead of being refused.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum


@dataclass(frozen=True)
class Backoff:
    base_s: float = 0.5
    factor: float = 2.0
    cap_s: float = 30.0
    max_retry_after_s: float = 300.0
    """A provider asking for a longer pause gets this much; the delivery then fails over."""

    def __post_init__(self) -> None:
        if not (self.base_s > 0 and self.factor >= 1 and self.cap_s >= self.base_s and self.max_retry_after_s >= 0):
            raise ValueError("backoff needs base_s > 0, factor >= 1, cap_s >= base_s, max_retry_after_s >= 0")

    def delay(self, attempt: int, rng: random.Random, *, retry_after_s: float | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        if attempt < 1:
            raise ValueError(f"attempts count from 1, not {attempt}")
        ceiling = min(self.cap_s, self.base_s * self.factor ** min(attempt - 1, 64))
        jittered = rng.uniform(0.0, ceiling)
        if retry_after_s is None:
            return jittered
        return max(jittered, min(retry_after_s, self.max_retry_after_s))


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """A `Retry-After` header: delta-seconds or an HTTP-date (RFC 9110 10.2.3); None if absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """One provider's circuit, driven by the caller's monotonic clock readings."""

    def __init__(self, *, failure_threshold: int = 5, open_s: float = 30.0) -> None:
        if failure_threshold < 1 or open_s <= 0:
            raise ValueError("a circuit needs failure_threshold >= 1 and open_s > 0")
        self.failure_threshold = failure_threshold
        self.open_s = open_s
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False

    def state(self, now: float) -> CircuitState:
        if self._opened_at is None:
            return CircuitState.CLOSED
        if now - self._opened_at < self.open_s:
            return CircuitState.OPEN
        return CircuitState.HALF_OPEN

    def allow(self, now: float) -> bool:
        """May a call go now? In half-open state only one trial call at a time."""
        state = self.state(now)
        if state is CircuitState.CLOSED:
            return True
        if state is CircuitState.OPEN or self._trial_running:
            return False
        self._trial_running = True
        return True

    def wait_s(self, now: float) -> float:
        """Seconds until a call may go: the rest of the open period, or while a half-open trial runs a
        tenth of it (the trial's answer decides); 0 when closed. Nothing is taken."""
        state = self.state(now)
        if state is CircuitState.CLOSED:
            return 0.0
        assert self._opened_at is not None
        if state is CircuitState.OPEN:
            return self._opened_at + self.open_s - now
        return self.open_s / 10 if self._trial_running else 0.0

    def success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._trial_running = False

    def failure(self, now: float) -> None:
        """A failure that says something about the provider (5xx, timeout, refused, auth), not about one message."""
        self._trial_running = False
        if self._opened_at is not None:  # the half-open trial failed (or a late failure): open again
            self._opened_at = now
            return
        self._failures += 1
        if self._failures >= self.failure_threshold:
            self._opened_at = now


class TokenBucket:
    """At most `rate` calls per second on average, `burst` at once."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        if not (rate > 0 and math.isfinite(rate)):
            raise ValueError(f"rate must be a positive number of calls per second, not {rate}")
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        if self.burst < 1:
            raise ValueError("burst must allow at least one call")
        self._tokens = self.burst
        self._at: float | None = None

    def tokens(self, now: float) -> float:
        """The calls that may go at once now (nothing taken)."""
        if self._at is None:
            return self._tokens
        return min(self.burst, self._tokens + (now - self._at) * self.rate)

    def take(self, now: float) -> float:
        """Take one call's token: 0 when there was one, else the seconds until there is one (nothing
        taken: the caller comes back then, and the bucket is never overdrawn)."""
        if self._at is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate
