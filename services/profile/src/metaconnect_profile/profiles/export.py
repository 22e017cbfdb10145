"""The GDPR export: every row the service holds about a customer, unmasked, raw answers included
(admin operators only; it is the data subject's copy)."""

from __future__ import annotations

from datetime import datetime

from pydantic import TypeAdapter
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from metaconnect_profile.models import Customer, Evidence, Identity, Merge, ProcessedEvent, Rejection, TimelineEntry
from metaconnect_profile.personality import estimate, explain
from metaconnect_profile.personality.evidence import Evidence as EvidenceRecord
from metaconnect_profile.profiles.queries import merged_into, stage_history, timeline_item
from metaconnect_profile.profiles.schemas import (
    ExportedCustomer,
    ExportedEvidence,
    ExportedIdentity,
    ExportedMerge,
    ExportedRejection,
    ProfileExport,
)

_evidence = TypeAdapter(EvidenceRecord)


def _exported(c: Customer) -> ExportedCustomer:
    return ExportedCustomer.model_validate(c, from_attributes=True)


async def export(session: AsyncSession, customer: Customer, *, now: datetime) -> ProfileExport:
    """Every row the service holds about the customer and those merged into it, unmasked."""
    merged = await merged_into(session, customer.id)
    ids = [customer.id, *(m.id for m in merged)]
    identities = list(
        await session.scalars(select(Identity).where(Identity.customer_id.in_(ids)).order_by(Identity.created_at))
    )
    entries = await session.scalars(
        select(TimelineEntry)
        .where(TimelineEntry.customer_id.in_(ids))
        .order_by(TimelineEntry.occurred_at, TimelineEntry.event_id)
    )
    evidence = list(await session.scalars(select(Evidence).where(Evidence.customer_id.in_(ids)).order_by(Evidence.id)))
    rejections = await session.scalars(
        select(Rejection).where(Rejection.customer_id.in_(ids)).order_by(Rejection.rejected_at, Rejection.event_id)
    )
    merges = await session.scalars(
        select(Merge).where(or_(Merge.survivor_id.in_(ids), Merge.merged_id.in_(ids))).order_by(Merge.id)
    )
    processed = await session.scalars(
        select(ProcessedEvent.event_id)
        .where(ProcessedEvent.customer_id.in_(ids))
        .order_by(ProcessedEvent.processed_at, ProcessedEvent.event_id)
    )
    current = estimate([_evidence.validate_python(e.payload) for e in evidence], now)
    return ProfileExport(
        exported_at=now,
        customer=_exported(customer),
        merged_customers=[_exported(m) for m in merged],
        identities=[
            ExportedIdentity(
                kind=i.kind,
                value=i.value,
                created_at=i.created_at,
                invalid_at=i.invalid_at,
                invalid_reason=i.invalid_reason,
            )
            for i in identities
        ],
        timeline=[timeline_item(e, answers=True) for e in entries],
        personality_evidence=[
            ExportedEvidence(
                event_id=e.event_id,
                kind=e.kind,
                observed_at=e.observed_at,
                payload=e.payload,
                answers=(e.answers or {}).get("answers"),
            )
            for e in evidence
        ],
        personality=explain(current),
        rejections=[
            ExportedRejection(
                event_id=r.event_id, instrument=r.instrument, problems=r.problems, rejected_at=r.rejected_at
            )
            for r in rejections
        ],
        merges=[
            ExportedMerge(survivor_id=m.survivor_id, merged_id=m.merged_id, event_id=m.event_id, merged_at=m.merged_at)
            for m in merges
        ],
        stage_changes=await stage_history(session, ids),
        processed_event_ids=list(processed),
    )
