"""Who may sign in, changed: each change ends the person's live sessions, so it holds at once."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from metaconnect_common.auth import Role
from metaconnect_console.auth import repository
from metaconnect_console.models import Member

MEMBERS_PAGE = 50


async def members(sessions: async_sessionmaker[AsyncSession], after: str | None) -> tuple[list[Member], str | None]:
    """One page of members after the address `after`, and the cursor of the next page."""
    async with sessions() as db:
        listed = await repository.members(db, after=after, limit=MEMBERS_PAGE + 1)
    shown = listed[:MEMBERS_PAGE]
    return shown, (shown[-1].email if len(listed) > MEMBERS_PAGE else None)


async def grant(sessions: async_sessionmaker[AsyncSession], *, email: str, role: Role, by: str) -> int:
    """Let `email` in with `role` (or change their role); the sessions ended."""
    async with sessions.begin() as db:
        await repository.put_member(db, email=email, role=role, added_by=by)
        return await repository.end_sessions_of(db, email)


async def revoke(sessions: async_sessionmaker[AsyncSession], *, email: str) -> bool:
    """Remove `email`'s entry and end their sessions; False if they had none."""
    async with sessions.begin() as db:
        removed = await repository.remove_member(db, email)
        await repository.end_sessions_of(db, email)
    return removed
