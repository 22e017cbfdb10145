"""A record that failed for good, as the dead-letter topic keeps it: the original key, value and
headers, with headers saying what failed, where, after how many attempts."""

from __future__ import annotations

from metaconnect_common.kafka.producer import OutgoingRecord
from metaconnect_common.kafka.records import ConsumedRecord

# The error text goes into a header other teams read: short, and only what str(exc) says.
MAX_ERROR_MESSAGE = 500
ERROR_HEADER_PREFIXES = ("mc.error.", "mc.source.")


class DeadLetterFailed(Exception):
    """A record failed and could not be written to the DLQ either.

    `run()` raises it after committing everything before that record, so the record
    is consumed again after a restart instead of being lost.
    """


def dead_letter(record: ConsumedRecord, exc: Exception, *, stage: str, attempts: int, topic: str) -> OutgoingRecord:
    """The dead-letter record of `record`, which failed `attempts` times in `stage` with `exc`."""
    error_headers = [
        ("mc.error.type", type(exc).__qualname__.encode()),
        ("mc.error.message", str(exc)[:MAX_ERROR_MESSAGE].encode(errors="replace")),
        ("mc.error.stage", stage.encode()),
        ("mc.error.attempts", str(attempts).encode()),
        ("mc.source.topic", record.topic.encode()),
        ("mc.source.partition", str(record.partition).encode()),
        ("mc.source.offset", str(record.offset).encode()),
    ]
    # A record re-driven from a DLQ carries old error headers: replace, not repeat.
    kept = [(k, v) for k, v in record.headers if not k.startswith(ERROR_HEADER_PREFIXES)]
    return OutgoingRecord(topic=topic, key=record.key, value=record.value, headers=[*kept, *error_headers])


def where(record: ConsumedRecord) -> str:
    """`topic/partition@offset`, for logs (never the key or value: they may name a customer)."""
    return f"{record.topic}/{record.partition}@{record.offset}"
