"""A record that failed for good, as the dead-letter topic keeps it: the original key, value and
headers, with headers saying what failed, where, after how many attempts.

The one place `mc.error.*` headers are written (the consumer runner and the delivery service
both use `error_headers`). They never carry a value from the record: exception messages can
quote them (a pydantic error its input, a database error its parameters), so the message is
made from the error's kind only (`describe`).
"""

from __future__ import annotations

from pydantic import ValidationError

from metaconnect_common.kafka.producer import OutgoingRecord
from metaconnect_common.kafka.records import ConsumedRecord, PermanentError, sqlstate_of

# The error text goes into a header other teams read: short.
MAX_ERROR_MESSAGE = 500
ERROR_HEADER_PREFIXES = ("mc.error.", "mc.source.")


class DeadLetterFailed(Exception):
    """A record failed and could not be written to the DLQ either.

    `run()` raises it after committing everything before that record, so the record
    is consumed again after a restart instead of being lost.
    """


def describe(exc: BaseException) -> str:
    """What went wrong, without any value the failing record carried.

    A `PermanentError` says it in its own words (its raiser writes no values into them); a
    pydantic error by its rules; a database error by its SQLSTATE; anything else by its type.
    """
    if isinstance(exc, PermanentError):
        return str(exc)
    if isinstance(exc, ValidationError):
        rules = sorted({str(e["type"]) for e in exc.errors()})
        return f"{exc.error_count()} validation error(s): {', '.join(rules)}"
    sqlstate = sqlstate_of(exc)
    if sqlstate is not None:
        return f"the database refused the statement (SQLSTATE {sqlstate})"
    return f"{type(exc).__qualname__} (its message is withheld: it can quote the record's values)"


def error_headers(*, error_type: str, message: str, stage: str, attempts: int) -> list[tuple[str, bytes]]:
    """The `mc.error.*` headers of a dead-lettered record. `message` must hold no value of the
    record: a code, or `describe(exc)`."""
    return [
        ("mc.error.type", error_type.encode()),
        ("mc.error.message", message[:MAX_ERROR_MESSAGE].encode(errors="replace")),
        ("mc.error.stage", stage.encode()),
        ("mc.error.attempts", str(attempts).encode()),
    ]


def dead_letter(record: ConsumedRecord, exc: Exception, *, stage: str, attempts: int, topic: str) -> OutgoingRecord:
    """The dead-letter record of `record`, which failed `attempts` times in `stage` with `exc`."""
    headers = [
        *error_headers(error_type=type(exc).__qualname__, message=describe(exc), stage=stage, attempts=attempts),
        ("mc.source.topic", record.topic.encode()),
        ("mc.source.partition", str(record.partition).encode()),
        ("mc.source.offset", str(record.offset).encode()),
    ]
    # A record re-driven from a DLQ carries old error headers: replace, not repeat.
    kept = [(k, v) for k, v in record.headers if not k.startswith(ERROR_HEADER_PREFIXES)]
    return OutgoingRecord(topic=topic, key=record.key, value=record.value, headers=[*kept, *headers])


def where(record: ConsumedRecord) -> str:
    """`topic/partition@offset`, for logs (never the key or value: they may name a customer)."""
    return f"{record.topic}/{record.partition}@{record.offset}"
