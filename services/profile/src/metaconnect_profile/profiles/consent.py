"""The consent ledger: one last-writer-wins state per purpose and per marketing channel.

Each state is a `ConsentState(granted, at, source)`: `at` is when the customer decided
(the interaction's `occurred_at`), `source` who reported it (the interaction's `source`).
A change replaces a state only if it is newer (`supersedes`): a later `at` wins; at the
same `at` a withdrawal beats a grant (when unsure, do not process). So changes that arrive
out of order end in the same ledger as changes that arrive in order.

Marketing on a channel (`marketing_consent`): the newer of the purpose-level `marketing`
state and that channel's own state. "Yes to marketing" covers every channel except those
withdrawn later; "STOP" by SMS withdraws SMS only; a later general "no" (or an objection)
withdraws all channels, including any per-channel grant older than it.

Profiling (`granted_at`): a purpose counts for an observation at time `t` only if its
state is a grant made at or before `t`. A withdrawal, or a grant made after `t`, means
no processing: the ledger keeps only the newest decision, so earlier ones are unknown.

An objection (GDPR Art. 21(2)-(3)) is one decision: marketing and both profiling purposes
withdrawn at its time, so marketing on every channel is withdrawn unless a channel is
granted again later; the ledger keeps the newest objection for audit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, NamedTuple, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from metaconnect_common.schemas.interaction import Channel
from metaconnect_common.schemas.profiled import ConsentState, Purpose

PROFILING: Final = (Purpose.PROFILING_QUESTIONNAIRE, Purpose.PROFILING_BEHAVIOUR)
CHANGE_FIELDS: Final = ("purpose", "granted", "channel")

E = TypeVar("E", Purpose, Channel)


class Problem(NamedTuple):
    """One thing wrong with an interaction's properties: where (dotted path), which rule, and why."""

    field: str
    rule: str
    message: str


class Objection(BaseModel):
    """When the customer objected to direct marketing and profiling, and who reported it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    at: AwareDatetime
    source: str


class ConsentLedger(BaseModel):
    """Every consent decision that still counts (the `consent` column)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    purposes: dict[Purpose, ConsentState] = Field(default_factory=dict)
    channels: dict[Channel, ConsentState] = Field(default_factory=dict, description="Marketing, per channel.")
    objection: Objection | None = None


@dataclass(frozen=True)
class PurposeChange:
    """`{"purpose", "granted", "channel"?}`: a grant or withdrawal of one purpose (or one marketing channel)."""

    purpose: Purpose
    granted: bool
    channel: Channel | None = None


@dataclass(frozen=True)
class ObjectionRequest:
    """`{"objection": true}`."""


ConsentChange = PurposeChange | ObjectionRequest


@dataclass(frozen=True)
class ConsentOutcome:
    """The ledger after a change, and the purposes whose withdrawal it recorded."""

    ledger: ConsentLedger
    withdrawn: frozenset[Purpose]
    stale: bool


def parse_change(properties: Mapping[str, Any]) -> ConsentChange | list[Problem]:
    """The change `consent.changed` properties describe, or every problem with them."""
    if "objection" in properties:
        problems = [
            Problem(f"properties.{key}", "unexpected_field", f"`{key}` cannot accompany an objection")
            for key in properties
            if key != "objection"
        ]
        if properties["objection"] is not True:
            problems.insert(
                0,
                Problem(
                    "properties.objection",
                    "objection_true",
                    "objection must be true; grant purposes again to lift an objection",
                ),
            )
        return problems or ObjectionRequest()

    problems = [
        Problem(f"properties.{key}", "unexpected_field", f"`{key}` is not a consent field; expected {CHANGE_FIELDS}")
        for key in properties
        if key not in CHANGE_FIELDS
    ]
    purpose = _enum(Purpose, properties, "purpose", problems, required=True)
    granted = properties.get("granted")
    if "granted" not in properties:
        problems.append(Problem("properties.granted", "required", "granted (true or false) is required"))
    elif not isinstance(granted, bool):
        problems.append(Problem("properties.granted", "type", "granted must be true or false"))
    channel = _enum(Channel, properties, "channel", problems, required=False)
    if channel is not None and purpose is not None and purpose is not Purpose.MARKETING:
        problems.append(
            Problem("properties.channel", "channel_marketing_only", "only marketing consent is given per channel")
        )
    if problems or purpose is None or not isinstance(granted, bool):
        return problems
    return PurposeChange(purpose=purpose, granted=granted, channel=channel)


def _enum(
    kind: type[E], properties: Mapping[str, Any], key: str, problems: list[Problem], *, required: bool
) -> E | None:
    value = properties.get(key)
    if value is None:
        if required:
            problems.append(Problem(f"properties.{key}", "required", f"{key} is required"))
        elif key in properties:
            problems.append(Problem(f"properties.{key}", "type", f"{key} must be a string when given"))
        return None
    allowed = [m.value for m in kind]
    if isinstance(value, str) and value in allowed:
        return kind(value)
    problems.append(Problem(f"properties.{key}", "enum", f"{key} must be one of {allowed}"))
    return None


def supersedes(candidate: ConsentState, current: ConsentState | None) -> bool:
    """Whether `candidate` replaces `current`: later wins; at the same time a withdrawal beats a grant."""
    if current is None:
        return True
    if candidate.at != current.at:
        return candidate.at > current.at
    return current.granted and not candidate.granted


def record(ledger: ConsentLedger, change: ConsentChange, *, at: datetime, source: str) -> ConsentOutcome:
    """Apply `change`, decided at `at` and reported by `source`; stale parts change nothing."""
    if isinstance(change, ObjectionRequest):
        return _object(ledger, ConsentState(granted=False, at=at, source=source))
    state = ConsentState(granted=change.granted, at=at, source=source)
    if change.channel is not None:
        if not supersedes(state, ledger.channels.get(change.channel)):
            return ConsentOutcome(ledger, frozenset(), stale=True)
        channels = {**ledger.channels, change.channel: state}
        return ConsentOutcome(ledger.model_copy(update={"channels": channels}), frozenset(), stale=False)
    if not supersedes(state, ledger.purposes.get(change.purpose)):
        return ConsentOutcome(ledger, frozenset(), stale=True)
    purposes = {**ledger.purposes, change.purpose: state}
    withdrawn = frozenset() if change.granted else frozenset({change.purpose})
    return ConsentOutcome(ledger.model_copy(update={"purposes": purposes}), withdrawn, stale=False)


def _object(ledger: ConsentLedger, withdrawal: ConsentState) -> ConsentOutcome:
    purposes = dict(ledger.purposes)
    withdrawn: set[Purpose] = set()
    for purpose in (Purpose.MARKETING, *PROFILING):
        if supersedes(withdrawal, purposes.get(purpose)):
            purposes[purpose] = withdrawal
            withdrawn.add(purpose)
    # Channel states stay as they are: the purpose-level withdrawal outranks every older one
    # (`marketing_consent`), and leaving them alone keeps the ledger independent of arrival order.
    objection = ledger.objection
    if objection is None or withdrawal.at > objection.at:
        objection = Objection(at=withdrawal.at, source=withdrawal.source)
    updated = ledger.model_copy(update={"purposes": purposes, "objection": objection})
    return ConsentOutcome(updated, frozenset(withdrawn), stale=not withdrawn)


def granted_at(ledger: ConsentLedger, purpose: Purpose, when: datetime) -> bool:
    """Whether `purpose` may be processed for an observation made at `when`."""
    state = ledger.purposes.get(purpose)
    return state is not None and state.granted and state.at <= when


def marketing_consent(ledger: ConsentLedger, channel: Channel) -> ConsentState | None:
    """The state that decides marketing on `channel`: the newer of the purpose's and the channel's."""
    general = ledger.purposes.get(Purpose.MARKETING)
    specific = ledger.channels.get(channel)
    if specific is None:
        return general
    return specific if supersedes(specific, general) else general


def effective_channel_consent(ledger: ConsentLedger) -> dict[Channel, ConsentState]:
    """Marketing consent per channel as it counts now, for every channel with a decision."""
    states = {channel: marketing_consent(ledger, channel) for channel in Channel}
    return {channel: state for channel, state in states.items() if state is not None}
