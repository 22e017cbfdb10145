"""Pure helpers of the admin forms: what a person typed, and what a service refused, as the page shows it."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

_SEPARATORS = re.compile(r"[\s,]+")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_EMAIL = 320


@dataclass(frozen=True)
class KeyForm:
    """A new API key as typed into its form."""

    name: str = ""
    scopes: list[str] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)
    event_types: str = ""
    rate_per_s: str = ""
    burst: str = ""

    def request(self) -> dict[str, Any]:
        """Ingest's `ApiKeyCreate`: limits left empty take the service's defaults; numbers go as
        typed, so the service parses them and names the rule one breaks."""
        body: dict[str, Any] = {
            "name": self.name,
            "scopes": self.scopes,
            "channels": self.channels,
            "event_types": split_list(self.event_types),
        }
        for limit, typed in (("rate_per_s", self.rate_per_s), ("burst", self.burst)):
            if typed.strip():
                body[limit] = typed.strip()
        return body


def split_list(text: str) -> list[str]:
    """Items typed one per line or separated by commas, in order, each once."""
    return list(dict.fromkeys(part for part in _SEPARATORS.split(text) if part))


def normalized_email(value: str) -> str | None:
    """The address as members are kept (trimmed, lower case), or None if it is no address."""
    address = value.strip().lower()
    if len(address) > MAX_EMAIL or not _EMAIL.fullmatch(address):
        return None
    return address


def service_errors(body: Any) -> tuple[str, dict[str, str]]:
    """A service's refusal as (message, {form field: "rule: message"}).

    The services answer `{"error", "message", "errors": [{"field", "rule", "message"}]}`; a field
    inside a list (`event_types.1`) belongs to the form field holding the list (`event_types`).
    """
    if not isinstance(body, dict):
        return (str(body) if body else "the service refused this"), {}
    message = str(body.get("message") or body.get("error") or "the service refused this")
    fields: dict[str, str] = {}
    for error in _dicts(body.get("errors")):
        field = str(error.get("field", "")).split(".")[0]
        text = f"{error.get('rule', 'invalid')}: {error.get('message', '')}".rstrip(": ")
        fields[field] = f"{fields[field]}; {text}" if field in fields else text
    return message, fields


def _dicts(value: Any) -> Iterable[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


CIRCUIT_BADGES: dict[str | None, tuple[str, str]] = {
    "closed": ("ok", "closed"),
    "half_open": ("warn", "half-open (trying)"),
    "open": ("bad", "open (failing fast)"),
    None: ("", "not loaded"),
}


def circuit_badge(circuit: str | None) -> tuple[str, str]:
    """(CSS class, label) of a provider's circuit state badge."""
    return CIRCUIT_BADGES.get(circuit, ("", str(circuit)))
