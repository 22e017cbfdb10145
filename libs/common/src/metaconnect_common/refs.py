"""Customer refs: how every read API names a customer (pure).

A `ref` is the customer's Metaconnect id (a UUID) or one identifier written `kind:value`:
`cid:c-1042`, `email:ada@example.com`, `phone:+4915112345678`, `device:<token>`,
`ext:<system>:<value>` (e.g. `ext:crm:C-7`). The value is normalised exactly as ingest
normalises a `CustomerRef` (e-mail lower-cased, phone in E.164), so whatever spelling a
channel app used names the same customer, and `str()` of a parsed identifier is its one
canonical spelling: what `ProfileSnapshot.identities` lists.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Final

from pydantic import ValidationError

from metaconnect_common.errors import ApiError, FieldError, field_errors
from metaconnect_common.schemas.interaction import CustomerRef

REF_KINDS: Final = ("cid", "email", "phone", "device", "ext")
# A customer merged into another is listed among the survivor's identities as `id:<uuid>`.
MERGED_KIND: Final = "id"
_REF_FIELD: Final = {"cid": "customer_id", "email": "email", "phone": "phone", "device": "device_token"}


@dataclass(frozen=True)
class CustomerId:
    """A Metaconnect customer id (a merged customer's id still names its survivor)."""

    id: uuid.UUID

    @property
    def ref_kind(self) -> str:
        return "id"

    def __str__(self) -> str:
        return str(self.id)


@dataclass(frozen=True)
class Identifier:
    """One identifier, normalised: `kind` is `cid`, `email`, `phone`, `device` or `ext:<system>`."""

    kind: str
    value: str

    @property
    def ref_kind(self) -> str:
        """The kind as a ref names it (`ext` for every external system): safe to show, unlike the value."""
        return self.kind.partition(":")[0]

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


CustomerLookup = CustomerId | Identifier


def invalid(field: str, rule: str, message: str) -> ApiError:
    """A 422 in the shared shape naming one field and the rule it broke."""
    return ApiError(422, "validation_failed", message, errors=[FieldError(field=field, rule=rule, message=message)])


def parse_ref(ref: str, *, field: str = "path.ref") -> CustomerLookup:
    """What `ref` names, normalised; raises a 422 `ApiError` naming `field` for anything else
    (the value is never echoed)."""
    try:
        return CustomerId(uuid.UUID(ref))
    except ValueError:
        pass
    kind, sep, value = ref.partition(":")
    if not sep or kind not in REF_KINDS:
        raise invalid(field, "customer_ref", f"a customer id (UUID) or kind:value with kind one of {list(REF_KINDS)}")
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
    if kind == "ext":
        [(system, normalised)] = parsed.external_ids.items()
        return Identifier(f"ext:{system}", normalised)
    normalised = getattr(parsed, _REF_FIELD[kind])
    return Identifier(kind, normalised)


def merged_ref(customer_id: uuid.UUID) -> str:
    """How a survivor's identities list the id of a customer merged into it."""
    return f"{MERGED_KIND}:{customer_id}"


def stored_ref(lookup: CustomerLookup) -> str:
    """The entry of `ProfileSnapshot.identities` that names `lookup`'s customer: the canonical
    identifier, or `id:<uuid>` for a customer id (found there when it was merged into another)."""
    return merged_ref(lookup.id) if isinstance(lookup, CustomerId) else str(lookup)
