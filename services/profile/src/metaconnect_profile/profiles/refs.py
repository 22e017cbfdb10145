"""How the read API names a customer in its paths, and positions in its listings (pure).

A `ref` is the profile id (a UUID) or one identifier written `kind:value`, parsed and
normalised by the rules every service shares (`metaconnect_common.refs`).

Identifiers are shown masked in the read API (`a***@example.com`, `+49******678`): an
operator recognises them without holding the address. The export (admin) has them in full.
Listings are paged by opaque keyset cursors, newest first.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime

from metaconnect_common.refs import REF_KINDS, CustomerId, CustomerLookup, Identifier, invalid, parse_ref

# The profile's own id: a merged customer's id still names its survivor.
ProfileId = CustomerId

__all__ = [
    "REF_KINDS",
    "CustomerLookup",
    "Identifier",
    "ProfileId",
    "decode_before",
    "decode_cursor",
    "encode_cursor",
    "invalid",
    "mask",
    "parse_ref",
]


# --- showing an identifier -------------------------------------------------------------------------------------


def mask(kind: str, value: str) -> str:
    """An identifier as the read API shows it: enough to recognise, too little to contact.

    A Metaconnect id (`mc`) reaches no one and is shown as it is."""
    if kind == "mc":
        return value
    if kind == "email":
        local, _, domain = value.rpartition("@")
        return f"{local[:1]}***@{domain}"
    if kind == "phone":
        return f"{value[:3]}******{value[-3:]}" if len(value) >= 8 else f"{value[:3]}******"
    if len(value) <= 6:
        return f"{value[:1]}***"
    return f"{value[:2]}***{value[-2:]}"


# --- keyset cursors --------------------------------------------------------------------------------------------


def encode_cursor(at: datetime, key: uuid.UUID) -> str:
    """An opaque position after the row `(at, key)` in a newest-first listing."""
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{key}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *, field: str) -> tuple[datetime, uuid.UUID]:
    """The position a cursor from `encode_cursor` names; a 422 for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, key = raw.split("|")
        position = datetime.fromisoformat(at), uuid.UUID(key)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid(field, "cursor", "not a cursor this API returned") from None
    if position[0].tzinfo is None:
        raise invalid(field, "cursor", "not a cursor this API returned")
    return position


def decode_before(before: str, *, field: str = "query.before") -> tuple[datetime, uuid.UUID]:
    """`before` is a cursor (`next_before`) or an RFC 3339 time with offset (`Z` or `%2B01:00`)."""
    try:
        at = datetime.fromisoformat(before)
    except ValueError:
        return decode_cursor(before, field=field)
    if at.tzinfo is None:
        raise invalid(field, "timezone_aware", "a time needs an offset, e.g. 2025-06-01T12:00:00Z")
    return at, uuid.UUID(int=0)  # everything strictly before `at`
