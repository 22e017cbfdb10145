"""Request signatures: Twilio's, Meta's (WhatsApp webhooks) and Metaconnect's own webhooks.

Pure functions over plain data (no clock, no I/O), so the ingest service (which checks what
providers send) and the delivery service (which signs what it sends) can share them. Every
comparison is constant-time.

* Twilio, `X-Twilio-Signature`: base64(HMAC-SHA1(auth token, URL + each POST parameter's name
  and value, sorted by name)). https://www.twilio.com/docs/usage/security#validating-requests
* Meta, `X-Hub-Signature-256`: `sha256=` + hex HMAC-SHA256(app secret, raw body).
* Metaconnect, `X-Metaconnect-Signature`: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
  "<t>." + raw body)>`; the timestamp is signed too, so a captured request cannot be replayed
  once it is older than the receiver's tolerance. Several `v1=` entries may be sent (one per
  active secret while a secret is rotated); one matching is enough.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from enum import StrEnum
from urllib.parse import SplitResult, urlsplit

TWILIO_SIGNATURE_HEADER = "X-Twilio-Signature"
META_SIGNATURE_HEADER = "X-Hub-Signature-256"
METACONNECT_SIGNATURE_HEADER = "X-Metaconnect-Signature"
METACONNECT_TOLERANCE_S = 300

FormParams = Mapping[str, str] | Iterable[tuple[str, str]]


def twilio_signature(auth_token: str, url: str, params: FormParams = ()) -> str:
    """The `X-Twilio-Signature` of a request Twilio sends to `url` with form `params`.

    `url` is the full URL requested, query string included. `params` are the form-encoded POST
    parameters (empty for GET requests and JSON bodies); a name sent several times contributes
    each of its values, sorted, as Twilio's helper libraries compute it.
    """
    values: dict[str, set[str]] = {}
    for name, value in _pairs(params):
        values.setdefault(name, set()).add(value)
    signed = url + "".join(name + value for name in sorted(values) for value in sorted(values[name]))
    mac = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def twilio_signature_valid(auth_token: str, url: str, params: FormParams, signature: str | None) -> bool:
    """Whether `signature` is Twilio's for a request to `url` with form `params`.

    As Twilio's helper libraries do, the URL is tried both without its port and with the
    scheme's default port: a proxy in front of the receiver may add or drop it.
    """
    if not signature:
        return False
    pairs = list(_pairs(params))
    return any(
        hmac.compare_digest(twilio_signature(auth_token, candidate, pairs), signature)
        for candidate in _url_variants(url)
    )


def meta_signature(app_secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` header value Meta sends with a webhook whose raw body is `body`."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def meta_signature_valid(app_secret: str, body: bytes, header: str | None) -> bool:
    """Whether `header` (the `X-Hub-Signature-256` value) signs `body` with `app_secret`."""
    return header is not None and hmac.compare_digest(meta_signature(app_secret, body), header.strip())


class SignatureCheck(StrEnum):
    """The outcome of checking an `X-Metaconnect-Signature` header."""

    VALID = "valid"
    MISSING = "missing"
    MALFORMED = "malformed"
    MISMATCH = "mismatch"
    STALE = "stale"


def metaconnect_signature(secret: str, body: bytes, timestamp: int) -> str:
    """The `X-Metaconnect-Signature` header value for `body` sent at `timestamp` (unix seconds)."""
    return f"t={timestamp},v1={_metaconnect_digest(secret, body, timestamp)}"


def verify_metaconnect_signature(
    secret: str, body: bytes, header: str | None, *, now: float, tolerance_s: int = METACONNECT_TOLERANCE_S
) -> SignatureCheck:
    """Check an `X-Metaconnect-Signature` header against the raw `body`, at time `now`.

    `STALE` when the signature matches but its timestamp is more than `tolerance_s` away from
    `now` (either way, so a clock running ahead cannot pre-date requests).
    """
    if not header:
        return SignatureCheck.MISSING
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            return SignatureCheck.MALFORMED
        if key == "t":
            if not value.isdigit():
                return SignatureCheck.MALFORMED
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return SignatureCheck.MALFORMED
    expected = _metaconnect_digest(secret, body, timestamp)
    if not any(hmac.compare_digest(expected, candidate) for candidate in candidates):
        return SignatureCheck.MISMATCH
    if abs(now - timestamp) > tolerance_s:
        return SignatureCheck.STALE
    return SignatureCheck.VALID


def _metaconnect_digest(secret: str, body: bytes, timestamp: int) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def _pairs(params: FormParams) -> Iterable[tuple[str, str]]:
    return params.items() if isinstance(params, Mapping) else params


def _url_variants(url: str) -> set[str]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:  # not a valid port: only the URL as given can match
        return {url}
    if port is not None:
        return {url, _with_netloc(parts, parts.netloc.rsplit(":", 1)[0])}
    default = {"https": 443, "http": 80}.get(parts.scheme)
    if default is None:
        return {url}
    return {url, _with_netloc(parts, f"{parts.netloc}:{default}")}


def _with_netloc(parts: SplitResult, netloc: str) -> str:
    return parts._replace(netloc=netloc).geturl()
