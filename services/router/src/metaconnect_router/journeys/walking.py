"""One transaction's journey walks: the active walks of some customers, locked; what their
events (or due timers) did to them; and what that asks of the caller (messages to decide).

The decision batch and the timer loop both work on one: `load` the customers first (walks
are locked before bundles, in both, so the two never wait on each other in a circle), move
walks with `on_event` / `on_timer`, carry out the `Send`s the moves return (the caller owns
the decision code), and `write` at the end: walks, their history and the interactions an
`update` step publishes, all in the caller's transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from metaconnect_common.kafka.producer import OutgoingRecord
from metaconnect_common.outbox import enqueue
from metaconnect_common.schemas import Channel, CustomerRef, Interaction
from metaconnect_common.schemas.profiled import ProfileSnapshot, StageChange
from metaconnect_common.topics import INTERACTIONS
from metaconnect_router import metrics
from metaconnect_router.journeys import engine, repository
from metaconnect_router.journeys.catalog import JourneyCatalog
from metaconnect_router.journeys.engine import Action, CompiledJourney, Moves, StepRun, Update, Walk
from metaconnect_router.models import OUTBOX

SOURCE_PREFIX: Final = "journey:"
"""The `source` of the interactions a journey publishes is `journey:<name>`: the profile service
counts none of them as the customer's doing."""
EVENT_FIELDS: Final = ("event_id", "type", "channel", "source", "occurred_at", "properties")
"""What a walk keeps of its event: what conditions and templates read; never who the customer is."""


def event_document(interaction: Interaction) -> dict[str, Any]:
    return interaction.model_dump(mode="json", include=set(EVENT_FIELDS))


def objects(interaction: Interaction) -> bool:
    """The customer objected to marketing and profiling (GDPR Art. 21): they leave every journey."""
    return interaction.type == "consent.changed" and interaction.properties.get("objection") is True


class Walking:
    def __init__(self, catalog: JourneyCatalog) -> None:
        self._catalog = catalog
        self._journeys: dict[tuple[str, int], CompiledJourney] = {}
        self._entering: list[CompiledJourney] = []
        self._loaded: set[uuid.UUID] = set()
        self.active: dict[uuid.UUID, list[Walk]] = {}
        self.touched: dict[uuid.UUID, Walk] = {}
        self.steps: list[StepRun] = []
        self.published: list[OutgoingRecord] = []

    async def load(self, session: AsyncSession, customers: Sequence[uuid.UUID]) -> None:
        """The customers' active walks (locked) and the journeys they and new entries need."""
        self._entering = await self._catalog.active(session)
        wanted = [c for c in dict.fromkeys(customers) if c not in self._loaded]
        self._loaded.update(wanted)
        await self._hold(session, await repository.lock_active(session, sorted(wanted)))

    async def claim_due(self, session: AsyncSession, now: datetime, limit: int) -> list[Walk]:
        """Walks whose wait is due that no other transaction holds (for the timer loop)."""
        walks = await repository.claim_due(session, now, limit)
        await self._hold(session, walks)
        return walks

    async def claim_one(self, session: AsyncSession, walk_id: uuid.UUID, now: datetime) -> list[Walk]:
        """The walk, if it is still due and no other transaction holds it (the timer loop's one-by-one round)."""
        walks = await repository.claim_walk(session, walk_id, now)
        await self._hold(session, walks)
        return walks

    async def _hold(self, session: AsyncSession, walks: Sequence[Walk]) -> None:
        versions = await self._catalog.versions(session, [(w.journey, w.version) for w in walks])
        self._journeys.update(versions)
        for walk in walks:
            self.active.setdefault(walk.customer_id, []).append(walk)

    # -- moving --------------------------------------------------------------------------------

    async def on_event(
        self,
        session: AsyncSession,
        customer_id: uuid.UUID,
        interaction: Interaction,
        profile: ProfileSnapshot,
        stage_change: StageChange | None,
        now: datetime,
    ) -> list[Action]:
        """What the customer's event does to their walks: goals, awaited events, entries."""
        moves = Moves()
        walks = [w for w in self.active.get(customer_id, ()) if w.active]
        if objects(interaction):
            for walk in walks:
                self._leave(walk, "objected", now, moves)
            return moves.actions
        entering = [j for j in self._entering if _may_enter_on(j, interaction, stage_change)]
        if not walks and not entering:
            return []
        event, profile_doc = event_document(interaction), profile.model_dump(mode="json")
        zone = profile.time_zone
        for walk in walks:
            journey = self._journeys[(walk.journey, walk.version)]
            engine.on_event(journey, walk, event, profile_doc, stage_change, now, moves, time_zone=zone)
            self._touch(walk)
        walking = {w.journey for w in walks if w.active}
        for journey in entering:
            if journey.name in walking or not engine.enters(journey, event, profile_doc, stage_change, now):
                continue
            if not engine.may_enter(
                journey.spec, await repository.last_entered(session, journey.name, customer_id), now
            ):
                continue
            walk = engine.start(journey, customer_id, event, profile_doc, now, moves, time_zone=zone)
            self._journeys[(journey.name, journey.version)] = journey
            self.active.setdefault(customer_id, []).append(walk)
            self._touch(walk)
        return moves.actions

    async def _last_entered(self, session: AsyncSession, journey: str, customer_id: uuid.UUID) -> datetime | None:
        """The last time the customer entered the journey, walks of this transaction included."""
        times = [w.entered_at for w in self.touched.values() if w.journey == journey and w.customer_id == customer_id]
        stored = await repository.last_entered(session, journey, customer_id)
        return max([*times, *([stored] if stored else [])], default=None)

    def on_timer(self, walk: Walk, profile: ProfileSnapshot | None, now: datetime) -> list[Action]:
        """The walk's wait fell due. Its customer erased (`profile` None: the router forgot it), it leaves."""
        if profile is None:
            self.erase(walk.customer_id, now)
            return []
        moves = Moves()
        journey = self._journeys[(walk.journey, walk.version)]
        engine.on_timer(journey, walk, profile.model_dump(mode="json"), now, moves, time_zone=profile.time_zone)
        self._touch(walk)
        return moves.actions

    def erase(self, customer_id: uuid.UUID, now: datetime) -> None:
        """The customer was erased: they leave every journey at once (which asks for nothing but history)."""
        moves = Moves()
        for walk in [w for w in self.active.get(customer_id, ()) if w.active]:
            self._leave(walk, "erased", now, moves)
        self.steps += [a for a in moves.actions if isinstance(a, StepRun)]

    def merge(self, survivor: uuid.UUID, merged: Sequence[uuid.UUID], now: datetime) -> list[Action]:
        """Customers merged into `survivor`: their walks leave (`merged`) where the survivor walks
        the same journey, and walk on as the survivor's otherwise."""
        moves = Moves()
        walking = {w.journey for w in self.active.get(survivor, ()) if w.active}
        for customer in merged:
            for walk in [w for w in self.active.pop(customer, ()) if w.active]:
                if walk.journey in walking:
                    self._leave(walk, "merged", now, moves)
                    continue
                walk.customer_id = survivor
                walking.add(walk.journey)
                self.active.setdefault(survivor, []).append(walk)
                self._touch(walk)
        return moves.actions

    def _leave(self, walk: Walk, reason: str, now: datetime, moves: Moves) -> None:
        engine.leave(walk, reason, now, moves)
        self._touch(walk)

    def _touch(self, walk: Walk) -> None:
        self.touched[walk.id] = walk

    # -- carrying out ------------------------------------------------------------------------------

    def keep(self, run: StepRun) -> None:
        self.steps.append(run)

    def publish(self, update: Update, now: datetime) -> None:
        """An update step's interactions: traits (`profile.updated`), a stage (`lifecycle.moved`)."""
        walk = update.walk
        changes: list[tuple[str, dict[str, Any]]] = []
        if update.traits:
            changes.append(("profile.updated", {"traits": update.traits}))
        if update.stage is not None:
            changes.append(("lifecycle.moved", {"stage": update.stage}))
        for kind, properties in changes:
            interaction = Interaction(
                # The same step of the same walk at the same time is the same interaction.
                event_id=uuid.uuid5(walk.id, f"{update.step_id}:{kind}:{now.isoformat()}"),
                customer=CustomerRef(metaconnect_id=walk.customer_id),
                type=kind,
                channel=Channel.WEB,
                occurred_at=now,
                received_at=now,
                source=f"{SOURCE_PREFIX}{walk.journey}",
                properties=properties,
            )
            value = interaction.model_dump_json().encode()
            self.published.append(OutgoingRecord(INTERACTIONS, interaction.kafka_key(), value))

    async def write(self, session: AsyncSession) -> None:
        await repository.write(session, self.touched.values(), self.steps)
        await enqueue(session, OUTBOX, self.published)

    def observe(self) -> None:
        """Count the steps run (after the commit that made them so)."""
        for run in self.steps:
            metrics.JOURNEY_STEPS.labels(run.walk.journey, run.kind, run.outcome).inc()


def _may_enter_on(journey: CompiledJourney, interaction: Interaction, stage_change: StageChange | None) -> bool:
    """A cheap first look: does this event's type (or stage change) name the journey's entry at all?"""
    entry = journey.spec.entry
    if entry.stage is not None:
        return stage_change is not None and stage_change.to_stage == entry.stage
    return engine.type_matches(entry.event_types or (), interaction.type)


__all__: Sequence[str] = ["Walking", "event_document"]
