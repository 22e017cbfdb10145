"""Identifiers of a customer reference, as (kind, value) pairs (pure)."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime, timedelta

from metaconnect_common.refs import Identifier, merged_ref
from metaconnect_common.schemas import Channel, CustomerRef
from metaconnect_common.schemas.profiled import MAX_PUSH_TOKENS, Contact

# Every customer's own id as an identifier: receipts name customers by it, and a merge moves it
# to the survivor with the other identifiers.
METACONNECT = "mc"

# Which identifier kind reaches a customer on which channel.
CHANNEL_ADDRESS = {
    Channel.EMAIL: "email",
    Channel.SMS: "phone",
    Channel.WHATSAPP: "phone",
    Channel.PUSH: "device",
}


def identifiers(ref: CustomerRef) -> list[tuple[str, str]]:
    """Every identifier the reference names, strongest first (already normalised by the schema)."""
    out: list[tuple[str, str]] = []
    if ref.metaconnect_id:
        out.append((METACONNECT, str(ref.metaconnect_id)))
    if ref.customer_id:
        out.append(("cid", ref.customer_id))
    if ref.email:
        out.append(("email", ref.email))
    if ref.phone:
        out.append(("phone", ref.phone))
    if ref.device_token:
        out.append(("device", ref.device_token))
    out.extend((f"ext:{system}", value) for system, value in sorted(ref.external_ids.items()))
    return out


def contact_of(valid: Collection[tuple[str, str]]) -> Contact:
    """The addresses the delivery service sends to, from the customer's valid (kind, value)
    identifiers; of several e-mail addresses or phone numbers the first in sort order, so
    every replica reports the same one."""
    values: dict[str, list[str]] = {}
    for kind, value in sorted(valid):
        values.setdefault(kind, []).append(value)
    return Contact(
        email=next(iter(values.get("email", [])), None),
        phone=next(iter(values.get("phone", [])), None),
        push_tokens=values.get("device", [])[:MAX_PUSH_TOKENS],
    )


def published_ref(kind: str, value: str) -> str | None:
    """The ref other services know the identifier by (in `ProfileSnapshot.identities`, as the key
    of `mc.customers.v1`): `id:<uuid>` for a Metaconnect id, the canonical `kind:value` otherwise;
    None for a device token, a credential to push with that never leaves profile as a ref."""
    if kind == "device":
        return None
    if kind == METACONNECT:
        return merged_ref(uuid.UUID(value))
    return str(Identifier(kind, value))


def identity_refs(customer_id: uuid.UUID, valid: Collection[tuple[str, str]]) -> list[str]:
    """The customer's valid identifiers as `ProfileSnapshot.identities` lists them, sorted: canonical
    refs, `id:<uuid>` for each customer merged into this one (not its own id), and no device tokens
    (they travel in `contact` only)."""
    own = (METACONNECT, str(customer_id))
    return sorted({ref for kind, value in valid if (kind, value) != own and (ref := published_ref(kind, value))})


def reachable_channels(
    valid_kinds: Collection[str], app_seen_at: datetime | None, *, now: datetime, presence: timedelta
) -> list[Channel]:
    """Channels a customer can be reached on, given the kinds of their valid identifiers.

    In-app only when the customer will see it: the app is installed (a valid device token) or
    the customer was in the app or its inbox within `presence` of `now`. An inbox nobody opens
    reaches no one."""
    channels = [channel for channel, kind in CHANNEL_ADDRESS.items() if kind in valid_kinds]
    present = app_seen_at is not None and now - app_seen_at <= presence
    return [Channel.IN_APP, *channels] if "device" in valid_kinds or present else channels
