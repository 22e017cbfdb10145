"""Decide for every profiled event, exactly once, and act on the decision in the same transaction.

One transaction per batch of `mc.profiled.v1` records (a partition's fetch, or one record);
for each record in order: skip it if its id was decided on before; keep the customer's latest
profile (bundles choose their channel with it at flush time); learn from receipts (a
delivered item is a failure of its arm until the customer engages, then a success) and drop
pending items the customer already acted on; decide; store the decision with its
explanation; send a transactional item at once (outbox) or put a marketing item into the
customer's open bundle. Reads happen once per batch and writes once at its end (`Ledger`).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from metaconnect_common.conditions import parse_condition
from metaconnect_common.db import unit_of_work
from metaconnect_common.kafka.tracing import context_from, traceparent_of
from metaconnect_common.schemas import Interaction
from metaconnect_common.schemas.profiled import Profiled, ProfileSnapshot
from metaconnect_router import metrics
from metaconnect_router.bundles.ledger import Ledger
from metaconnect_router.bundles.rows import ItemRow
from metaconnect_router.bundles.schemas import ItemPayload
from metaconnect_router.decisions import repository
from metaconnect_router.decisions.acting import DecisionBatch, reason_codes, record
from metaconnect_router.decisions.decide import DEFAULT_TONE_PRIOR, ActiveRoute, Decision, Outcome, decide
from metaconnect_router.decisions.eligibility import SendHistory
from metaconnect_router.decisions.ranking import Arm, Posterior, TonePrior
from metaconnect_router.journeys.catalog import JourneyCatalog
from metaconnect_router.journeys.sending import JourneySender
from metaconnect_router.journeys.walking import Walking
from metaconnect_router.routes.service import ROUTES
from metaconnect_router.routes.spec import STORED_SPEC, RouteSpec
from metaconnect_router.versioning import active_versions

log = logging.getLogger(__name__)
tracer = trace.get_tracer("metaconnect.router")
HISTORY: timedelta = timedelta(days=31)  # the longest cap window
POSTERIORS_TTL_S = 1.0
READ = "message.read"
ENGAGED = frozenset({"message.opened", "message.clicked", "message.replied", READ})
ACTED = frozenset({"message.read", "message.opened", "message.clicked", "message.dismissed"})
# A provider took it: for push and e-mail, whose APIs report no delivery, the last word on it.
REACHED = frozenset({"message.sent", "message.delivered"})
LEARNS = ENGAGED | REACHED
FAILED = "message.failed"  # names the items that never reached the customer


class RouteCatalog:
    """The active routes, parsed once per version and reloaded at most every `ttl_s`."""

    def __init__(self, ttl_s: float = 2.0) -> None:
        self._ttl_s = ttl_s
        self._loaded_at = -1e9
        self._routes: list[ActiveRoute] = []
        self._parsed: dict[tuple[str, int], ActiveRoute] = {}

    async def active(self, session: AsyncSession) -> list[ActiveRoute]:
        if time.monotonic() - self._loaded_at < self._ttl_s:
            return self._routes
        out = []
        for version in await active_versions(session, ROUTES):
            key = (version.route, version.version)
            if key not in self._parsed:
                spec = RouteSpec.model_validate(version.spec, context=STORED_SPEC)
                condition = parse_condition(spec.trigger.condition) if spec.trigger.condition else None
                self._parsed[key] = ActiveRoute(version.route, version.version, spec, condition)
            out.append(self._parsed[key])
        self._routes, self._loaded_at = out, time.monotonic()
        return out

    def invalidate(self) -> None:
        self._loaded_at = -1e9


class DecisionService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        catalog: RouteCatalog | None = None,
        rng: np.random.Generator | None = None,
        tone_prior: TonePrior = DEFAULT_TONE_PRIOR,
        read_weight: float = 0.5,
        journeys: JourneyCatalog | None = None,
    ) -> None:
        self._sessions = sessions
        self.catalog = catalog or RouteCatalog()
        self.journeys = journeys or JourneyCatalog()
        self._rng = rng or np.random.default_rng()
        self.sender = JourneySender(self._rng, tone_prior)
        self._tone_prior = tone_prior
        self._read_weight = read_weight
        self._cached_posteriors: dict[Arm, Posterior] = {}
        self._posteriors_at = -1e9

    async def simulate(
        self,
        event: Interaction,
        profile: ProfileSnapshot,
        customer_id: uuid.UUID,
        *,
        draft: RouteSpec | None = None,
        now: datetime,
    ) -> Decision:
        """The decision the live code would make on `event` for `profile`, with the active routes
        (and `draft` as if it were active, in place of a route of its name); sends and stores nothing.
        The customer's send history is not read: caps and open bundles do not count."""
        async with self._sessions() as session:
            active = await self.catalog.active(session)
            posteriors = await repository.posteriors(session)
        candidates = [r for r in active if draft is None or r.name != draft.name]
        if draft is not None:
            condition = parse_condition(draft.trigger.condition) if draft.trigger.condition else None
            candidates.append(ActiveRoute(draft.name, 0, draft, condition))
        return decide(
            event,
            profile,
            customer_id,
            candidates,
            posteriors=posteriors,
            history=SendHistory(sent_at={}),
            now=now,
            rng=np.random.default_rng(),
            tone_prior=self._tone_prior,
        )

    async def apply(
        self, profiled: Profiled, *, now: datetime | None = None, traceparent: str | None = None
    ) -> uuid.UUID | None:
        """Decide on one record once; the decision's id, or None (seen before, erased, nothing to decide)."""
        [decided] = await self.apply_all([(profiled, traceparent)], now=now or datetime.now(UTC))
        return decided

    async def apply_all(
        self, records: Sequence[tuple[Profiled, str | None]], *, now: datetime
    ) -> list[uuid.UUID | None]:
        """Decide on records (with their traceparents) in order, in one transaction; each record once.

        What every record needs is read once for all: which were decided on before, erased
        customers, open bundles with their pending items and recent sends, the items receipts
        refer to. Decisions, bundles and sends change in memory and are written at the end with
        one statement per table and kind."""
        customers = list(dict.fromkeys(p.customer_id for p, _ in records))
        receipts = [d for d in (_delivery_of(p) for p, _ in records) if d is not None]
        async with unit_of_work(self._sessions) as session:
            ledger = Ledger()
            new, erased = await repository.mark_processed(session, [p.id for p, _ in records], customers, now)
            batch = DecisionBatch(
                new=new,
                erased=erased,
                ledger=ledger,
                routes=await self.catalog.active(session),
                posteriors=await self.posteriors(session),
                walking=Walking(self.journeys),
            )
            await batch.walking.load(session, customers)  # walks before bundles, as the timer loop locks them
            await ledger.load(session, customers, sends_since=now - HISTORY)
            await ledger.load_delivered(session, receipts)
            # Each record its own microsecond: later records are newer (a collapse key keeps the
            # later item) as when they are decided one at a time.
            decided = [
                await self._apply(session, batch, p, now=now + timedelta(microseconds=i), traceparent=t)
                for i, (p, t) in enumerate(records)
            ]
            await repository.add_decisions(session, batch.decisions)  # before a merge repoints them
            await batch.walking.write(session)
            await ledger.write(session, now)
            await repository.add_to_arms(session, batch.arms, now)
        for outcome, reason in batch.outcomes:
            metrics.DECISIONS.labels(outcome, reason).inc()
        ledger.observe(now)
        batch.walking.observe()
        return decided

    async def _apply(
        self, session: AsyncSession, batch: DecisionBatch, profiled: Profiled, *, now: datetime, traceparent: str | None
    ) -> uuid.UUID | None:
        if profiled.id not in batch.new:
            return None
        batch.new.discard(profiled.id)  # the same record twice in one batch: decided once
        ledger, walking, customer_id = batch.ledger, batch.walking, profiled.customer_id
        if profiled.kind == "erased":
            ledger.erase(customer_id)
            batch.erased.add(customer_id)
            walking.erase(customer_id, now)
            return None
        if profiled.interaction is None or profiled.profile is None:
            return None
        interaction, profile = profiled.interaction, profiled.profile
        if profiled.merged_from:
            await walking.load(session, profiled.merged_from)
            await ledger.load(session, profiled.merged_from, sends_since=now - HISTORY)
            ledger.merge(customer_id, profiled.merged_from)
            self.sender.carry_out(batch, walking, walking.merge(customer_id, profiled.merged_from, now), profile, now)
        ledger.save_profile(customer_id, profile)
        self._learn(batch, customer_id, interaction, now)
        # The decision's span, in the trace of the interaction (the runner's batch span only links to it).
        span = tracer.start_span("decide", context=context_from(traceparent), kind=SpanKind.INTERNAL)
        decision = decide(
            interaction,
            profile,
            customer_id,
            batch.routes,
            posteriors=batch.posteriors,
            history=SendHistory(sent_at=ledger.sent.get(customer_id, {})),
            now=now,
            rng=self._rng,
            erased=customer_id in batch.erased,
            tone_prior=self._tone_prior,
        )
        decision_id, outcome = None, decision.outcome.value
        # Most events trigger nothing (no_match): storing each would only fill the table.
        if decision.outcome is not Outcome.NO_MATCH:
            decision_id, outcome = record(
                batch, decision, customer_id, interaction, profile, now, traceparent_of(span.get_span_context())
            )
        reasons = reason_codes(decision)
        batch.outcomes.append((outcome, reasons[0] if reasons else "none"))
        moved = await walking.on_event(session, customer_id, interaction, profile, profiled.stage_change, now)
        self.sender.carry_out(batch, walking, moved, profile, now, traceparent_of(span.get_span_context()))
        if span.is_recording():  # a sampled-out trace: nothing to describe
            span.set_attributes(_span_attributes(decision, outcome, reasons, decision_id))
        span.end()
        return decision_id

    async def posteriors(self, session: AsyncSession) -> dict[Arm, Posterior]:
        """The arms' posteriors, read at most every `POSTERIORS_TTL_S`: a bandit loses nothing by
        seeing receipts a moment later, and every decision reading the table would cost a query."""
        if time.monotonic() - self._posteriors_at > POSTERIORS_TTL_S:
            self._cached_posteriors = await repository.posteriors(session)
            self._posteriors_at = time.monotonic()
        return self._cached_posteriors

    def _learn(self, batch: DecisionBatch, customer_id: uuid.UUID, interaction: Interaction, now: datetime) -> None:
        props = interaction.properties
        if interaction.type in ACTED:
            listed = props.get("item_ids")
            ids = [i for i in (_uuid(v) for v in listed) if i] if isinstance(listed, list) else []
            key = props.get("collapse_key")
            batch.ledger.act(customer_id, collapse_key=key if isinstance(key, str) else None, item_ids=ids)
        delivery_id = _uuid(props.get("delivery_id"))
        if delivery_id is not None and interaction.type == FAILED:
            listed = props.get("item_ids")
            batch.ledger.failed(
                delivery_id, [i for i in (_uuid(v) for v in listed) if i] if isinstance(listed, list) else []
            )
        if delivery_id is None or interaction.type not in LEARNS:
            return
        delivered = batch.ledger.delivered(delivery_id)
        if interaction.type in REACHED:  # every item of the delivery reached the customer
            for item in delivered:
                arm = _arm(item)
                if arm is not None and item.delivered_at is None:
                    batch.ledger.mark(item, delivered_at=now)
                    batch.arms.setdefault(arm, [0.0, 0.0])[1] += 1.0
            return
        weight = self._read_weight if interaction.type == READ else 1.0
        for item in credited(delivered, props.get("item_ids")):
            arm = _arm(item)
            if arm is None or item.engaged_at is not None:
                continue
            batch.ledger.mark(item, engaged_at=now)
            counts = batch.arms.setdefault(arm, [0.0, 0.0])
            # The delivery counted as a failure until now: (this much of) it was a success.
            counts[0] += weight
            counts[1] -= weight if item.delivered_at is not None else 0.0


def credited(delivered: Sequence[ItemRow], item_ids: object) -> list[ItemRow]:
    """The items an engagement receipt credits (pure): those it names in `item_ids`; naming none,
    the first the customer saw (a bundle's first in reading order, or the one item sent alone):
    one click on a digest is not a click on every item in it."""
    if isinstance(item_ids, list) and item_ids:
        named = {i for i in (_uuid(v) for v in item_ids) if i}
        return [item for item in delivered if item.id in named]
    return sorted(delivered, key=lambda i: (-i.priority, i.created_at, i.id))[:1]


def _span_attributes(
    decision: Decision, outcome: str, reasons: Sequence[str], decision_id: uuid.UUID | None
) -> dict[str, Any]:
    """What a decision's span says: the outcome, reason codes and choice; never the customer, nor
    their personality (the tone is what was sent, not what they were estimated to be)."""
    attributes: dict[str, Any] = {
        "metaconnect.decision.outcome": outcome,
        "metaconnect.decision.reasons": list(reasons),
        "metaconnect.decision.holdout": decision.holdout,
        "metaconnect.decision.routes_matched": len(decision.explanation.get("matched", ())),
    }
    if decision_id is not None:
        attributes["metaconnect.decision_id"] = str(decision_id)
    choice = decision.choice
    if choice is not None:
        attributes |= {
            "metaconnect.route": choice.route.name,
            "metaconnect.message_id": choice.message.id,
            "metaconnect.tone": choice.tone.value,
            "metaconnect.channel": choice.channels[0].value,
            "metaconnect.decision.explored": choice.explored,
        }
    return attributes


def _delivery_of(profiled: Profiled) -> uuid.UUID | None:
    """The delivery a receipt (or an engagement with a delivered message) is about."""
    interaction = profiled.interaction
    if interaction is None or (interaction.type not in LEARNS and interaction.type != FAILED):
        return None
    return _uuid(interaction.properties.get("delivery_id"))


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value is not None else None
    except ValueError:
        return None


def _arm(item: ItemRow) -> Arm | None:
    """The arm a sent item's receipts teach; none once its customer was erased."""
    payload = item.payload
    if not isinstance(payload, ItemPayload) or payload.sent_channel is None:
        return None
    return Arm(payload.arm.pattern, payload.arm.tone, payload.sent_channel)


__all__: Sequence[str] = ["DecisionService", "RouteCatalog"]
