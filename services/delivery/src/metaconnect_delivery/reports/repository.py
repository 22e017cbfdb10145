"""All SQL of the delivery reports: deliveries and their attempts counted per provider."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from metaconnect_delivery.models import Attempt, DeliveryRow

# Attempts whose call did not get the message through: to be retried, answer unknown, or refused for good.
FAILED_OUTCOMES = ("retry", "unknown", "permanent")


@dataclass(frozen=True)
class ProviderCounts:
    """One provider's deliveries (by the provider a delivery ended with) and attempts (every call made)."""

    provider: str | None
    deliveries: int = 0
    sent: int = 0
    failed: int = 0
    pending: int = 0
    attempts: int = 0
    failed_attempts: int = 0


async def provider_counts(session: AsyncSession, since: datetime, until: datetime) -> list[ProviderCounts]:
    """Per provider, of the deliveries created in [since, until): how many ended sent, failed, or are not
    done yet with it, and the attempts made through it and how many of them failed."""
    in_window = (DeliveryRow.created_at >= since, DeliveryRow.created_at < until)
    ended = await session.execute(
        select(
            DeliveryRow.provider,
            func.count(),
            func.count().filter(DeliveryRow.status == "sent"),
            func.count().filter(DeliveryRow.status == "failed"),
        )
        .where(*in_window)
        .group_by(DeliveryRow.provider)
    )
    calls = await session.execute(
        select(
            Attempt.provider,
            func.count(),
            func.count().filter(Attempt.outcome.in_(FAILED_OUTCOMES)),
        )
        .join(DeliveryRow, DeliveryRow.id == Attempt.delivery_id)
        .where(*in_window)
        .group_by(Attempt.provider)
    )
    by_provider: dict[str | None, ProviderCounts] = {}
    for provider, deliveries, sent, failed in ended:
        by_provider[provider] = ProviderCounts(
            provider, deliveries=deliveries, sent=sent, failed=failed, pending=deliveries - sent - failed
        )
    for provider, attempts, failed_attempts in calls:
        counts = by_provider.get(provider, ProviderCounts(provider))
        by_provider[provider] = ProviderCounts(
            provider,
            deliveries=counts.deliveries,
            sent=counts.sent,
            failed=counts.failed,
            pending=counts.pending,
            attempts=attempts,
            failed_attempts=failed_attempts,
        )
    # Most deliveries first; the deliveries no provider took (null) last.
    return sorted(
        by_provider.values(), key=lambda c: (c.provider is None, -c.deliveries, -c.attempts, c.provider or "")
    )
