"""The signature functions: Twilio's published test vectors, and properties of every scheme."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from metaconnect_common.signatures import (
    SignatureCheck,
    meta_signature,
    meta_signature_valid,
    metaconnect_signature,
    twilio_signature,
    twilio_signature_valid,
    verify_metaconnect_signature,
)

# From twilio-python's tests (tests/unit/test_request_validator.py).
TWILIO_TOKEN = "12345"
TWILIO_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
TWILIO_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
    "Caller": "+14158675309",
}

secrets_ = st.text(min_size=1, max_size=40)
bodies = st.binary(max_size=300)
params = st.dictionaries(st.text(max_size=12), st.text(max_size=20), max_size=6)


def test_twilio_signature_matches_twilio_vector() -> None:
    assert twilio_signature(TWILIO_TOKEN, TWILIO_URL, TWILIO_PARAMS) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_twilio_signature_of_repeated_parameters_matches_twilio_vector() -> None:
    pairs = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")]
    assert twilio_signature(TWILIO_TOKEN, TWILIO_URL, pairs) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


@pytest.mark.parametrize(
    ("url", "signature"),
    [
        (TWILIO_URL, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        # A port the signer did not see is dropped...
        ("https://mycompany.com:1234/myapp.php?foo=1&bar=2", "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        # ...one it did see is kept,
        ("http://mycompany.com:1234/myapp.php?foo=1&bar=2", "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="),
        # and the scheme's default port may have been signed.
        (TWILIO_URL, "kvajT1Ptam85bY51eRf/AJRuM3w="),
        ("http://mycompany.com/myapp.php?foo=1&bar=2", "0ZXoZLH/DfblKGATFgpif+LLRf4="),
    ],
)
def test_twilio_validation_matches_twilio_vectors(url: str, signature: str) -> None:
    assert twilio_signature_valid(TWILIO_TOKEN, url, TWILIO_PARAMS, signature)


def test_twilio_validation_refuses_missing_and_foreign_signatures() -> None:
    assert not twilio_signature_valid(TWILIO_TOKEN, TWILIO_URL, TWILIO_PARAMS, None)
    assert not twilio_signature_valid(TWILIO_TOKEN, TWILIO_URL, TWILIO_PARAMS, "")
    assert not twilio_signature_valid("other", TWILIO_URL, TWILIO_PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    assert not twilio_signature_valid(
        TWILIO_TOKEN, TWILIO_URL, {**TWILIO_PARAMS, "Digits": "1235"}, "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    )


@given(secrets_, st.sampled_from(["https://a.example/cb", "http://127.0.0.1:8000/s?x=1"]), params)
def test_twilio_signature_round_trips(token: str, url: str, form: dict[str, str]) -> None:
    assert twilio_signature_valid(token, url, form, twilio_signature(token, url, form))


@given(secrets_, params, st.text(min_size=1, max_size=20), st.text(max_size=20))
def test_twilio_signature_fails_when_a_parameter_changes(
    token: str, form: dict[str, str], name: str, value: str
) -> None:
    assume(form.get(name) != value + "x")
    url = "https://a.example/cb"
    signature = twilio_signature(token, url, form)
    changed = {**form, name: value + "x"}
    assert not twilio_signature_valid(token, url, changed, signature)


def test_meta_signature_is_prefixed_hex_sha256() -> None:
    header = meta_signature("secret", b"{}")
    assert header.startswith("sha256=")
    assert len(header) == len("sha256=") + 64
    assert meta_signature_valid("secret", b"{}", header)
    assert not meta_signature_valid("secret", b"{}", None)
    assert not meta_signature_valid("secret", b"{}", header.removeprefix("sha256="))


@given(secrets_, bodies)
def test_meta_signature_round_trips(secret: str, body: bytes) -> None:
    assert meta_signature_valid(secret, body, meta_signature(secret, body))


@given(secrets_, bodies, st.binary(min_size=1, max_size=5), st.data())
def test_meta_signature_fails_for_any_other_body(secret: str, body: bytes, change: bytes, data: st.DataObject) -> None:
    at = data.draw(st.integers(0, len(body)))
    other = body[:at] + change + body[at:]
    assert not meta_signature_valid(secret, other, meta_signature(secret, body))


NOW = 1_750_000_000


def test_metaconnect_signature_verifies_within_tolerance() -> None:
    header = metaconnect_signature("s", b'{"a":1}', NOW)
    assert header.startswith(f"t={NOW},v1=")
    assert verify_metaconnect_signature("s", b'{"a":1}', header, now=NOW + 299) is SignatureCheck.VALID


@pytest.mark.parametrize("now", [NOW + 301, NOW - 301])
def test_metaconnect_signature_is_stale_outside_tolerance(now: int) -> None:
    header = metaconnect_signature("s", b"{}", NOW)
    assert verify_metaconnect_signature("s", b"{}", header, now=now) is SignatureCheck.STALE


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, SignatureCheck.MISSING),
        ("", SignatureCheck.MISSING),
        ("garbage", SignatureCheck.MALFORMED),
        (f"t={NOW}", SignatureCheck.MALFORMED),
        ("v1=00", SignatureCheck.MALFORMED),
        ("t=soon,v1=00", SignatureCheck.MALFORMED),
        (f"t={NOW},v1=00", SignatureCheck.MISMATCH),
    ],
)
def test_metaconnect_signature_refusals(header: str | None, expected: SignatureCheck) -> None:
    assert verify_metaconnect_signature("s", b"{}", header, now=NOW) is expected


def test_metaconnect_signature_accepts_any_matching_v1_while_rotating() -> None:
    old = metaconnect_signature("old", b"{}", NOW).split(",")[1]
    new = metaconnect_signature("new", b"{}", NOW)
    assert verify_metaconnect_signature("new", b"{}", f"{new},{old}", now=NOW) is SignatureCheck.VALID
    assert verify_metaconnect_signature("old", b"{}", f"{new},{old}", now=NOW) is SignatureCheck.VALID


@given(secrets_, bodies, st.integers(0, 2**40))
def test_metaconnect_signature_round_trips(secret: str, body: bytes, timestamp: int) -> None:
    header = metaconnect_signature(secret, body, timestamp)
    assert verify_metaconnect_signature(secret, body, header, now=timestamp) is SignatureCheck.VALID


@given(secrets_, bodies, st.binary(min_size=1, max_size=5), st.data())
def test_metaconnect_signature_fails_for_any_other_body(
    secret: str, body: bytes, change: bytes, data: st.DataObject
) -> None:
    at = data.draw(st.integers(0, len(body)))
    header = metaconnect_signature(secret, body, NOW)
    other = body[:at] + change + body[at:]
    assert verify_metaconnect_signature(secret, other, header, now=NOW) is SignatureCheck.MISMATCH


@given(secrets_, bodies, st.integers(1, 10_000))
def test_metaconnect_signature_fails_for_another_timestamp(secret: str, body: bytes, shift: int) -> None:
    signature = metaconnect_signature(secret, body, NOW).split(",")[1]
    assert (
        verify_metaconnect_signature(secret, body, f"t={NOW + shift},{signature}", now=NOW) is SignatureCheck.MISMATCH
    )
