"""The dead-letter record, built directly: the original record, and headers saying what failed."""

from __future__ import annotations

from metaconnect_common.kafka.dead_letters import MAX_ERROR_MESSAGE, dead_letter, where
from metaconnect_common.kafka.records import ConsumedRecord

RECORD = ConsumedRecord(
    "mc.profiled.v1", 2, 41, b"key", b"value", [("traceparent", b"00-tp"), ("mc.error.type", b"Old")], 0
)


def test_a_dead_letter_keeps_the_record_and_says_what_failed_where() -> None:
    dead = dead_letter(RECORD, ValueError("x" * 1000), stage="router", attempts=8, topic="mc.dlq.router.v1")

    assert (dead.topic, dead.key, dead.value) == ("mc.dlq.router.v1", b"key", b"value")
    headers = dict(dead.headers)
    assert headers["traceparent"] == b"00-tp"
    assert headers["mc.error.type"] == b"ValueError"  # the old error header is replaced, not repeated
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
