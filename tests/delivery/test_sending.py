"""What several calls (one per device token) add up to (pure)."""

from __future__ import annotations

from metaconnect_delivery.providers.base import SendResult, Verdict
from metaconnect_delivery.sending import Tried, combine, rounds

RETRY = SendResult(Verdict.RETRY, "http_503")
PERMANENT = SendResult(Verdict.PERMANENT, "http_400")
SENT = SendResult(Verdict.SENT, "accepted")


def test_one_device_taking_it_is_enough_and_all_refusing_is_permanent() -> None:
    assert combine([Tried(RETRY), Tried(SENT), Tried(PERMANENT)]).verdict is Verdict.SENT
    assert combine([Tried(PERMANENT), Tried(PERMANENT)]).verdict is Verdict.PERMANENT
    waits = [Tried(SendResult(Verdict.RETRY, "http_429", retry_after_s=s)) for s in (3.0, 9.0)]
    assert combine([Tried(PERMANENT), *waits]).retry_after_s == 9.0


def test_a_round_of_calls_to_several_devices_is_one_attempt_and_an_interrupted_call_another() -> None:
    assert rounds([]) == 0
    assert rounds([Tried(RETRY)]) == 1
    assert rounds([Tried(RETRY, token="a"), Tried(RETRY, token="b"), Tried(SENT, token="c")]) == 1
    assert rounds([Tried(RETRY), Tried(RETRY, token="a"), Tried(RETRY, token="b")]) == 2
