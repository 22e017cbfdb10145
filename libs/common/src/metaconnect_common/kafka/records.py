"""What a consuming stage's handlers see and promise: the record, the handler types, the
error that skips retries, and how often a failing record is tried."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field


class PermanentError(Exception):
    """Raised by a handler for a record that can never succeed (undecodable, unknown
    schema version, ...): the runner skips the retries and dead-letters it at once."""


# SQLSTATE class 22, "data exception": PostgreSQL refused a value the record carried (U+0000
# in text or jsonb, a number out of range, ...). Retrying the same record fails the same way.
_DATA_EXCEPTION = "22"


def sqlstate_of(exc: BaseException) -> str | None:
    """The SQLSTATE of the database error `exc` is or was caused by (however wrapped), else None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for candidate in (current, getattr(current, "orig", None)):
            sqlstate = getattr(candidate, "sqlstate", None)
            if isinstance(sqlstate, str) and sqlstate:
                return sqlstate
        current = current.__cause__ or current.__context__
    return None


def is_permanent(exc: BaseException) -> bool:
    """True when retrying the record that raised `exc` cannot help: a `PermanentError`, or a
    database error caused by a value the record carried (SQLSTATE class 22)."""
    if isinstance(exc, PermanentError):
        return True
    sqlstate = sqlstate_of(exc)
    return sqlstate is not None and sqlstate.startswith(_DATA_EXCEPTION)


@dataclass(frozen=True)
class ConsumedRecord:
    """One Kafka record as a handler sees it (key and value are raw bytes)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(hash=False)
    timestamp: int  # milliseconds since the epoch, as the producer or broker set it


Handler = Callable[[ConsumedRecord], Awaitable[None]]
BatchHandler = Callable[[Sequence[ConsumedRecord]], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    """How often a failing record is tried (`attempts` in total) and how long to wait
    between tries: `base_delay_s * 2**(n-1)`, capped at `max_delay_s`."""

    attempts: int = 5
    base_delay_s: float = 0.2
    max_delay_s: float = 10.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.base_delay_s < 0 or self.max_delay_s < 0:
            raise ValueError("attempts must be >= 1 and delays >= 0")

    def delay_s(self, failed_attempt: int) -> float:
        """The pause after the `failed_attempt`-th (1-based) failure."""
        return float(min(self.max_delay_s, self.base_delay_s * 2 ** (failed_attempt - 1)))
