"""Ingest's tables: channel apps' API keys, and the customer refs read from `mc.customers.v1`."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ARRAY, DateTime, Float, Integer, LargeBinary, String, Text, func, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from metaconnect_common.db import service_metadata


class Base(DeclarativeBase):
    metadata = service_metadata("ingest")


class ApiKey(Base):
    """A channel app's key. Only a SHA-256 of the secret is stored."""

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    # Empty means "any": the key may post on every channel / every event type.
    channels: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    event_types: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    # What the key may do (`keys.schemas.Scope`); never empty.
    scopes: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{events}'::text[]"))
    rate_per_s: Mapped[float] = mapped_column(Float)
    burst: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    created_by: Mapped[str] = mapped_column(String(200))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_by: Mapped[str | None] = mapped_column(String(200))


class CustomerRef(Base):
    """Which customer a ref names now, as the profile service reports it on `mc.customers.v1`."""

    __tablename__ = "customer_refs"

    ref: Mapped[str] = mapped_column(Text, primary_key=True)
    customer_id: Mapped[uuid.UUID]
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
