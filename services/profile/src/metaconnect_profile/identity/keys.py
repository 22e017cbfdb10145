"""Identifiers of a customer reference, as (kind, value) pairs (pure)."""

from __future__ import annotations

from metaconnect_common.schemas import Channel, CustomerRef

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


def reachable_channels(valid_kinds: set[str]) -> list[Channel]:
    """Channels a customer can be reached on, given the kinds of their valid identifiers.

    In-app reaches every known customer (the inbox is keyed by the customer)."""
    channels = [channel for channel, kind in CHANNEL_ADDRESS.items() if kind in valid_kinds]
    return [Channel.IN_APP, *channels]
