"""The first end-to-end journey: all four services as separate processes on real Kafka and
PostgreSQL, the provider sandbox on loopback, spans exported over real OTLP/HTTP to a receiver.

A channel app posts interactions to ingest for a customer whose questionnaire says "red"; a
route matches; the fake push provider receives one message in the red tone; the receipt flows
back into the customer's timeline; one trace spans ingest, profile, router, delivery and the
provider call. Then several marketing messages within a window arrive as one bundled delivery.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from metaconnect_cli.local._proc import free_port, spawn, stop
from metaconnect_common.auth import Role
from metaconnect_common.kafka.admin import ensure_topics
from metaconnect_common.migrations import upgrade
from metaconnect_common.settings import KafkaSettings
from metaconnect_common.topics import DELIVERIES, INTERACTIONS, PROFILED
from metaconnect_sandbox.server import Sandbox, serving
from tests.delivery.test_service import SANDBOX, providers
from tests.profile.personality.answers import COLOUR_ANSWERS
from tests.router.conftest import operator
from tests.support import start_group_at_end

pytestmark = pytest.mark.timeout(300)
TRACE_ID = uuid.uuid4().hex
TRACEPARENT = f"00-{TRACE_ID}-{uuid.uuid4().hex[:16]}-01"
# This run's own event types: routes other tests left active (on `cart.abandoned`, say) must not match.
CART = f"e2e{TRACE_ID[:8]}.cart_abandoned"
NEWS = f"e2e{TRACE_ID[:8]}.news_posted"
RED_BODY = "Still yours, one tap away."
NEUTRAL_BODY = "Your cart is waiting."


@dataclass
class Spans:
    """What the OTLP receiver got: (service, span name, trace id, kind, attributes)."""

    received: list[tuple[str, str, str, int, dict[str, Any]]] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/traces")
        async def traces(request: Request) -> Response:
            export = ExportTraceServiceRequest.FromString(await request.body())
            for resource_spans in export.resource_spans:
                service = next(
                    (a.value.string_value for a in resource_spans.resource.attributes if a.key == "service.name"), "?"
                )
                for scope in resource_spans.scope_spans:
                    for span in scope.spans:
                        attributes = {a.key: _value(a.value) for a in span.attributes}
                        self.received.append((service, span.name, span.trace_id.hex(), span.kind, attributes))
            return Response(status_code=200, media_type="application/x-protobuf")

        return app

    def services_in(self, trace_id: str) -> set[str]:
        return {service for service, _, t, _, _ in self.received if t == trace_id}


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


@dataclass
class Stack:
    urls: dict[str, str]
    procs: dict[str, subprocess.Popen[bytes]]
    logs: Path
    sandbox: Sandbox
    spans: Spans


@pytest.fixture(scope="module")
def migrated(database_url: str) -> str:
    for package in ("metaconnect_ingest", "metaconnect_profile", "metaconnect_router", "metaconnect_delivery"):
        upgrade(package, database_url)
    return database_url


@pytest.fixture
async def stack(migrated: str, kafka_bootstrap: str, tmp_path: Path) -> AsyncIterator[Stack]:
    database_url = migrated
    await ensure_topics(
        KafkaSettings(bootstrap=kafka_bootstrap, topic_partitions=3), [INTERACTIONS, PROFILED, DELIVERIES]
    )
    spans = Spans()
    tag = uuid.uuid4().hex[:8]
    async with Sandbox(SANDBOX) as sandbox, serving(spans.app()) as otlp:
        configured = [
            {**p.model_dump(mode="json"), "secret": p.secret.get_secret_value() if p.secret else None}
            for p in providers(sandbox)
        ]
        common = {
            "MC_ENV": "test",
            "MC_DATABASE_URL": database_url,
            "MC_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "MC_KAFKA_TOPIC_PARTITIONS": "3",
            "MC_LOG_JSON": "false",
            "OTEL_EXPORTER_OTLP_ENDPOINT": otlp,
            "OTEL_BSP_SCHEDULE_DELAY": "200",
        }
        specific = {
            "ingest": {},
            # No permanent holdout here: this customer's tone is the point (holdouts get neutral).
            "profile": {"MC_PROFILE_GROUP_ID": f"profile-e2e-{tag}", "MC_PROFILE_HOLDOUT_SHARE": "0"},
            "router": {"MC_ROUTER_GROUP_ID": f"router-e2e-{tag}", "MC_ROUTER_FLUSH_INTERVAL_S": "0.2"},
            "delivery": {
                "MC_DELIVERY_GROUP_ID": f"delivery-e2e-{tag}",
                "MC_DELIVERY_PROVIDERS": json.dumps(configured),
            },
        }
        for name, topic in (("profile", INTERACTIONS), ("router", PROFILED), ("delivery", DELIVERIES)):
            await start_group_at_end(kafka_bootstrap, specific[name][f"MC_{name.upper()}_GROUP_ID"], [topic])
        urls: dict[str, str] = {}
        procs: dict[str, subprocess.Popen[bytes]] = {}
        try:
            for name, extra in specific.items():
                port = free_port()
                prefix = f"MC_{name.upper()}_"
                env = {**common, **extra, f"{prefix}HOST": "127.0.0.1", f"{prefix}PORT": str(port)}
                command = [sys.executable, "-m", f"metaconnect_{name}"]
                procs[name] = spawn(command, log=tmp_path / f"{name}.log", env=env)
                urls[name] = f"http://127.0.0.1:{port}"
            stack = Stack(urls, procs, tmp_path, sandbox, spans)
            for name in procs:
                await _ready(stack, name)
            yield stack
        finally:
            for proc in procs.values():
                stop(proc)


async def _ready(stack: Stack, name: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            assert stack.procs[name].poll() is None, (stack.logs / f"{name}.log").read_text()[-3000:]
            try:
                if (await client.get(f"{stack.urls[name]}/readyz", timeout=2)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError((stack.logs / f"{name}.log").read_text()[-3000:])


async def _until(what: str, check: Any, timeout_s: float = 60.0) -> Any:
    async with asyncio.timeout(timeout_s):
        while True:
            found = await check()
            if found:
                return found
            await asyncio.sleep(0.3)
    raise AssertionError(what)  # pragma: no cover - asyncio.timeout raises first


def _variants(neutral: str, red: str, title: str = "Your cart") -> dict[str, Any]:
    return {
        tone: {"push": {"en": {"title": title, "body": body}}} for tone, body in (("neutral", neutral), ("red", red))
    }


async def test_a_red_customer_gets_one_red_push_the_receipt_returns_one_trace_spans_it_and_news_bundles(
    stack: Stack, engine: AsyncEngine
) -> None:
    admin = operator(Role.ADMIN)
    async with httpx.AsyncClient(timeout=15) as client:
        key = (await client.post(f"{stack.urls['ingest']}/v1/api-keys", json={"name": "e2e"}, headers=admin)).json()
        app_headers = {"Authorization": f"Bearer {key['key']}"}

        route = {
            "name": f"cart-{uuid.uuid4().hex[:6]}",
            "status": "active",
            "trigger": {"event_types": [CART]},
            "messages": [
                {
                    "id": "cart",
                    "priority": 80,
                    "category": "transactional",
                    "channels": ["push"],
                    "variants": _variants(NEUTRAL_BODY, RED_BODY),
                }
            ],
            "policy": {"bundle_window": "PT2S"},
        }
        created = await client.post(f"{stack.urls['router']}/v1/routes", json=route, headers=operator())
        assert created.status_code == 201, created.text

        cid = f"e2e-{uuid.uuid4().hex[:8]}"
        who = {"customer_id": cid, "device_token": f"device-{uuid.uuid4().hex}"}

        async def post(type_: str, headers: dict[str, str] | None = None, **properties: Any) -> None:
            event = {"customer": who, "type": type_, "channel": "in_app", "properties": properties}
            response = await client.post(
                f"{stack.urls['ingest']}/v1/events", json=event, headers={**app_headers, **(headers or {})}
            )
            assert response.status_code == 202, response.text

        await post("consent.changed", purpose="profiling_questionnaire", granted=True)
        await post("consent.changed", purpose="marketing", granted=True, channel="push")
        await post("questionnaire.submitted", instrument="colours24", answers=COLOUR_ANSWERS)

        async def red_profile() -> dict[str, Any] | None:
            found = await client.get(f"{stack.urls['profile']}/v1/profiles/cid:{cid}", headers=operator(Role.VIEWER))
            body: dict[str, Any] = found.json() if found.status_code == 200 else {}
            return body if body.get("personality", {}).get("colour") == "red" else None

        profile = await _until("the questionnaire scored red", red_profile)
        customer = uuid.UUID(profile["id"])
        pattern = profile["personality"]["pattern"]
        # What the router learned from earlier red customers: the red tone engages them.
        async with engine.begin() as conn:
            for tone, successes, failures in (("red", 60.0, 40.0), ("neutral", 10.0, 90.0)):
                await conn.execute(
                    text(
                        "INSERT INTO router.arm_stats VALUES (:p, :t, 'push', :s, :f, now())"
                        " ON CONFLICT (pattern, tone, channel) DO UPDATE SET successes = :s, failures = :f"
                    ),
                    {"p": pattern, "t": tone, "s": successes, "f": failures},
                )
        await asyncio.sleep(1.2)  # the router re-reads posteriors every second

        await post(CART, headers={"traceparent": TRACEPARENT}, value=42)

        async with httpx.AsyncClient(base_url=f"{stack.sandbox.http_url}/_sandbox", timeout=70) as control:
            waited = await control.get("/messages/wait", params={"provider": "fcm", "count": 1, "timeout_s": 60})
            assert waited.status_code == 200, waited.text
            [push] = waited.json()["messages"]
        assert push["payload"]["message"]["token"] == who["device_token"]
        assert push["payload"]["message"]["notification"]["body"] == RED_BODY

        async def receipt_in_timeline() -> list[dict[str, Any]] | None:
            found = await client.get(
                f"{stack.urls['profile']}/v1/profiles/{customer}/timeline", headers=operator(Role.VIEWER)
            )
            entries: list[dict[str, Any]] = found.json()["items"] if found.status_code == 200 else []
            types = [e.get("type") for e in entries]
            return entries if "message.sent" in types and CART in types else None

        timeline = await _until("the receipt reached the timeline", receipt_in_timeline)
        decisions = await client.get(
            f"{stack.urls['router']}/v1/decisions", params={"customer_id": str(customer)}, headers=operator(Role.VIEWER)
        )
        [decision] = [d for d in decisions.json() if d["event_type"] == CART]
        assert (decision["outcome"], decision["tone"], decision["trace_id"]) == ("sent", "red", TRACE_ID)
        deliveries = await client.get(
            f"{stack.urls['delivery']}/v1/deliveries",
            params={"customer_id": str(customer)},
            headers=operator(Role.VIEWER),
        )
        [delivery] = deliveries.json()
        assert (delivery["status"], delivery["channel"], delivery["trace_id"]) == ("sent", "push", TRACE_ID)
        # The timeline: the event, and the delivery's receipt naming the decision and the delivery.
        [sent] = [e for e in timeline if e["type"] == "message.sent"]
        assert sent["properties"]["decision_ids"] == [decision["id"]]
        assert sent["properties"]["delivery_id"] == delivery["id"]

        # Meta-connect: three marketing messages within the window arrive as one delivery on one channel.
        news = {
            "name": f"news-{uuid.uuid4().hex[:6]}",
            "status": "active",
            "trigger": {"event_types": [NEWS]},
            "messages": [
                {
                    "id": "news",
                    "priority": 40,
                    "category": "marketing",
                    "channels": ["push"],
                    "variants": _variants("Read more.", "Read it now!", title="{{ data.headline }}"),
                }
            ],
            "policy": {"bundle_window": "PT3S", "bundle_max_items": 5},
        }
        created = await client.post(f"{stack.urls['router']}/v1/routes", json=news, headers=operator())
        assert created.status_code == 201, created.text
        await asyncio.sleep(2.5)  # the router's route cache
        for headline in ("Spring sale", "New in store", "Your points"):
            await post(NEWS, headline=headline)

        async with httpx.AsyncClient(base_url=f"{stack.sandbox.http_url}/_sandbox", timeout=70) as control:
            waited = await control.get("/messages/wait", params={"provider": "fcm", "count": 2, "timeout_s": 60})
            assert waited.status_code == 200, waited.text
            bundled = waited.json()["messages"][1]["payload"]["message"]
            await asyncio.sleep(4)  # nothing else arrives: one delivery, not three pings
            assert len((await control.get("/messages", params={"provider": "fcm"})).json()["messages"]) == 2
        assert len(bundled["data"]["item_ids"].split(",")) == 3
        for headline in ("Spring sale", "New in store", "Your points"):
            assert headline in bundled["notification"]["body"]

    async def whole_trace() -> set[str] | None:
        services = stack.spans.services_in(TRACE_ID)
        return services if {"ingest", "profile", "router", "delivery"} <= services else None

    await _until("one trace across the four services", whole_trace, timeout_s=30)
    sends = [s for s in stack.spans.received if s[2] == TRACE_ID and s[1] == "send push"]
    assert sends, "the provider call is a span of the interaction's trace"
    everything = json.dumps(stack.spans.received, default=str)
    for personal in (who["device_token"], cid):
        assert personal not in everything
