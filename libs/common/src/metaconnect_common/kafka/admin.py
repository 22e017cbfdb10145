"""Topics created or verified at start."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from metaconnect_common.settings import KafkaSettings
from metaconnect_common.topics import TOPIC_CONFIGS


async def ensure_topics(settings: KafkaSettings, topics: Iterable[str], *, timeout_s: float = 30.0) -> None:
    """Create the missing topics with the configured partitions (and `TOPIC_CONFIGS`); leave
    existing ones alone. `topics` are named as the code names them (the settings' prefix is
    added here)."""
    names = {settings.topic(t): t for t in topics}
    wanted = sorted(names)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap, request_timeout_ms=settings.request_timeout_ms)
    await asyncio.wait_for(admin.start(), timeout_s)
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in wanted if t not in existing]
        if missing:
            try:
                await admin.create_topics(
                    [
                        NewTopic(
                            t,
                            settings.topic_partitions,
                            settings.topic_replication,
                            topic_configs=dict(TOPIC_CONFIGS.get(names[t], {})),
                        )
                        for t in missing
                    ]
                )
            except TopicAlreadyExistsError:
                pass  # another replica won the race
        # Wait until the metadata shows every topic, so the first produce does not fail.
        deadline = asyncio.get_running_loop().time() + timeout_s
        while absent := set(wanted) - set(await admin.list_topics()):
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"topics not visible after {timeout_s}s: {sorted(absent)}")
            await asyncio.sleep(0.1)
    finally:
        await admin.close()
