"""Broker stopped -> 503 with Retry-After, never a silent drop; restarted -> accepted again."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from metaconnect_cli.local.kafka import KafkaBroker
from metaconnect_common.topics import INTERACTIONS
from metaconnect_ingest.app import create_app
from tests.ingest.conftest import ingest_settings, operator_headers, wait_ready
from tests.ingest.events.test_endpoints import auth, event
from tests.support import eventually, read_topic

pytestmark = pytest.mark.slow


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[KafkaBroker]:
    """A broker of this test's own, so stopping it disturbs no other test."""
    broker = KafkaBroker(tmp_path / "kafka", partitions=3)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


async def test_broker_down_gives_503_and_recovers_without_restart(database_url: str, own_broker: KafkaBroker) -> None:
    app = create_app(ingest_settings(database_url, own_broker.bootstrap, broker_retry_after_s=7))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ingest") as client,
    ):
        await wait_ready(client)
        created = await client.post("/v1/api-keys", json={"name": "outage"}, headers=operator_headers())
        key = created.json()["key"]
        before = event()
        assert (await client.post("/v1/events", json=before, headers=auth(key))).status_code == 202

        own_broker.stop()
        during = event()
        response = await client.post("/v1/events", json=during, headers=auth(key))
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "7"
        assert response.json()["error"] == "broker_unavailable"
        assert (await client.get("/readyz")).status_code == 503

        own_broker.start()
        after = event(event_id=str(uuid.uuid4()))

        async def accepted_again() -> bool:
            r = await client.post("/v1/events", json=after, headers=auth(key))
            return r.status_code == 202

        await eventually(accepted_again, timeout_s=60, every_s=1)
        assert (await client.get("/readyz")).status_code == 200

    written = b"".join(r.value for r in await read_topic(own_broker.bootstrap, INTERACTIONS)).decode()
    assert before["event_id"] in written
    assert after["event_id"] in written
