"""Helpers the tests share: reading topics back, waiting for conditions, services as processes."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from metaconnect_cli.local._proc import free_port, spawn
from metaconnect_common.settings import AuthSettings, CommonSettings, DatabaseSettings, KafkaSettings


@dataclass(frozen=True)
class ReadRecord:
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]


def topic_name(topic: str) -> str:
    """The broker's name of the topic the code calls `topic`, in this test module (see `module_topics`)."""
    return KafkaSettings().topic(topic)


async def read_topic(bootstrap: str, topic: str, *, timeout_s: float = 20.0) -> list[ReadRecord]:
    """Every record of `topic` (named as the code names it) up to its end offsets as of now (no consumer group)."""
    topic = topic_name(topic)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout_s
        partitions = consumer.partitions_for_topic(topic)
        while not partitions:
            if time.monotonic() > deadline:
                raise TimeoutError(f"topic {topic} not found")
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic)
            await asyncio.sleep(0.1)
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
        out: list[ReadRecord] = []
        remaining = {tp for tp in tps if ends[tp] > 0}
        while remaining:
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {topic} to its end: {remaining} of {ends}")
            batch = await consumer.getmany(*remaining, timeout_ms=500)
            for tp, records in batch.items():
                for r in records:
                    if r.offset < ends[tp]:
                        out.append(ReadRecord(tp.partition, r.offset, r.key, r.value, list(r.headers)))
                if records and records[-1].offset + 1 >= ends[tp]:
                    remaining.discard(tp)
        return out
    finally:
        await consumer.stop()


async def eventually(check: Callable[[], Awaitable[bool]], *, timeout_s: float = 30.0, every_s: float = 0.2) -> None:
    """Wait until `check()` is true, failing after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s")
        await asyncio.sleep(every_s)


def new_id() -> str:
    return str(uuid.uuid4())


def common_settings(database_url: str, bootstrap: str, *, publish_timeout_s: float = 5.0) -> CommonSettings:
    """A service's shared settings against the session's servers (3 partitions per topic)."""
    return CommonSettings(
        env="test",
        kafka=KafkaSettings(bootstrap=bootstrap, topic_partitions=3, publish_timeout_s=publish_timeout_s),
        database=DatabaseSettings(url=database_url),  # type: ignore[arg-type]
        auth=AuthSettings(),
    )


async def start_group_at_end(bootstrap: str, group: str, topics: list[str]) -> None:
    """Commit `group`'s offsets at the topics' current ends, so a service started with it reads
    only what a test publishes next (not every record earlier tests left in a shared topic)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        named = [topic_name(topic) for topic in topics]
        partitions = [TopicPartition(topic, p) for topic in named for p in sorted(await _partitions(consumer, topic))]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        if ends:
            await consumer.commit(dict(ends))
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str, timeout_s: float = 20.0) -> set[int]:
    deadline = time.monotonic() + timeout_s
    while not (found := consumer.partitions_for_topic(topic)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"topic {topic} not found")
        await consumer._client.force_metadata_update()
        await asyncio.sleep(0.1)
    return set(found)


@dataclass(frozen=True)
class Service:
    """A service running as its own process (`python -m metaconnect_<name>`) on loopback."""

    name: str
    proc: subprocess.Popen[bytes]
    url: str
    log: Path


def start_service(name: str, *, database_url: str, bootstrap: str, log: Path, **env: str) -> Service:
    """Start `name` against the session's servers (3 partitions per topic) on a free port;
    `env` adds or overrides variables. Wait for it with `ready`."""
    port = free_port()
    prefix = f"MC_{name.upper()}_"
    variables = {
        "MC_ENV": "test",
        "MC_DATABASE_URL": database_url,
        "MC_KAFKA_BOOTSTRAP": bootstrap,
        "MC_KAFKA_TOPIC_PARTITIONS": "3",
        "MC_LOG_JSON": "false",
        f"{prefix}HOST": "127.0.0.1",
        f"{prefix}PORT": str(port),
        **env,
    }
    proc = spawn([sys.executable, "-m", f"metaconnect_{name}"], log=log, env=variables)
    return Service(name, proc, f"http://127.0.0.1:{port}", log)


async def ready(service: Service, *, timeout_s: float = 60.0) -> None:
    """Wait until the service answers `/readyz` with 200; fail with its log if it died or never did."""
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            assert service.proc.poll() is None, service.log.read_text()[-3000:]
            try:
                if (await client.get(f"{service.url}/readyz", timeout=2)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError(service.log.read_text()[-3000:])


def providers_env(accounts: Sequence[Any]) -> str:
    """`MC_DELIVERY_PROVIDERS` for provider settings objects, secrets included."""
    return json.dumps(
        [{**p.model_dump(mode="json"), "secret": p.secret.get_secret_value() if p.secret else None} for p in accounts]
    )
