"""A service's entry commands, as a migration job and a topic-creation job run them."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from metaconnect_common.topics import ALL_TOPICS
from tests.support import topic_name


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        env={**os.environ, "MC_ENV": "production", **env},  # jobs need no JWT secret, even in production
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_migrate_brings_the_service_schema_to_head_and_exits(empty_database_url: str) -> None:
    done = _run("metaconnect_router", "migrate", MC_DATABASE_URL=empty_database_url)
    assert done.returncode == 0, done.stderr
    again = _run("metaconnect_router", "migrate", MC_DATABASE_URL=empty_database_url)
    assert again.returncode == 0, again.stderr  # a second run changes nothing
    engine = create_async_engine(empty_database_url)
    try:
        async with engine.connect() as conn:
            version = (await conn.execute(text("SELECT version_num FROM router.alembic_version"))).scalar_one()
    finally:
        await engine.dispose()
    assert version


async def test_topics_creates_every_topic_with_the_configured_partitions(kafka_bootstrap: str) -> None:
    done = _run("metaconnect_ingest", "topics", MC_KAFKA_BOOTSTRAP=kafka_bootstrap, MC_KAFKA_TOPIC_PARTITIONS="3")
    assert done.returncode == 0, done.stderr
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        assert {topic_name(t) for t in ALL_TOPICS} <= set(await admin.list_topics())
    finally:
        await admin.close()


def test_an_unknown_command_exits_with_the_usage() -> None:
    done = _run("metaconnect_delivery", f"nonsense-{uuid.uuid4().hex[:4]}")
    assert done.returncode != 0
    assert "usage: python -m metaconnect_delivery [serve | migrate | topics]" in done.stderr
