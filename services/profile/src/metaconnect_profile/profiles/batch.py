"""Interactions applied to the profiles they touch, in memory (pure: no I/O).

`ProfileService.apply` reads what a batch touches (`repository`), hands it here and writes
back the `Changes` this module returns. One interaction or a thousand take this one path:

1. `resolve_steps`, in the partition's order: each interaction's customer (the one owner of
   its identifiers; a new customer when none is known; the oldest of several it links, the
   others merged into it), and the pure rules (`state.apply`) applied to its state.
2. `carry_out`, in the same order: each step's effects on the in-memory profiles (evidence,
   rejections, address invalidation; the personality recomputed when its evidence changed
   or customers merged) and the `mc.profiled.v1` record of the profile after that step;
   at the end, an `mc.customers.v1` record for every identifier the batch attached or
   moved, naming the customer it ends up with.

Rows end up in `Changes`, one list per table, so the writes take one statement per table.
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter

from metaconnect_common.kafka.producer import OutgoingRecord
from metaconnect_common.schemas import Interaction
from metaconnect_common.schemas.customers import customer_ref_record
from metaconnect_profile.identity.keys import CHANNEL_ADDRESS, METACONNECT, published_ref
from metaconnect_profile.identity.resolution import Identifier, resolve, survivor_of
from metaconnect_profile.personality import estimate
from metaconnect_profile.personality.evidence import Evidence
from metaconnect_profile.personality.views import routing_view
from metaconnect_profile.profiles.documents import personality_to_column, state_to_columns
from metaconnect_profile.profiles.merge import merge_states
from metaconnect_profile.profiles.reporting import (
    evidence_row,
    refuse_unscorable,
    rejection_row,
    report,
    stage_change_of,
    stage_change_row,
    timeline_row,
)
from metaconnect_profile.profiles.state import (
    Applied,
    BehaviourSignal,
    DeleteBehaviouralEvidence,
    InvalidateAddress,
    ProfilePolicy,
    ProfileState,
    QuestionnaireSubmitted,
    Reject,
    StageEntered,
    apply,
    new_state,
)

_evidence = TypeAdapter(Evidence)


@dataclass(frozen=True)
class TracedInteraction:
    """An interaction to apply, and the trace headers its `mc.profiled.v1` record carries."""

    interaction: Interaction
    trace_headers: Sequence[tuple[str, bytes]] = ()


@dataclass(frozen=True)
class EvidenceEntry:
    """One piece of a customer's personality evidence: a stored row (`row_id`) or one this batch adds."""

    kind: str  # questionnaire | behaviour
    payload: dict[str, Any]
    row_id: int | None = None
    event_id: uuid.UUID | None = None  # of a row this batch adds
    added: int = 0  # the order of the rows this batch adds: after every stored one

    @property
    def order(self) -> tuple[int, int]:
        """The order of `personality_evidence.id`, the order the estimate reads evidence in."""
        return (0, self.row_id) if self.row_id is not None else (1, self.added)


@dataclass
class Profile:
    """A customer's profile as the batch holds it: the row's state and what the rules need besides."""

    id: uuid.UUID
    created_at: datetime
    state: ProfileState
    personality: dict[str, Any]
    valid: set[Identifier]  # the identifiers that still reach the customer
    stored: frozenset[Identifier] = frozenset()  # every identifier stored for it, valid or not: what a merge moves
    evidence: list[EvidenceEntry] | None = None  # None: not read (no step of the batch needs it)
    new: bool = False  # created by this batch
    merged_into: uuid.UUID | None = None


@dataclass(frozen=True)
class Step:
    """One interaction resolved to its customer, with the rules' outcome."""

    item: TracedInteraction
    customer_id: uuid.UUID
    attached: frozenset[Identifier]
    merged: tuple[uuid.UUID, ...]  # customers this interaction merged into `customer_id`
    applied: Applied


@dataclass
class Changes:
    """The rows a batch writes, one list per table (customer ids as they end up after every merge)."""

    created: list[dict[str, Any]] = field(default_factory=list)  # customers rows, survivors first
    changed: list[dict[str, Any]] = field(default_factory=list)  # customers columns by `id`
    identities: list[dict[str, Any]] = field(default_factory=list)
    invalidations: list[dict[str, Any]] = field(default_factory=list)  # kind, value, reason, at
    evidence: list[dict[str, Any]] = field(default_factory=list)
    evidence_deleted: list[int] = field(default_factory=list)  # stored row ids
    rejections: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    stage_changes: list[dict[str, Any]] = field(default_factory=list)
    processed: list[dict[str, Any]] = field(default_factory=list)
    moved: list[dict[str, Any]] = field(default_factory=list)  # from -> to: a stored merged customer's rows
    merges: list[dict[str, Any]] = field(default_factory=list)
    records: list[OutgoingRecord] = field(default_factory=list)  # mc.profiled.v1, one per step
    customer_refs: list[OutgoingRecord] = field(default_factory=list)  # mc.customers.v1, one per identifier


def unseen(items: Sequence[TracedInteraction], applied_before: set[uuid.UUID]) -> list[TracedInteraction]:
    """The items whose event ids were neither applied before nor seen earlier in the batch."""
    seen = set(applied_before)
    out = []
    for item in items:
        if item.interaction.event_id not in seen:
            seen.add(item.interaction.event_id)
            out.append(item)
    return out


def resolve_steps(
    items: Sequence[TracedInteraction],
    owner_of: dict[Identifier, uuid.UUID],
    profiles: dict[uuid.UUID, Profile],
    *,
    now: datetime,
    policy: ProfilePolicy,
    new_id: Callable[[], uuid.UUID] = uuid.uuid4,
) -> list[Step]:
    """Each item's customer and the rules applied to its state, in order; items naming nobody are left out.

    `owner_of` holds the owners of the items' identifiers and `profiles` those owners (live,
    locked); both gain the customers (ids from `new_id`) and identifiers the batch creates,
    and merges re-point them."""
    steps = []
    for item in items:
        resolution = resolve(item.interaction.customer, owner_of)
        if resolution.unknown:
            continue
        attach = list(resolution.unowned)
        merged: list[Profile] = []
        if not resolution.owners:
            customer_id = new_id()
            customer = Profile(
                id=customer_id,
                created_at=now,
                state=new_state(customer_id, policy),
                personality={},
                valid=set(),
                evidence=[],
                new=True,
            )
            profiles[customer_id] = customer
            attach.append((METACONNECT, str(customer_id)))
        else:
            known = [profiles[o] for o in resolution.owners]
            customer = survivor_of(known)
            merged = [p for p in known if p.id != customer.id]
            if merged:
                customer.state = merge_states(customer.state, [m.state for m in merged], policy)
                _repoint(owner_of, {m.id for m in merged}, customer.id)
                for m in merged:
                    m.merged_into = customer.id
        for identifier in attach:
            owner_of[identifier] = customer.id
        applied = refuse_unscorable(apply(customer.state, item.interaction, now=now, policy=policy), customer.state)
        customer.state = applied.state
        steps.append(Step(item, customer.id, frozenset(attach), tuple(m.id for m in merged), applied))
    return steps


def _repoint(owner_of: dict[Identifier, uuid.UUID], merged: set[uuid.UUID], survivor: uuid.UUID) -> None:
    for identifier, owner in owner_of.items():
        if owner in merged:
            owner_of[identifier] = survivor


def evidence_needed(steps: Sequence[Step]) -> set[uuid.UUID]:
    """The customers whose evidence `carry_out` reads: those with evidence effects and those merging."""
    out: set[uuid.UUID] = set()
    for step in steps:
        if step.merged or any(
            isinstance(e, BehaviourSignal | QuestionnaireSubmitted | DeleteBehaviouralEvidence)
            for e in step.applied.effects
        ):
            out.add(step.customer_id)
            out.update(step.merged)
    return out


def carry_out(
    steps: Sequence[Step], profiles: Mapping[uuid.UUID, Profile], *, now: datetime, policy: ProfilePolicy
) -> Changes:
    """Every step's effects on the profiles and the rows and records to write, in order.

    `profiles` holds the profiles `resolve_steps` left, with the evidence of `evidence_needed` read."""
    carrying = _CarryingOut(profiles, now=now, policy=policy)
    for step in steps:
        carrying.step(step)
    return carrying.finish()


class _CarryingOut:
    """A batch's steps carried out one after the other, and the changes they add up to."""

    def __init__(self, profiles: Mapping[uuid.UUID, Profile], *, now: datetime, policy: ProfilePolicy) -> None:
        self.profiles = profiles
        self.now = now
        self.policy = policy
        self.changes = Changes()
        self.added = itertools.count()

    def step(self, step: Step) -> None:
        customer = self.profiles[step.customer_id]
        interaction = step.item.interaction
        personality_changed = bool(step.merged)
        for merged_id in step.merged:
            merged = self.profiles[merged_id]
            customer.valid |= merged.valid
            customer.evidence = sorted([*_read(customer), *_read(merged)], key=lambda e: e.order)
        customer.valid |= step.attached
        self.changes.identities.extend(
            {"kind": kind, "value": value, "customer_id": customer.id, "created_at": self.now}
            for kind, value in sorted(step.attached)
        )
        for effect in step.applied.effects:
            personality_changed |= self.effect(customer, interaction, effect)
        if personality_changed:
            current = estimate([_evidence.validate_python(e.payload) for e in _read(customer)], self.now)
            customer.personality = personality_to_column(routing_view(current))
        self.changes.timeline.append(timeline_row(interaction, customer.id))
        self.changes.processed.append(
            {"event_id": interaction.event_id, "customer_id": customer.id, "processed_at": self.now}
        )
        self.changes.merges.extend(
            {"survivor_id": customer.id, "merged_id": m, "event_id": interaction.event_id, "merged_at": self.now}
            for m in step.merged
        )
        self.changes.records.append(
            report(
                interaction,
                customer_id=customer.id,
                merged_from=step.merged,
                state=step.applied.state,
                valid=customer.valid,
                personality=customer.personality,
                now=self.now,
                policy=self.policy,
                trace_headers=step.item.trace_headers,
                stage_change=stage_change_of(step.applied.effects),
            )
        )

    def effect(self, customer: Profile, interaction: Interaction, effect: Any) -> bool:
        """Carry out one effect; True when the customer's evidence changed."""
        match effect:
            case Reject():
                self.changes.rejections.append(rejection_row(effect, customer.id, interaction, self.now))
            case DeleteBehaviouralEvidence():
                behaviour = [e for e in _read(customer) if e.kind == "behaviour"]
                customer.evidence = [e for e in _read(customer) if e.kind != "behaviour"]
                self.changes.evidence_deleted.extend(e.row_id for e in behaviour if e.row_id is not None)
                added = {e.event_id for e in behaviour if e.row_id is None}
                self.changes.evidence = [r for r in self.changes.evidence if r["event_id"] not in added]
                return bool(behaviour)
            case InvalidateAddress(channel=channel, reason=reason, address_sha256=hashed):
                kind = CHANNEL_ADDRESS.get(channel)
                if kind:
                    gone = sorted(
                        i
                        for i in customer.valid
                        if i[0] == kind and (hashed is None or hashlib.sha256(i[1].encode()).hexdigest() == hashed)
                    )
                    customer.valid.difference_update(gone)
                    self.changes.invalidations.extend(
                        {"kind": k, "value": v, "reason": reason, "at": self.now} for k, v in gone
                    )
            case StageEntered():
                self.changes.stage_changes.append(stage_change_row(effect, customer.id, interaction, self.now))
            case BehaviourSignal() | QuestionnaireSubmitted():
                row = evidence_row(effect, customer.id, interaction.event_id)
                self.changes.evidence.append(row)
                entry = EvidenceEntry(row["kind"], row["payload"], event_id=row["event_id"], added=next(self.added))
                _read(customer).append(entry)
                return True
        return False

    def finish(self) -> Changes:
        """Customer ids as they end up after every merge, the customers' rows, and whom the
        identifiers the batch attached or moved name now."""
        changes = self.changes
        final = {p.id: _final(self.profiles, p.id) for p in self.profiles.values()}
        for rows in (changes.identities, changes.evidence, changes.rejections, changes.timeline, changes.stage_changes):
            for row in rows:
                row["customer_id"] = final[row["customer_id"]]
        for row in changes.merges:
            row["survivor_id"] = final[row["survivor_id"]]
        for profile in sorted(self.profiles.values(), key=lambda p: p.merged_into is not None):
            columns = {
                **state_to_columns(profile.state),
                "personality": profile.personality,
                "merged_into": final[profile.merged_into] if profile.merged_into else None,
                "updated_at": self.now,
            }
            if profile.new:
                changes.created.append({"id": profile.id, "created_at": profile.created_at, **columns})
            else:
                changes.changed.append({"id": profile.id, **columns})
                if profile.merged_into:
                    changes.moved.append({"from": profile.id, "to": final[profile.id]})
        # One record per identifier, naming its final owner. Until this transaction commits, the
        # owners' row locks and the identities' primary key keep any other from writing about
        # these identifiers, so per identifier the outbox's order is the order of the commits.
        owner_of = {i: final[p.id] for p in self.profiles.values() if p.merged_into for i in p.stored}
        owner_of.update({(row["kind"], row["value"]): row["customer_id"] for row in changes.identities})
        changes.customer_refs = [
            customer_ref_record(ref, owner)
            for (kind, value), owner in sorted(owner_of.items())
            if (ref := published_ref(kind, value))
        ]
        return changes


def _read(profile: Profile) -> list[EvidenceEntry]:
    if profile.evidence is None:
        raise RuntimeError(f"the evidence of {profile.id} was not read (see `evidence_needed`)")
    return profile.evidence


def _final(profiles: Mapping[uuid.UUID, Profile], customer_id: uuid.UUID) -> uuid.UUID:
    """The customer `customer_id` ends up as: itself, or the survivor it was merged into last."""
    while (survivor := profiles[customer_id].merged_into) is not None:
        customer_id = survivor
    return customer_id
