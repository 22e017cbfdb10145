"""All SQL of deciding: processed records, profiles, erased customers, arm statistics, sends, decisions."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from metaconnect_common.schemas import Channel
from metaconnect_router.decisions.eligibility import SendHistory
from metaconnect_router.decisions.ranking import Arm, Posterior
from metaconnect_router.models import ArmStats, CustomerProfile, Decision, Erased, Item, Processed, Send
from metaconnect_router.routes.spec import Tone


async def mark_processed(session: AsyncSession, record_id: uuid.UUID, now: datetime) -> bool:
    """False when the record was decided on before (its transaction committed)."""
    inserted = await session.execute(
        insert(Processed)
        .values(record_id=record_id, processed_at=now)
        .on_conflict_do_nothing()
        .returning(Processed.record_id)
    )
    return inserted.first() is not None


async def mark_processed_many(session: AsyncSession, record_ids: Sequence[uuid.UUID], now: datetime) -> set[uuid.UUID]:
    """The record ids not decided on before (now marked), in one statement."""
    if not record_ids:
        return set()
    inserted = await session.execute(
        insert(Processed)
        .values([{"record_id": r, "processed_at": now} for r in dict.fromkeys(record_ids)])
        .on_conflict_do_nothing()
        .returning(Processed.record_id)
    )
    return set(inserted.scalars())


async def save_profiles(session: AsyncSession, profiles: dict[uuid.UUID, dict[str, Any]], now: datetime) -> None:
    """The latest profile of each customer, in one statement."""
    if not profiles:
        return
    statement = insert(CustomerProfile).values(
        [{"customer_id": c, "profile": p, "updated_at": now} for c, p in profiles.items()]
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[CustomerProfile.customer_id],
            set_={"profile": statement.excluded.profile, "updated_at": statement.excluded.updated_at},
        )
    )


async def erased_among(session: AsyncSession, customers: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    rows = await session.scalars(select(Erased.customer_id).where(Erased.customer_id.in_(list(customers))))
    return set(rows)


async def histories(
    session: AsyncSession, customers: Sequence[uuid.UUID], since: datetime
) -> dict[uuid.UUID, dict[Channel, list[datetime]]]:
    rows = await session.execute(
        select(Send.customer_id, Send.channel, Send.sent_at)
        .where(Send.customer_id.in_(list(customers)), Send.sent_at >= since)
        .order_by(Send.sent_at)
    )
    out: dict[uuid.UUID, dict[Channel, list[datetime]]] = {}
    for customer, channel, at in rows:
        out.setdefault(customer, {}).setdefault(Channel(channel), []).append(at)
    return out


async def save_profile(session: AsyncSession, customer_id: uuid.UUID, profile: dict[str, Any], now: datetime) -> None:
    statement = insert(CustomerProfile).values(customer_id=customer_id, profile=profile, updated_at=now)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[CustomerProfile.customer_id], set_={"profile": profile, "updated_at": now}
        )
    )


async def profile_of(session: AsyncSession, customer_id: uuid.UUID) -> dict[str, Any] | None:
    found: dict[str, Any] | None = await session.scalar(
        select(CustomerProfile.profile).where(CustomerProfile.customer_id == customer_id)
    )
    return found


async def erase(session: AsyncSession, customer_id: uuid.UUID, now: datetime) -> None:
    """Forget what the router holds of the customer; remember only that they were erased."""
    await session.execute(insert(Erased).values(customer_id=customer_id, erased_at=now).on_conflict_do_nothing())
    await session.execute(delete(CustomerProfile).where(CustomerProfile.customer_id == customer_id))
    await session.execute(
        update(Item).where(Item.customer_id == customer_id, Item.state == "pending").values(state="erased")
    )
    await session.execute(delete(Send).where(Send.customer_id == customer_id))


async def is_erased(session: AsyncSession, customer_id: uuid.UUID) -> bool:
    return await session.scalar(select(Erased.customer_id).where(Erased.customer_id == customer_id)) is not None


async def posteriors(session: AsyncSession) -> dict[Arm, Posterior]:
    rows = await session.execute(
        select(ArmStats.pattern, ArmStats.tone, ArmStats.channel, ArmStats.successes, ArmStats.failures)
    )
    return {
        Arm(pattern, Tone(tone), Channel(channel)): Posterior(max(0.0, successes), max(0.0, failures))
        for pattern, tone, channel, successes, failures in rows
    }


async def add_to_arm(session: AsyncSession, arm: Arm, *, successes: float, failures: float, now: datetime) -> None:
    statement = insert(ArmStats).values(
        pattern=arm.pattern,
        tone=arm.tone.value,
        channel=arm.channel.value,
        successes=max(0.0, successes),
        failures=max(0.0, failures),
        updated_at=now,
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[ArmStats.pattern, ArmStats.tone, ArmStats.channel],
            set_={
                "successes": ArmStats.successes + successes,
                "failures": ArmStats.failures + failures,
                "updated_at": now,
            },
        )
    )


async def history(session: AsyncSession, customer_id: uuid.UUID, since: datetime) -> SendHistory:
    rows = await session.execute(
        select(Send.channel, Send.sent_at)
        .where(Send.customer_id == customer_id, Send.sent_at >= since)
        .order_by(Send.sent_at)
    )
    sent: dict[Channel, list[datetime]] = {}
    for channel, at in rows:
        sent.setdefault(Channel(channel), []).append(at)
    return SendHistory(sent_at=sent)


async def record_send(session: AsyncSession, customer_id: uuid.UUID, channel: Channel, at: datetime) -> None:
    session.add(Send(customer_id=customer_id, channel=channel.value, sent_at=at))


async def add_decision(session: AsyncSession, decision: Decision) -> None:
    session.add(decision)


async def decisions_of(session: AsyncSession, customer_id: uuid.UUID, limit: int) -> Sequence[Decision]:
    rows = await session.scalars(
        select(Decision).where(Decision.customer_id == customer_id).order_by(Decision.created_at.desc()).limit(limit)
    )
    return list(rows)


async def decision(session: AsyncSession, decision_id: uuid.UUID) -> Decision | None:
    found: Decision | None = await session.get(Decision, decision_id)
    return found


async def delivered_items(session: AsyncSession, delivery_id: uuid.UUID) -> Sequence[Item]:
    """The items a delivery carried, locked: receipts of one delivery may arrive concurrently."""
    rows = await session.scalars(
        select(Item).where(Item.delivery_id == delivery_id, Item.state == "sent").with_for_update()
    )
    return list(rows)


async def act_on_pending(
    session: AsyncSession, customer_id: uuid.UUID, *, collapse_key: str | None, item_ids: Sequence[uuid.UUID]
) -> int:
    """Pending items the customer already acted on (read in-app, say) leave their bundle."""
    if not collapse_key and not item_ids:
        return 0
    matches = []
    if collapse_key:
        matches.append(Item.collapse_key == collapse_key)
    if item_ids:
        matches.append(Item.id.in_(list(item_ids)))
    result = await session.execute(
        update(Item)
        .where(Item.customer_id == customer_id, Item.state == "pending", or_(*matches))
        .values(state="acted")
        .returning(Item.id)
    )
    return len(result.all())
