"""Every replica's catalog picks a changed lifecycle up within its reload interval, parsed once
per version, without being told (real PostgreSQL)."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from metaconnect_common.db import session_factory
from metaconnect_profile.lifecycles.service import LifecycleCatalog, LifecycleService
from metaconnect_profile.lifecycles.spec import LifecycleSpec


async def test_a_replicas_catalog_reloads_within_its_interval(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    replica = LifecycleCatalog(ttl_s=0.5)
    async with sessions() as session:
        before = await replica.current(session)
    assert before.version >= 1  # the stored lifecycle, not the fallback (version 0)

    spec = LifecycleSpec.model_validate(
        {"name": "reload", "stages": [{"name": "lead"}, {"name": f"v{before.version}"}]}
    )
    written = await LifecycleService(sessions).put(spec, author="test")  # another replica's PUT
    async with sessions() as session:
        assert await replica.current(session) is before  # within the interval: unchanged, not even read
    await asyncio.sleep(0.6)
    async with sessions() as session:
        after = await replica.current(session)
        assert after.version == written.lifecycle.version
        assert after.stages == ("lead", f"v{before.version}")
        await asyncio.sleep(0.6)
        assert await replica.current(session) is after  # the same version is parsed once


async def test_an_unreadable_version_leaves_the_last_readable_one_in_force(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    catalog = LifecycleCatalog(ttl_s=0.0)
    async with sessions() as session:
        readable = await catalog.current(session)
    # What migration 0006 could store from old settings naming stages that are no slugs.
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO profile.lifecycle_versions (version, spec, change, author, created_at)"
                " SELECT max(version) + 1, CAST(:spec AS jsonb), 'created', 'migration', now()"
                " FROM profile.lifecycle_versions"
            ),
            {"spec": json.dumps({"name": "default", "stages": [{"name": "Big Stage"}]})},
        )
    async with sessions() as session:
        assert await catalog.current(session) is readable
