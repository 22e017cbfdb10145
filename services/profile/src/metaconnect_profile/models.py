"""The profile service's tables (schema `profile`). No other service reads them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Index, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from metaconnect_common.db import service_metadata
from metaconnect_common.outbox import outbox_table


class Base(DeclarativeBase):
    metadata = service_metadata("profile")
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSONB, list[Any]: JSONB}


class Customer(Base):
    """One profile per customer. A merged customer points at its survivor; an erased one
    keeps only its id and the time of erasure."""

    __tablename__ = "customers"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    merged_into: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("customers.id"))
    erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lifecycle_stage: Mapped[str] = mapped_column(String(64))
    stage_entered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    locale: Mapped[str | None] = mapped_column(String(35))
    time_zone: Mapped[str | None] = mapped_column(String(64))
    holdout: Mapped[bool] = mapped_column(Boolean, default=False)
    # Small documents updated together with the row (see profiles/state.py for their shape).
    traits: Mapped[dict[str, Any]] = mapped_column(default=dict)
    consent: Mapped[dict[str, Any]] = mapped_column(default=dict)
    engagement: Mapped[dict[str, Any]] = mapped_column(default=dict)
    active_hours: Mapped[list[Any]] = mapped_column(default=list)
    app_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # last in the app or inbox
    personality: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Identity(Base):
    """An identifier of a customer: `cid`, `email`, `phone`, `device` or `ext:<system>`."""

    __tablename__ = "identities"

    kind: Mapped[str] = mapped_column(String(80), primary_key=True)
    value: Mapped[str] = mapped_column(Text, primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Set by a hard bounce or an uninstall receipt: the address no longer reaches anyone.
    invalid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    invalid_reason: Mapped[str | None] = mapped_column(String(200))


class ProcessedEvent(Base):
    """Event ids already applied: a redelivered record changes nothing twice."""

    __tablename__ = "processed_events"

    event_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(index=True)
    processed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class TimelineEntry(Base):
    """Every interaction and message of a customer, across channels."""

    __tablename__ = "timeline"
    __table_args__ = (Index("ix_timeline_customer_time", "customer_id", "occurred_at"),)

    event_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    type: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(128))
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Evidence(Base):
    """One piece of personality evidence (see personality/evidence.py for `payload`)."""

    __tablename__ = "personality_evidence"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    event_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    kind: Mapped[str] = mapped_column(String(32))  # questionnaire | behaviour
    observed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    payload: Mapped[dict[str, Any]] = mapped_column()
    # Raw answers, kept for export and re-scoring against local norms (questionnaires only).
    answers: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class Rejection(Base):
    """A questionnaire answer set that was refused, with the precise reasons."""

    __tablename__ = "rejections"

    event_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    instrument: Mapped[str] = mapped_column(String(128))  # the instrument, or the event type refused
    problems: Mapped[list[Any]] = mapped_column()
    rejected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Merge(Base):
    __tablename__ = "merges"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    survivor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    merged_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), unique=True)
    event_id: Mapped[uuid.UUID] = mapped_column()
    merged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class StageChangeRow(Base):
    """A customer's move into a stage (its first stage at its first event), the stage history funnels read."""

    __tablename__ = "stage_changes"
    __table_args__ = (
        Index("ix_stage_changes_customer", "customer_id", "changed_at"),
        Index("ix_stage_changes_time", "changed_at", "customer_id"),  # the funnel: who changed in a window
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"))
    from_stage: Mapped[str | None] = mapped_column(String(64))
    to_stage: Mapped[str] = mapped_column(String(64))
    lifecycle_version: Mapped[int] = mapped_column()
    event_id: Mapped[uuid.UUID] = mapped_column()
    event_type: Mapped[str] = mapped_column(String(128))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # the event's time
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LifecycleVersion(Base):
    """Every version of the deployment's lifecycle; the highest is current."""

    __tablename__ = "lifecycle_versions"

    version: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    spec: Mapped[dict[str, Any]] = mapped_column()
    change: Mapped[str] = mapped_column(String(32))  # created | updated
    author: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# `mc.customers.v1` forgets an erased customer's identifiers with tombstones.
OUTBOX = outbox_table(Base.metadata, tombstones=True)
