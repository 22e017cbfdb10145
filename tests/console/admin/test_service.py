"""Who may sign in, against the real database: members page on by address; sign-in reads one entry."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import create_async_engine

from metaconnect_common.auth import Role
from metaconnect_common.db import session_factory
from metaconnect_console.admin import service
from metaconnect_console.auth import repository


async def test_members_page_on_by_address_and_sign_in_reads_only_its_own_entry(database_url: str) -> None:
    engine = create_async_engine(database_url)
    sessions = session_factory(engine)
    tag = uuid.uuid4().hex[:6]
    addresses = sorted(f"m{n:03d}-{tag}@example.com" for n in range(service.MEMBERS_PAGE * 2 + 3))
    try:
        async with sessions.begin() as db:
            for n, email in enumerate(addresses):
                await repository.put_member(db, email=email, role=Role.EDITOR if n % 2 else Role.VIEWER, added_by="t")
        seen: list[str] = []
        after: str | None = None
        pages = 0
        while True:
            shown, after = await service.members(sessions, after)
            pages += 1
            seen += [m.email for m in shown if m.email.endswith(f"-{tag}@example.com")]
            if after is None:
                break
        assert seen == addresses
        assert pages == 3
        async with sessions() as db:
            assert await repository.member_roles(db, addresses[1]) == {addresses[1]: Role.EDITOR}
            assert await repository.member_roles(db, f"nobody-{tag}@example.com") == {}
    finally:
        await engine.dispose()
