"""The console's own tables: sign-in sessions, who may sign in, pending sign-ins, used links.

No business data: everything a page shows comes from the four services' APIs.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, Integer, LargeBinary, SmallInteger, String, Text, Time, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from metaconnect_common.db import service_metadata


class Base(DeclarativeBase):
    metadata = service_metadata("console")


class Session(Base):
    """A signed-in browser. Only a SHA-256 of the cookie's value is stored."""

    __tablename__ = "sessions"

    id_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    subject: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class Member(Base):
    """Someone an admin let in, with a role (it wins over the identity provider's claim)."""

    __tablename__ = "members"

    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    role: Mapped[str] = mapped_column(String(20))
    added_by: Mapped[str] = mapped_column(String(320))
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PendingSignIn(Base):
    """A sign-in sent to the identity provider and not back yet (state, nonce, PKCE verifier)."""

    __tablename__ = "pending_sign_ins"

    state: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64))
    code_verifier: Mapped[str] = mapped_column(String(128))
    return_to: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), index=True)


class UsedLink(Base):
    """A one-time sign-in link that was used (its token id), so it cannot be used again."""

    __tablename__ = "used_links"

    token_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    used_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class DigestSettings(Base):
    """The management digest's settings: one row (`id` 1), absent until an admin saves them."""

    __tablename__ = "digest_settings"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean)
    recipients: Mapped[list[str]] = mapped_column(JSONB)
    webhook: Mapped[bool] = mapped_column(Boolean)
    weekday: Mapped[int] = mapped_column(SmallInteger)  # 0 Monday ... 6 Sunday
    send_time: Mapped[time] = mapped_column(Time)  # local, in `time_zone`
    time_zone: Mapped[str] = mapped_column(String(64))
    updated_by: Mapped[str] = mapped_column(String(320))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DigestChange(Base):
    """Who changed the digest's settings, when, and to what (the audit trail)."""

    __tablename__ = "digest_changes"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    changed_by: Mapped[str] = mapped_column(String(320))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB)


class DigestSend(Base):
    """One scheduled period's send, claimed by one replica: the key is the period's end (its send
    time), so a second replica's claim of the same period inserts nothing and sends nothing."""

    __tablename__ = "digest_sends"

    period_end: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    claimed_by: Mapped[str] = mapped_column(String(200))
    claimed_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    """A claim not finished by then (its replica died) may be taken over; the retry asks the delivery
    service for the same notification ids, so nothing goes out twice."""
    attempts: Mapped[int] = mapped_column(Integer)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    notifications: Mapped[list[str]] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(String(500))
