"""The console's own tables: sign-in sessions, who may sign in, pending sign-ins, used links.

No business data: everything a page shows comes from the four services' APIs.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, LargeBinary, String, Text, func
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
