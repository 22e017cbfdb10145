"""The dead-letter record, built directly: the original record, and headers saying what failed."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from metaconnect_common.kafka.dead_letters import MAX_ERROR_MESSAGE, dead_letter, describe, where
from metaconnect_common.kafka.records import ConsumedRecord, PermanentError, is_permanent

RECORD = ConsumedRecord(
    "mc.profiled.v1", 2, 41, b"key", b"value", [("traceparent", b"00-tp"), ("mc.error.type", b"Old")], 0
)


def test_a_dead_letter_keeps_the_record_and_says_what_failed_where() -> None:
    dead = dead_letter(RECORD, PermanentError("x" * 1000), stage="router", attempts=8, topic="mc.dlq.router.v1")

    assert (dead.topic, dead.key, dead.value) == ("mc.dlq.router.v1", b"key", b"value")
    headers = dict(dead.headers)
    assert headers["traceparent"] == b"00-tp"
    assert headers["mc.error.type"] == b"PermanentError"  # the old error header is replaced, not repeated
    assert [k for k, _ in dead.headers].count("mc.error.type") == 1
    assert len(headers["mc.error.message"]) == MAX_ERROR_MESSAGE
    assert (headers["mc.error.stage"], headers["mc.error.attempts"]) == (b"router", b"8")
    assert (headers["mc.source.topic"], headers["mc.source.partition"], headers["mc.source.offset"]) == (
        b"mc.profiled.v1",
        b"2",
        b"41",
    )


def test_a_record_is_named_by_its_place_never_its_content() -> None:
    assert where(RECORD) == "mc.profiled.v1/2@41"


class _PgError(Exception):
    """What asyncpg raises, as SQLAlchemy's adapter keeps it (`orig.sqlstate`)."""

    def __init__(self, message: str, sqlstate: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


class _Wrapped(Exception):
    def __init__(self, message: str, orig: Exception) -> None:
        super().__init__(message)
        self.orig = orig


class _Email(BaseModel):
    email: int


SECRET = "ada@example.com"


def _validation_error() -> ValidationError:
    try:
        _Email.model_validate({"email": SECRET})
    except ValidationError as exc:
        return exc
    raise AssertionError("validated")


@pytest.mark.parametrize(
    ("exc", "message"),
    [
        (
            RuntimeError(f"boom for {SECRET}"),
            "RuntimeError (its message is withheld: it can quote the record's values)",
        ),
        (_validation_error(), "1 validation error(s): int_parsing"),
        (
            _Wrapped(f"[parameters: ('{SECRET}',)]", _PgError(f"bad {SECRET}", "22021")),
            "the database refused the statement (SQLSTATE 22021)",
        ),
        (PermanentError("not an Interaction: 2 errors"), "not an Interaction: 2 errors"),
    ],
    ids=["other", "pydantic", "database", "permanent"],
)
def test_a_dead_letter_never_quotes_the_values_an_error_message_holds(exc: Exception, message: str) -> None:
    assert describe(exc) == message
    headers = dict(dead_letter(RECORD, exc, stage="profile", attempts=1, topic="mc.dlq.profile.v1").headers)
    assert SECRET.encode() not in b"".join(headers.values())


def test_a_value_the_database_refuses_is_permanent_however_wrapped() -> None:
    refused = _Wrapped("wrapped", _PgError("invalid byte sequence for encoding UTF8: 0x00", "22021"))
    assert is_permanent(refused)
    outer = RuntimeError("handler failed")
    outer.__cause__ = refused
    assert is_permanent(outer)
    assert is_permanent(PermanentError("bad"))
    assert not is_permanent(_Wrapped("connection lost", _PgError("gone", "08006")))
    assert not is_permanent(RuntimeError("database gone"))
