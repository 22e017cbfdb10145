"""The router's tables (schema `router`). No other service reads them."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from metaconnect_common.db import service_metadata
from metaconnect_common.outbox import outbox_table


class BundleStatus(StrEnum):
    """`bundles.status`."""

    OPEN = "open"  # collecting items until its window closes or it is full
    FLUSHED = "flushed"  # its delivery is in the outbox (or there was nothing left to send)
    MERGED = "merged"  # its customer was merged into another: its items moved to the survivor's bundle


class ItemState(StrEnum):
    """`items.state`."""

    PENDING = "pending"  # waiting in its customer's open bundle
    SENT = "sent"  # in a delivery, shown or summarised ("and 3 more")
    FAILED = "failed"  # in a delivery that failed, or left out of it (it could not render): never reached
    SUPERSEDED = "superseded"  # a newer item with its collapse key took its place
    ACTED = "acted"  # the customer acted on it elsewhere (read in-app, say) before it went
    EXPIRED = "expired"  # its expiry passed while it waited
    ERASED = "erased"  # its customer was erased while it waited


_OPEN = text(f"status = '{BundleStatus.OPEN.value}'")


class Base(DeclarativeBase):
    metadata = service_metadata("router")
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSONB}


class Route(Base):
    """A route's identity and its current version. A deleted route keeps its history."""

    __tablename__ = "routes"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # draft | active | paused (of the current version)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RouteVersion(Base):
    """Every change of a route: its whole spec, who made it and when."""

    __tablename__ = "route_versions"

    route: Mapped[str] = mapped_column(ForeignKey("routes.name"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    spec: Mapped[dict[str, Any]] = mapped_column()
    status: Mapped[str] = mapped_column(String(16))
    change: Mapped[str] = mapped_column(String(16))  # created | updated | deleted
    author: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class InstanceStatus(StrEnum):
    """`journey_instances.status`."""

    ACTIVE = "active"  # walking the journey: at a wait, or between steps in this transaction
    COMPLETED = "completed"  # reached the end of the graph
    CONVERTED = "converted"  # reached a goal
    EXITED = "exited"  # an exit step, erasure, an objection, the journey deleted


_ACTIVE = text("status = 'active'")


class Journey(Base):
    """A journey's identity and its current version. A deleted journey keeps its history."""

    __tablename__ = "journeys"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # draft | active | paused (of the current version)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class JourneyVersion(Base):
    """Every change of a journey: its whole spec, who made it and when."""

    __tablename__ = "journey_versions"

    journey: Mapped[str] = mapped_column(ForeignKey("journeys.name"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    spec: Mapped[dict[str, Any]] = mapped_column()
    status: Mapped[str] = mapped_column(String(16))
    change: Mapped[str] = mapped_column(String(16))  # created | updated | deleted
    author: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class JourneyInstance(Base):
    """One customer's walk through one journey. While active it rests at a step (`step_id`); a
    wait there is its timer (`due_at`), claimed when due with `FOR UPDATE SKIP LOCKED`."""

    __tablename__ = "journey_instances"
    __table_args__ = (
        # One active walk per customer and journey.
        Index("uq_journey_instances_active", "journey", "customer_id", unique=True, postgresql_where=_ACTIVE),
        Index("ix_journey_instances_due", "due_at", postgresql_where=text("status = 'active' AND due_at IS NOT NULL")),
        Index("ix_journey_instances_customer", "customer_id", "journey", "entered_at"),
        Index("ix_journey_instances_journey_status", "journey", "status", "step_id"),  # where walks rest now
        Index("ix_journey_instances_journey_entered", "journey", "entered_at"),  # a report's window
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    journey: Mapped[str] = mapped_column(String(63))
    version: Mapped[int] = mapped_column(Integer)
    customer_id: Mapped[uuid.UUID] = mapped_column()
    status: Mapped[str] = mapped_column(String(16))  # an InstanceStatus
    step_id: Mapped[str | None] = mapped_column(String(63))  # where it rests (a wait); the last step once ended
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    holdout: Mapped[bool] = mapped_column(Boolean)
    context: Mapped[dict[str, Any]] = mapped_column()  # the event its conditions and templates read
    arms: Mapped[dict[str, Any]] = mapped_column()  # split step id -> arm drawn
    entered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    end_reason: Mapped[str | None] = mapped_column(String(63))  # the goal, the exit reason, `completed`
    failures: Mapped[int] = mapped_column(Integer, server_default=text("0"))  # moves that failed in a row


class JourneyStepRun(Base):
    """A step an instance ran, with what came of it: a journey's history and its per-step counts."""

    __tablename__ = "journey_steps"
    __table_args__ = (
        Index("ix_journey_steps_instance", "instance_id", "id"),
        Index("ix_journey_steps_journey_at", "journey", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    instance_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("journey_instances.id", ondelete="CASCADE"))
    journey: Mapped[str] = mapped_column(String(63))
    version: Mapped[int] = mapped_column(Integer)
    step_id: Mapped[str] = mapped_column(String(63))  # or a pseudo step: `entry`, a goal's name
    kind: Mapped[str] = mapped_column(String(16))  # entry | send | wait | branch | ... | goal | end
    outcome: Mapped[str] = mapped_column(String(32))  # e.g. bundled, held_out, waiting, event, timeout, arm
    detail: Mapped[dict[str, Any]] = mapped_column()  # no personal data: ids, names, times
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Processed(Base):
    """`mc.profiled.v1` record ids already decided on: a redelivered record decides nothing twice."""

    __tablename__ = "processed"

    record_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Decision(Base):
    """One decision for one profiled event, with everything that explains it."""

    __tablename__ = "decisions"
    __table_args__ = (
        Index("ix_decisions_customer_time", "customer_id", "created_at"),
        Index("ix_decisions_created_at", "created_at"),  # reports select a time window
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column()
    event_id: Mapped[uuid.UUID] = mapped_column()
    event_type: Mapped[str] = mapped_column(String(128))
    outcome: Mapped[str] = mapped_column(String(16))  # no_match | dropped | sent | bundled
    route: Mapped[str | None] = mapped_column(String(63))
    route_version: Mapped[int | None] = mapped_column(Integer)
    message_id: Mapped[str | None] = mapped_column(String(63))
    tone: Mapped[str | None] = mapped_column(String(16))
    channel: Mapped[str | None] = mapped_column(String(16))
    pattern: Mapped[str | None] = mapped_column(String(32))
    holdout: Mapped[bool] = mapped_column(Boolean)
    explored: Mapped[bool] = mapped_column(Boolean)
    propensity: Mapped[float | None] = mapped_column(Float)
    bundle_id: Mapped[uuid.UUID | None] = mapped_column()
    explanation: Mapped[dict[str, Any]] = mapped_column()
    trace_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    journey: Mapped[str | None] = mapped_column(String(63))  # a journey's send step decided (`route` is None)
    journey_step: Mapped[str | None] = mapped_column(String(63))


class Bundle(Base):
    """A customer's meta-connect bundle: open until its window closes or it is full."""

    __tablename__ = "bundles"
    __table_args__ = (
        # One open bundle per customer; the flusher finds due ones by `due_at`.
        Index("uq_bundles_open_customer", "customer_id", unique=True, postgresql_where=_OPEN),
        Index("ix_bundles_open_due", "due_at", postgresql_where=_OPEN),
        # The bundles report reads the ones flushed in a window.
        Index("ix_bundles_flushed_at", "flushed_at", postgresql_where=text("flushed_at IS NOT NULL")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column()
    status: Mapped[str] = mapped_column(String(16))  # a BundleStatus
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    max_items: Mapped[int] = mapped_column(Integer)
    policy: Mapped[dict[str, Any]] = mapped_column()  # of the route whose item opened it: channel order, caps
    flushed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivery_id: Mapped[uuid.UUID | None] = mapped_column()


class Item(Base):
    """One message for one customer: pending in a bundle, or sent (at once or with a bundle)."""

    __tablename__ = "items"
    __table_args__ = (Index("ix_items_customer_state", "customer_id", "state"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    decision_id: Mapped[uuid.UUID] = mapped_column(index=True)
    customer_id: Mapped[uuid.UUID] = mapped_column()
    bundle_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("bundles.id"), index=True)
    state: Mapped[str] = mapped_column(String(16))  # an ItemState
    route: Mapped[str] = mapped_column(String(63))
    message_id: Mapped[str] = mapped_column(String(63))
    priority: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(16))
    collapse_key: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    not_before: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    payload: Mapped[dict[str, Any]] = mapped_column()  # a bundles.schemas.ItemPayload (or ErasedPayload)
    delivery_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    engaged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ArmStats(Base):
    """Engagement counts per (personality pattern, tone, channel): the bandit's Beta posteriors."""

    __tablename__ = "arm_stats"

    pattern: Mapped[str] = mapped_column(String(32), primary_key=True)
    tone: Mapped[str] = mapped_column(String(16), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    successes: Mapped[float] = mapped_column(Float)
    failures: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Send(Base):
    """A delivery sent to a customer on a channel: what frequency caps count."""

    __tablename__ = "sends"
    __table_args__ = (Index("ix_sends_customer_time", "customer_id", "sent_at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    customer_id: Mapped[uuid.UUID] = mapped_column()
    channel: Mapped[str] = mapped_column(String(16))
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CustomerProfile(Base):
    """The latest profile snapshot of a customer: a bundle's channel is chosen with it at flush time."""

    __tablename__ = "customer_profiles"
    # Finds the customer a ref names (`decisions.repository.customer_of`): `identities @> '["cid:c-1"]'`.
    __table_args__ = (
        Index("ix_customer_profiles_identities", text("(profile -> 'identities')"), postgresql_using="gin"),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    profile: Mapped[dict[str, Any]] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Erased(Base):
    """Customers erased in the profile service: nothing is decided for them any more."""

    __tablename__ = "erased"

    customer_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    erased_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


OUTBOX = outbox_table(Base.metadata)
