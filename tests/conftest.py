"""Session-wide real infrastructure: Apache Kafka and PostgreSQL.

Started here unless `MC_KAFKA_BOOTSTRAP` / `MC_DATABASE_URL` point at external servers,
so the same suite runs against both. Nothing is mocked.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from hypothesis import settings
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from metaconnect_cli.local.kafka import KafkaBroker
from metaconnect_cli.local.postgres import EmbeddedPostgres
from metaconnect_common.migrations import upgrade
from metaconnect_common.settings import DatabaseSettings, KafkaSettings

ROOT = Path(__file__).resolve().parents[1]
RUN_DIR = ROOT / ".metaconnect" / "test"

# Hypothesis's per-example deadline (200 ms) measures the machine, not the code: under a parallel
# suite a pure function's example can take longer once and pass the next time ("Unreliable test
# timings"). Properties are checked without it; speed is the benchmarks' (bench/).
settings.register_profile("metaconnect", deadline=None)
settings.load_profile("metaconnect")


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    external = os.environ.get("MC_KAFKA_BOOTSTRAP")
    if external:
        yield external
        return
    broker = KafkaBroker(RUN_DIR / f"kafka-{uuid.uuid4().hex[:8]}")
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()
        shutil.rmtree(broker.data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The PostgreSQL server (its database is used only to create the others)."""
    external = os.environ.get("MC_DATABASE_URL")
    if external:
        yield external
        return
    server = EmbeddedPostgres(RUN_DIR / f"pg-{uuid.uuid4().hex[:8]}")
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
        shutil.rmtree(server.data_dir, ignore_errors=True)


SERVICES = (
    "metaconnect_ingest",
    "metaconnect_profile",
    "metaconnect_router",
    "metaconnect_delivery",
    "metaconnect_console",
)


@pytest.fixture(scope="session")
def migrated_template(postgres_url: str) -> str:
    """A database with every service's schema at head, which each module's database copies."""
    name = f"mc_template_{uuid.uuid4().hex[:8]}"
    _admin(postgres_url, f'CREATE DATABASE "{name}"')
    url = _with_database(postgres_url, name)
    for package in SERVICES:
        upgrade(package, url)
    return name


@pytest.fixture(scope="module")
def database_url(postgres_url: str, migrated_template: str) -> Iterator[str]:
    """A database of the module's own, every service's schema at head: rows an earlier module
    wrote are never in it. (An external `MC_DATABASE_URL` needs the right to create databases.)"""
    name = f"mc_{uuid.uuid4().hex[:12]}"
    _admin(postgres_url, f'CREATE DATABASE "{name}" TEMPLATE "{migrated_template}"')
    try:
        yield _with_database(postgres_url, name)
    finally:
        _admin(postgres_url, f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def empty_database_url(postgres_url: str) -> Iterator[str]:
    """A database without any schema, for tests of the migrations themselves."""
    name = f"mc_empty_{uuid.uuid4().hex[:12]}"
    _admin(postgres_url, f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(postgres_url, name)
    finally:
        _admin(postgres_url, f'DROP DATABASE "{name}" WITH (FORCE)')


def _with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _admin(url: str, statement: str) -> None:
    """Run one statement outside a transaction (CREATE/DROP DATABASE) on the server's own database."""

    async def run() -> None:
        admin = make_url(url).set(drivername="postgresql")
        connection = await asyncpg.connect(admin.render_as_string(hide_password=False))
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    # In a thread of its own: a browser test module's Playwright keeps an event loop running
    # in the main thread while its module's fixtures are set up.
    with concurrent.futures.ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, run()).result()


@pytest.fixture(scope="module", autouse=True)
def module_topics() -> Iterator[str]:
    """Every test module has topics of its own: `MC_KAFKA_TOPIC_PREFIX` is set for the module, so
    the Kafka settings it builds, the services it runs in process or as processes and the tools
    it calls (`read_topic`, `topic_name`) all add the same prefix to the names the code uses.
    Records an earlier module left can never reach a later one's consumers."""
    prefix = f"t{uuid.uuid4().hex[:10]}."
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MC_KAFKA_TOPIC_PREFIX", prefix)
        yield prefix


@pytest.fixture
def kafka_settings(kafka_bootstrap: str) -> KafkaSettings:
    return KafkaSettings(bootstrap=kafka_bootstrap, topic_partitions=3, linger_ms=0)


@pytest.fixture
def database_settings(database_url: str) -> DatabaseSettings:
    return DatabaseSettings(url=database_url)  # type: ignore[arg-type]


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_async_engine(database_url, pool_size=5)
    try:
        yield eng
    finally:
        await eng.dispose()


@pytest.fixture
def topic() -> str:
    """A fresh topic name per test, so tests never see each other's records."""
    return f"test.{uuid.uuid4().hex[:12]}.v1"


@pytest.fixture(scope="session")
def span_exporter() -> InMemorySpanExporter:
    """Collects every finished span; the global provider can be set only once per
    process, so an SDK provider another suite installed first is reused."""
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter
