"""The delivery service's tables (schema `delivery`). No other service reads them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from metaconnect_common.db import service_metadata
from metaconnect_common.outbox import outbox_table


class Base(DeclarativeBase):
    metadata = service_metadata("delivery")
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSONB}


class DeliveryRow(Base):
    """One delivery command: its id is the idempotency key. While `pending` it keeps the command
    (`command`, addresses included) and its schedule; once `sent` or `failed` the command is gone
    and the row holds no address."""

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_customer_time", "customer_id", "created_at"),
        Index("ix_deliveries_created_at", "created_at"),  # the providers report reads a window
        Index("ix_deliveries_due", "next_attempt_at", postgresql_where=text("status = 'pending'")),
        Index("ix_deliveries_pending_customer", "customer_id", "seq", postgresql_where=text("status = 'pending'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, Identity(), unique=True)  # acceptance order
    customer_id: Mapped[uuid.UUID] = mapped_column()
    status: Mapped[str] = mapped_column(String(16))  # pending | sent | failed
    channel: Mapped[str | None] = mapped_column(String(16))  # the one it went out on
    provider: Mapped[str | None] = mapped_column(String(63))
    provider_message_id: Mapped[str | None] = mapped_column(String(255))
    reason: Mapped[str | None] = mapped_column(String(63))  # why it failed
    channels: Mapped[list[str]] = mapped_column(JSONB)
    bundle_id: Mapped[uuid.UUID | None] = mapped_column()
    urgent: Mapped[bool] = mapped_column(Boolean)
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)  # item ids, decisions, routes, messages
    trace_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The schedule, while pending (see `schedule.py`).
    command: Mapped[dict[str, Any] | None] = mapped_column(JSONB)  # the Delivery as consumed
    traceparent: Mapped[str | None] = mapped_column(String(55))
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # claimed by a worker until
    channel_index: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    channel_attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    attempt_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    done_tokens: Mapped[list[str]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    """Push: the tokens (their SHA-256) that took the message or are gone, not to be sent again."""


class Attempt(Base):
    """One call to a provider (or a channel skipped without a call), with what it answered: for a
    customer's delivery or for a notification to staff, never both."""

    __tablename__ = "attempts"
    __table_args__ = (CheckConstraint("num_nonnulls(delivery_id, notification_id) = 1", name="one_owner"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    delivery_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("deliveries.id"), index=True)
    notification_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("notifications.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)  # 1, 2, ... over the whole delivery
    channel: Mapped[str] = mapped_column(String(16))
    provider: Mapped[str | None] = mapped_column(String(63))
    outcome: Mapped[str] = mapped_column(String(16))  # sent | retry | unknown | permanent | skipped
    status_code: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(63))
    response: Mapped[dict[str, Any]] = mapped_column()  # the provider's answer, without secrets or addresses
    duration_ms: Mapped[float | None] = mapped_column()
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class NotificationRow(Base):
    """A message to staff (a digest, an alert), not to a customer: it has no customer, no receipts and no
    inbox copy. Its id is the caller's idempotency key. While `pending` it keeps what to send
    (`content`, addresses included); once `sent` or `failed` the content is gone and the row holds no
    address."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_due", "next_attempt_at", postgresql_where=text("status = 'pending'")),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))  # email | webhook
    status: Mapped[str] = mapped_column(String(16))  # pending | sent | failed
    subject: Mapped[str] = mapped_column(String(998))
    recipients: Mapped[int] = mapped_column(Integer)  # how many (the addresses live in `content` while pending)
    content: Mapped[dict[str, Any] | None] = mapped_column(JSONB)  # to, text, html, data
    provider: Mapped[str | None] = mapped_column(String(63))
    provider_message_id: Mapped[str | None] = mapped_column(String(255))
    reason: Mapped[str | None] = mapped_column(String(63))  # why it failed
    requested_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempt_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))


class InboxMessage(Base):
    """A message in a customer's in-app inbox."""

    __tablename__ = "inbox"
    __table_args__ = (Index("ix_inbox_customer_time", "customer_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column()
    delivery_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deliveries.id"), index=True)
    content: Mapped[dict[str, Any]] = mapped_column()  # the rendered items, in reading order
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class CustomerRefRow(Base):
    """Which customer a ref (`cid:c-1042`, `email:...`, `id:<merged customer's id>`) names, as the
    newest delivery that listed it said: the read API accepts the refs the profile API does."""

    __tablename__ = "customer_refs"

    ref: Mapped[str] = mapped_column(Text, primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # the listing delivery's creation


class ProviderRow(Base):
    """A provider account managed over REST; its secret is encrypted (Fernet) and never returned."""

    __tablename__ = "providers"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    settings: Mapped[dict[str, Any]] = mapped_column()  # ProviderSettings without the secret
    secret: Mapped[str | None] = mapped_column(String(2048))  # the Fernet token
    version: Mapped[int] = mapped_column(Integer)
    updated_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


OUTBOX = outbox_table(Base.metadata)
