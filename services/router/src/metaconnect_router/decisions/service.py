"""Decide for every profiled event, exactly once, and act on the decision in the same transaction.

One transaction per `mc.profiled.v1` record: skip it if its id was decided on before; keep
the customer's latest profile (bundles choose their channel with it at flush time); learn
from receipts (a delivered item is a failure of its arm until the customer engages, then a
success) and drop pending items the customer already acted on; decide; store the decision
with its explanation; send a transactional item at once (outbox) or put a marketing item
into the customer's open bundle.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from metaconnect_common.db import unit_of_work
from metaconnect_common.kafka.consumer import ConsumedRecord, PermanentError
from metaconnect_common.schemas import Channel, Interaction
from metaconnect_common.schemas.delivery import DeliveryItem, ItemContent
from metaconnect_common.schemas.profiled import Profiled, ProfileSnapshot
from metaconnect_router.bundles import service as bundles
from metaconnect_router.decisions import repository
from metaconnect_router.decisions.decide import ActiveRoute, Choice, Decision, Outcome, decide
from metaconnect_router.decisions.eligibility import SendHistory
from metaconnect_router.decisions.ranking import Arm, Posterior
from metaconnect_router.models import Decision as DecisionRow
from metaconnect_router.models import Item
from metaconnect_router.routes import repository as routes
from metaconnect_router.routes.conditions import parse_condition
from metaconnect_router.routes.spec import DEFAULT_LOCALE, Category, Content, RouteSpec, Tone

log = logging.getLogger(__name__)
HISTORY: timedelta = timedelta(days=31)  # the longest cap window
POSTERIORS_TTL_S = 1.0
ENGAGED = frozenset({"message.opened", "message.clicked", "message.replied"})
ACTED = frozenset({"message.read", "message.opened", "message.clicked", "message.dismissed"})


@dataclass
class _Batch:
    """What the records of one batch read once: new record ids, erased customers, recent sends;
    and the profiles to write once at the end."""

    new: set[uuid.UUID]
    erased: set[uuid.UUID]
    sent: dict[uuid.UUID, dict[Channel, list[datetime]]]
    profiles: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)


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
        for version in await routes.active_versions(session):
            key = (version.route, version.version)
            if key not in self._parsed:
                spec = RouteSpec.model_validate(version.spec)
                condition = parse_condition(spec.trigger.condition) if spec.trigger.condition else None
                self._parsed[key] = ActiveRoute(version.route, version.version, spec, condition)
            out.append(self._parsed[key])
        self._routes, self._loaded_at = out, time.monotonic()
        return out

    def invalidate(self) -> None:
        self._loaded_at = -1e9


def localized(content: dict[Channel, dict[str, Content]], locale: str | None) -> tuple[str, dict[Channel, ItemContent]]:
    """Each channel's text in the customer's locale: exact, then the language, then English.

    Returns the locale the first channel's text is in, and the texts."""
    wanted = [w for w in (locale, locale.split("-")[0] if locale else None) if w]

    def pick(by_locale: dict[str, Content]) -> str:
        return next((w for w in wanted if w in by_locale), DEFAULT_LOCALE)

    chosen = {
        channel: ItemContent.model_validate(by_locale[pick(by_locale)].model_dump())
        for channel, by_locale in content.items()
    }
    return pick(next(iter(content.values()))), chosen


class DecisionService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        catalog: RouteCatalog | None = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        self._sessions = sessions
        self.catalog = catalog or RouteCatalog()
        self._rng = rng or np.random.default_rng()
        self._cached_posteriors: dict[Arm, Posterior] = {}
        self._posteriors_at = -1e9

    async def handle(self, record: ConsumedRecord) -> None:
        """The consumer runner's handler for `mc.profiled.v1`."""
        try:
            profiled = Profiled.model_validate_json(record.value or b"")
        except ValidationError as exc:
            raise PermanentError(f"not a Profiled record: {exc.error_count()} errors") from None
        traceparent = next((v.decode() for k, v in record.headers if k == "traceparent"), None)
        await self.apply(profiled, traceparent=traceparent)

    async def apply(
        self, profiled: Profiled, *, now: datetime | None = None, traceparent: str | None = None
    ) -> uuid.UUID | None:
        """Decide on one record once; the decision's id, or None (seen before, erased, nothing to decide)."""
        async with unit_of_work(self._sessions) as session:
            return await self._apply(session, profiled, now=now or datetime.now(UTC), traceparent=traceparent)

    async def handle_batch(self, records: Sequence[ConsumedRecord]) -> None:
        """The consumer runner's batch handler: a partition's records in order, in one transaction.

        One commit for the batch instead of one per record; if anything fails, nothing is
        written and the runner hands the records to `handle` one by one."""
        parsed = []
        for record in records:
            try:
                profiled = Profiled.model_validate_json(record.value or b"")
            except ValidationError as exc:
                raise PermanentError(f"not a Profiled record: {exc.error_count()} errors") from None
            parsed.append((profiled, next((v.decode() for k, v in record.headers if k == "traceparent"), None)))
        now = datetime.now(UTC)
        customers = list({p.customer_id for p, _ in parsed})
        async with unit_of_work(self._sessions) as session:
            # What every record would read on its own, read once for the batch.
            batch = _Batch(
                new=await repository.mark_processed_many(session, [p.id for p, _ in parsed], now),
                erased=await repository.erased_among(session, customers),
                sent=await repository.histories(session, customers, now - HISTORY),
            )
            for profiled, traceparent in parsed:
                await self._apply(session, profiled, now=now, traceparent=traceparent, batch=batch)
            await repository.save_profiles(session, batch.profiles, now)

    async def _apply(
        self,
        session: AsyncSession,
        profiled: Profiled,
        *,
        now: datetime,
        traceparent: str | None,
        batch: _Batch | None = None,
    ) -> uuid.UUID | None:
        if batch is not None:
            if profiled.id not in batch.new:
                return None
            batch.new.discard(profiled.id)  # the same record twice in one batch: decided once
        elif not await repository.mark_processed(session, profiled.id, now):
            return None
        if profiled.kind == "erased":
            await repository.erase(session, profiled.customer_id, now)
            if batch is not None:
                batch.erased.add(profiled.customer_id)
                batch.profiles.pop(profiled.customer_id, None)
                batch.sent.pop(profiled.customer_id, None)
            return None
        if profiled.interaction is None or profiled.profile is None:
            return None
        customer_id, interaction, profile = profiled.customer_id, profiled.interaction, profiled.profile
        if profiled.merged_from:
            await bundles.merge(session, customer_id, profiled.merged_from)
            if batch is not None:  # the merged customers' sends now count for the survivor
                merged = await repository.history(session, customer_id, now - HISTORY)
                batch.sent[customer_id] = {channel: list(at) for channel, at in merged.sent_at.items()}
        if batch is not None:
            batch.profiles[customer_id] = profile.model_dump(mode="json")
            history = SendHistory(sent_at=batch.sent.get(customer_id, {}))
            erased = customer_id in batch.erased
        else:
            await repository.save_profile(session, customer_id, profile.model_dump(mode="json"), now)
            history = await repository.history(session, customer_id, now - HISTORY)
            erased = await repository.is_erased(session, customer_id)
        await self._learn(session, customer_id, interaction, now)
        decision = decide(
            interaction,
            profile,
            customer_id,
            await self.catalog.active(session),
            posteriors=await self._posteriors(session),
            history=history,
            now=now,
            rng=self._rng,
            erased=erased,
        )
        if decision.outcome is Outcome.NO_MATCH:
            return None  # most events trigger nothing; storing each would only fill the table
        decision_id = await self._act(session, decision, customer_id, interaction, profile, now, traceparent)
        choice = decision.choice
        if batch is not None and choice is not None and choice.message.category is Category.TRANSACTIONAL:
            batch.sent.setdefault(customer_id, {}).setdefault(choice.channels[0], []).append(now)
        return decision_id

    async def _posteriors(self, session: AsyncSession) -> dict[Arm, Posterior]:
        """The arms' posteriors, read at most every `POSTERIORS_TTL_S`: a bandit loses nothing by
        seeing receipts a moment later, and every decision reading the table would cost a query."""
        if time.monotonic() - self._posteriors_at > POSTERIORS_TTL_S:
            self._cached_posteriors = await repository.posteriors(session)
            self._posteriors_at = time.monotonic()
        return self._cached_posteriors

    async def _act(
        self,
        session: AsyncSession,
        decision: Decision,
        customer_id: uuid.UUID,
        interaction: Interaction,
        profile: ProfileSnapshot,
        now: datetime,
        traceparent: str | None,
    ) -> uuid.UUID:
        decision_id = uuid.uuid4()
        choice = decision.choice
        row = DecisionRow(
            id=decision_id,
            customer_id=customer_id,
            event_id=interaction.event_id,
            event_type=interaction.type,
            outcome=decision.outcome.value,
            route=choice.route.name if choice else None,
            route_version=choice.route.version if choice else None,
            message_id=choice.message.id if choice else None,
            tone=choice.tone.value if choice else None,
            channel=choice.channels[0].value if choice else None,
            pattern=decision.pattern,
            holdout=decision.holdout,
            explored=choice.explored if choice else False,
            propensity=choice.propensity if choice else None,
            explanation=decision.explanation,
            trace_id=traceparent.split("-")[1] if traceparent and traceparent.count("-") == 3 else None,
            created_at=now,
        )
        await repository.add_decision(session, row)
        if choice is None:
            return decision_id
        item = _item(decision_id, choice, customer_id, interaction, profile, now, traceparent)
        if choice.message.category is Category.TRANSACTIONAL:
            row.outcome = "sent"
            session.add(item)
            await session.flush()
            locale = item.payload["locale"]
            await bundles.send(session, customer_id, [item], choice.channels, now=now, locale=locale)
        else:
            row.outcome = "bundled"
            bundle = await bundles.add(session, item, choice.route.spec.policy, now)
            row.bundle_id = bundle.id
        return decision_id

    async def _learn(
        self, session: AsyncSession, customer_id: uuid.UUID, interaction: Interaction, now: datetime
    ) -> None:
        props = interaction.properties
        if interaction.type in ACTED:
            listed = props.get("item_ids")
            ids = [i for i in (_uuid(v) for v in listed) if i] if isinstance(listed, list) else []
            key = props.get("collapse_key")
            await repository.act_on_pending(
                session, customer_id, collapse_key=key if isinstance(key, str) else None, item_ids=ids
            )
        delivery_id = _uuid(props.get("delivery_id"))
        if delivery_id is None or interaction.type not in ENGAGED | {"message.delivered"}:
            return
        for item in await repository.delivered_items(session, delivery_id):
            arm = _arm(item)
            if arm is None:
                continue
            if interaction.type == "message.delivered" and item.delivered_at is None:
                item.delivered_at = now
                await repository.add_to_arm(session, arm, successes=0.0, failures=1.0, now=now)
            elif interaction.type in ENGAGED and item.engaged_at is None:
                item.engaged_at = now
                # The delivery counted as a failure until now: it was a success.
                undo = 1.0 if item.delivered_at is not None else 0.0
                await repository.add_to_arm(session, arm, successes=1.0, failures=-undo, now=now)


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value is not None else None
    except ValueError:
        return None


def _arm(item: Item) -> Arm | None:
    arm = item.payload.get("arm")
    channel = item.payload.get("sent_channel")
    if not isinstance(arm, dict) or not channel:
        return None
    return Arm(str(arm["pattern"]), Tone(arm["tone"]), Channel(channel))


def _item(
    decision_id: uuid.UUID,
    choice: Choice,
    customer_id: uuid.UUID,
    interaction: Interaction,
    profile: ProfileSnapshot,
    now: datetime,
    traceparent: str | None,
) -> Item:
    message = choice.message
    locale, content = localized(message.variants[choice.tone], profile.locale)
    item_id = uuid.uuid4()
    delivery_item = DeliveryItem(
        id=item_id,
        decision_id=decision_id,
        route=choice.route.name,
        route_version=choice.route.version,
        message_id=message.id,
        category=message.category.value,
        priority=message.priority,
        tone=choice.tone.value,
        content=content,
        event_id=interaction.event_id,
        created_at=now,
        traceparent=traceparent,
    )
    expires_at = interaction.occurred_at + message.expires_after if message.expires_after else None
    return Item(
        id=item_id,
        decision_id=decision_id,
        customer_id=customer_id,
        state="pending",
        route=choice.route.name,
        message_id=message.id,
        priority=message.priority,
        category=message.category.value,
        collapse_key=message.collapse_key,
        created_at=now,
        expires_at=expires_at,
        not_before=choice.not_before,
        payload={
            "item": delivery_item.model_dump(mode="json"),
            "channels": [c.value for c in choice.channels],
            "arm": {"pattern": choice.arm.pattern, "tone": choice.arm.tone.value},
            "locale": locale,
        },
    )


__all__: Sequence[str] = ["DecisionService", "RouteCatalog", "localized"]
