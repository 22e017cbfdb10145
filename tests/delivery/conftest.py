"""The delivery service's schema, migrated once per session on the real PostgreSQL."""

from __future__ import annotations

import uuid

import pytest

from metaconnect_common.kafka.admin import ensure_topics
from metaconnect_common.migrations import upgrade
from metaconnect_common.settings import KafkaSettings
from metaconnect_common.topics import DELIVERIES
from tests.support import start_group_at_end


@pytest.fixture(scope="session")
def delivery_migrated(database_url: str) -> str:
    upgrade("metaconnect_delivery", database_url)
    return database_url


@pytest.fixture
async def delivery_group(kafka_bootstrap: str) -> str:
    """A consumer group for a delivery app that reads only what the test publishes, not the
    deliveries earlier tests left on the shared topic."""
    group = f"delivery-test-{uuid.uuid4().hex[:8]}"
    await ensure_topics(KafkaSettings(bootstrap=kafka_bootstrap, topic_partitions=3), [DELIVERIES])
    await start_group_at_end(kafka_bootstrap, group, [DELIVERIES])
    return group
