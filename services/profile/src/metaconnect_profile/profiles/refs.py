"""How the read API names a customer in its paths, and positions in its listings (pure).

A `ref` is the profile id (a UUID) or one identifier written `kind:value`:
`cid:c-1042`, `email:ada@example.com`, `phone:+4915112345678`, `device:<token>`,
`ext:<system>:<value>` (e.g. `ext:crm:C-7`). The value is normalised exactly as ingest
normalises a `CustomerRef` (e-mail lower-cased, phone in E.164), so whatever spelling a
channel app used finds the same customer.

Identifiers are shown masked in the read API (`a***@example.com`, `+49******678`): an
operator recognises them without holding the address. The export (admin) has them in full.
Listings are paged by opaque keyset cursors, newest first.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from pydantic import ValidationError

from metaconnect_common.errors import ApiError, FieldError, field_errors
from metaconnect_common.schemas import CustomerRef
from metaconnect_profile.identity.keys import identifiers

REF_KINDS: Final = ("cid", "email", "phone", "device", "ext")
_REF_FIELD: Final = {"cid": "customer_id", "email": "email", "phone": "phone", "device": "device_token"}


# --- naming a customer -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProfileId:
    """The profile's own id (a merged customer's id still names its survivor)."""

    id: uuid.UUID


@dataclass(frozen=True)
class Identifier:
    """One identifier, normalised: `kind` is `cid`, `email`, `phone`, `device` or `ext:<system>`."""

    kind: str
    value: str


CustomerLookup = ProfileId | Identifier


def invalid(field: str, rule: str, message: str) -> ApiError:
    """A 422 in the shared shape naming one field and the rule it broke."""
    return ApiError(422, "validation_failed", message, errors=[FieldError(field=field, rule=rule, message=message)])


def parse_ref(ref: str, *, field: str = "path.ref") -> CustomerLookup:
    """What a path's `ref` names; raises a 422 `ApiError` for anything else (the value is never echoed)."""
    try:
        return ProfileId(uuid.UUID(ref))
    except ValueError:
        pass
    kind, sep, value = ref.partition(":")
    if not sep or kind not in REF_KINDS:
        raise invalid(field, "customer_ref", f"a profile id (UUID) or kind:value with kind one of {list(REF_KINDS)}")
    fields: dict[str, Any]
    if kind == "ext":
        system, sep, value = value.partition(":")
        if not sep:
            raise invalid(field, "customer_ref", "an external id is written ext:<system>:<value>")
        fields = {"external_ids": {system: value}}
    else:
        fields = {_REF_FIELD[kind]: value}
    try:
        parsed = CustomerRef.model_validate(fields)
    except ValidationError as exc:
        errors = [e.model_copy(update={"field": field}) for e in field_errors(exc.errors())]
        raise ApiError(422, "validation_failed", f"not a valid {kind} identifier", errors=errors) from None
    [(normalised_kind, normalised)] = identifiers(parsed)
    return Identifier(normalised_kind, normalised)


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
