"""The digest's settings as an admin types them, checked (pure): each error names its field and rule."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from typing import Any

from pydantic_core import PydanticCustomError

from metaconnect_common.identity import normalize_email
from metaconnect_console.digest.cadence import WEEKDAYS, Cadence, known_zone

MAX_RECIPIENTS = 50  # the delivery service's limit per notification
_SEPARATORS = re.compile(r"[\s,;]+")
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class DigestConfig:
    """What is sent, to whom, and when."""

    enabled: bool = False
    recipients: tuple[str, ...] = ()
    webhook: bool = False
    cadence: Cadence = field(default_factory=Cadence)

    @property
    def sends(self) -> bool:
        """Enabled with somewhere to send to."""
        return self.enabled and (bool(self.recipients) or self.webhook)

    def document(self) -> dict[str, Any]:
        """As the audit trail keeps it."""
        return {
            "enabled": self.enabled,
            "recipients": list(self.recipients),
            "webhook": self.webhook,
            "weekday": self.cadence.weekday,
            "time": f"{self.cadence.at:%H:%M}",
            "time_zone": self.cadence.zone,
        }


@dataclass(frozen=True)
class Typed:
    """The form's fields as typed, to show them again beside their errors."""

    enabled: bool = False
    recipients: str = ""
    webhook: bool = False
    weekday: str = "0"
    time: str = "08:00"
    time_zone: str = "Europe/Berlin"

    @classmethod
    def of(cls, config: DigestConfig) -> Typed:
        return cls(
            enabled=config.enabled,
            recipients="\n".join(config.recipients),
            webhook=config.webhook,
            weekday=str(config.cadence.weekday),
            time=f"{config.cadence.at:%H:%M}",
            time_zone=config.cadence.zone,
        )

    @classmethod
    def from_form(cls, form: Mapping[str, Any]) -> Typed:
        return cls(
            enabled=form.get("enabled") == "on",
            recipients=str(form.get("recipients") or ""),
            webhook=form.get("webhook") == "on",
            weekday=str(form.get("weekday") or ""),
            time=str(form.get("time") or "").strip(),
            time_zone=str(form.get("time_zone") or "").strip(),
        )


def recipients_of(text: str) -> tuple[list[str], list[str]]:
    """(addresses normalised, each once; what was typed that is no address)."""
    found: list[str] = []
    bad: list[str] = []
    for part in _SEPARATORS.split(text):
        if not part:
            continue
        try:
            address = normalize_email(part) if len(part) <= 320 else None
        except PydanticCustomError:
            address = None
        if address is None:
            bad.append(part)
        elif address not in found:
            found.append(address)
    return found, bad


def checked(typed: Typed) -> tuple[DigestConfig | None, dict[str, str]]:
    """The settings, or the errors by field ("rule: what is wrong")."""
    errors: dict[str, str] = {}
    recipients, bad = recipients_of(typed.recipients)
    if bad:
        errors["recipients"] = f"email: not an e-mail address: {', '.join(bad[:5])}"
    elif len(recipients) > MAX_RECIPIENTS:
        errors["recipients"] = f"max_items: at most {MAX_RECIPIENTS} addresses"
    elif typed.enabled and not recipients and not typed.webhook:
        errors["recipients"] = "required: an address, or send by webhook, for a digest that is on"
    weekday = int(typed.weekday) if typed.weekday.isdigit() else -1
    if not 0 <= weekday < len(WEEKDAYS):
        errors["weekday"] = "weekday: one of Monday to Sunday"
    match = _TIME.match(typed.time)
    if match is None:
        errors["time"] = "time: a time of day as HH:MM (24 hours)"
    if not known_zone(typed.time_zone):
        errors["time_zone"] = "time_zone: an IANA time zone, e.g. Europe/Berlin"
    if errors or match is None:
        return None, errors
    cadence = Cadence(weekday=weekday, at=time(int(match[1]), int(match[2])), zone=typed.time_zone)
    return DigestConfig(typed.enabled, tuple(recipients), typed.webhook, cadence), {}
