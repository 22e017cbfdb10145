"""All SQL of sign-in: sessions, members, pending sign-ins, used links."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from metaconnect_common.auth import Role
from metaconnect_console.models import Member, PendingSignIn, Session, UsedLink

PENDING_TTL = timedelta(minutes=10)


async def add_session(db: AsyncSession, session: Session) -> None:
    db.add(session)
    await db.flush()


async def live_session(db: AsyncSession, id_hash: bytes) -> Session | None:
    found = await db.scalar(select(Session).where(Session.id_hash == id_hash, Session.expires_at > func.now()))
    return found


async def end_session(db: AsyncSession, id_hash: bytes) -> None:
    await db.execute(delete(Session).where(Session.id_hash == id_hash))


async def end_sessions_of(db: AsyncSession, email: str) -> int:
    """Sign someone out everywhere (their access was removed or changed)."""
    result = await db.execute(delete(Session).where(Session.email == email))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]  # CursorResult of a DELETE


async def forget_expired(db: AsyncSession) -> None:
    await db.execute(delete(Session).where(Session.expires_at <= func.now()))
    await db.execute(delete(PendingSignIn).where(PendingSignIn.created_at <= func.now() - PENDING_TTL))


async def add_pending(db: AsyncSession, pending: PendingSignIn) -> None:
    db.add(pending)
    await db.flush()


async def take_pending(db: AsyncSession, state: str) -> PendingSignIn | None:
    """The pending sign-in for `state`, removed so it cannot be completed twice."""
    found = await db.scalar(
        delete(PendingSignIn)
        .where(PendingSignIn.state == state, PendingSignIn.created_at > func.now() - PENDING_TTL)
        .returning(PendingSignIn)
    )
    return found


async def use_link(db: AsyncSession, token_id: str) -> bool:
    """Mark a one-time link used; False if it was used before."""
    inserted = await db.scalar(
        insert(UsedLink).values(token_id=token_id).on_conflict_do_nothing().returning(UsedLink.token_id)
    )
    return inserted is not None


async def members(db: AsyncSession, *, after: str | None = None, limit: int | None = None) -> list[Member]:
    """Members by e-mail address; a page starts after the address `after`."""
    query = select(Member).order_by(Member.email).limit(limit)
    if after is not None:
        query = query.where(Member.email > after)
    return list(await db.scalars(query))


async def member_roles(db: AsyncSession, email: str) -> dict[str, Role]:
    """The members page's entry for `email`, if it has one (what `roles.role_for` reads)."""
    role = await db.scalar(select(Member.role).where(Member.email == email))
    return {email: Role(role)} if role is not None else {}


async def put_member(db: AsyncSession, *, email: str, role: Role, added_by: str) -> None:
    statement = insert(Member).values(email=email, role=role.value, added_by=added_by)
    await db.execute(
        statement.on_conflict_do_update(
            index_elements=[Member.email],
            set_={"role": statement.excluded.role, "added_by": statement.excluded.added_by, "added_at": func.now()},
        )
    )


async def remove_member(db: AsyncSession, email: str) -> bool:
    result = await db.execute(delete(Member).where(Member.email == email))
    return bool(result.rowcount)  # type: ignore[attr-defined]  # CursorResult of a DELETE


def session_row(
    *, id_hash: bytes, subject: str, email: str, name: str, role: Role, csrf_token: str, expires_at: datetime
) -> Session:
    return Session(
        id_hash=id_hash,
        subject=subject,
        email=email,
        name=name,
        role=role.value,
        csrf_token=csrf_token,
        expires_at=expires_at,
    )
