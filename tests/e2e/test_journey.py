"""The first end-to-end journey: all four services as separate processes on real Kafka and
PostgreSQL, the provider sandbox on loopback, spans exported over real OTLP/HTTP to a receiver.

A channel app posts interactions to ingest for a customer whose questionnaire says "red"; a
route matches; the fake push provider receives one message in the red tone; the receipt flows
back into the customer's timeline; one trace spans ingest, profile, router, delivery and the
provider call. Then several marketing messages within a window arrive as one bundled delivery.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import uuid
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from metaconnect_common.auth import Role
from metaconnect_common.topics import DELIVERIES, INTERACTIONS, PROFILED
from tests.delivery.test_service import fault
from tests.e2e.conftest import ReceivedSpan, Spans, Stack, until
from tests.profile.personality.answers import COLOUR_ANSWERS
from tests.router.conftest import operator
from tests.support import topic_name

pytestmark = pytest.mark.timeout(300)
TRACE_ID = uuid.uuid4().hex
TRACEPARENT = f"00-{TRACE_ID}-{uuid.uuid4().hex[:16]}-01"
# This run's own event types: routes other tests left active (on `cart.abandoned`, say) must not match.
CART = f"e2e{TRACE_ID[:8]}.cart_abandoned"
NEWS = f"e2e{TRACE_ID[:8]}.news_posted"
RED_BODY = "Still yours, one tap away."
EMAIL = f"e2e-{TRACE_ID[:12]}@metaconnect-journey.org"
PHONE = f"+49151{uuid.uuid4().int % 10**8:08d}"
NEUTRAL_BODY = "Your cart is waiting."


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
            # The best-known tone every time: this journey asserts the tone, not the exploration.
            "policy": {"bundle_window": "PT2S", "exploration_share": 0},
        }
        created = await client.post(f"{stack.urls['router']}/v1/routes", json=route, headers=operator())
        assert created.status_code == 201, created.text

        cid = f"e2e-{uuid.uuid4().hex[:8]}"
        who = {
            "customer_id": cid,
            "device_token": f"device-{uuid.uuid4().hex}",
            "email": EMAIL,
            "phone": PHONE,
        }

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

        profile = await until("the questionnaire scored red", red_profile)
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

        async with httpx.AsyncClient(base_url=f"{stack.sandbox.http_url}/_sandbox", timeout=70) as control:
            # The push provider fails once: the delivery retries (and the metrics count it).
            await fault(control, "fcm", {"status": 503})
            await post(CART, headers={"traceparent": TRACEPARENT}, value=42)
            waited = await control.get("/messages/wait", params={"provider": "fcm", "count": 2, "timeout_s": 60})
            assert waited.status_code == 200, waited.text
            [push] = _accepted(waited.json()["messages"])
        assert push["payload"]["message"]["token"] == who["device_token"]
        assert push["payload"]["message"]["notification"]["body"] == RED_BODY

        async def receipt_in_timeline() -> list[dict[str, Any]] | None:
            found = await client.get(
                f"{stack.urls['profile']}/v1/profiles/{customer}/timeline", headers=operator(Role.VIEWER)
            )
            entries: list[dict[str, Any]] = found.json()["items"] if found.status_code == 200 else []
            types = [e.get("type") for e in entries]
            return entries if "message.sent" in types and CART in types else None

        timeline = await until("the receipt reached the timeline", receipt_in_timeline)
        decisions = await client.get(
            f"{stack.urls['router']}/v1/decisions", params={"customer": str(customer)}, headers=operator(Role.VIEWER)
        )
        [decision] = [d for d in decisions.json() if d["event_type"] == CART]
        assert (decision["outcome"], decision["tone"], decision["trace_id"]) == ("sent", "red", TRACE_ID)
        deliveries = await client.get(
            f"{stack.urls['delivery']}/v1/deliveries",
            params={"customer": str(customer)},
            headers=operator(Role.VIEWER),
        )
        [delivery] = deliveries.json()
        assert (delivery["status"], delivery["channel"], delivery["trace_id"]) == ("sent", "push", TRACE_ID)
        # Router and delivery service know the customer by the refs the profile API takes.
        for service, path, expected in (
            ("router", "decisions", decisions.json()),
            ("delivery", "deliveries", [delivery]),
        ):
            for ref in (f"cid:{cid}", f"email:{EMAIL.upper()}", f"phone:{PHONE}"):
                by_ref = await client.get(
                    f"{stack.urls[service]}/v1/{path}", params={"customer": ref}, headers=operator(Role.VIEWER)
                )
                assert by_ref.json() == expected, (service, ref)
        # The app's backend mints an inbox token by any ref the customer has (profile told ingest
        # over mc.customers.v1); the device reads its inbox with it. Unknown customers get none.
        backend = await client.post(
            f"{stack.urls['ingest']}/v1/api-keys", json={"name": "e2e-backend", "scopes": ["inbox"]}, headers=admin
        )
        backend_headers = {"Authorization": f"Bearer {backend.json()['key']}"}

        async def minted() -> dict[str, Any] | None:
            response = await client.post(
                f"{stack.urls['ingest']}/v1/inbox/tokens",
                json={"customer": f"email:{EMAIL.upper()}"},
                headers=backend_headers,
            )
            return response.json() if response.status_code == 200 else None

        inbox_token = await until("ingest knows the customer's refs", minted, timeout_s=30)
        assert inbox_token["customer_id"] == str(customer)
        inbox = await client.get(
            f"{stack.urls['delivery']}/v1/inbox/{customer}",
            headers={"Authorization": f"Bearer {inbox_token['token']}"},
        )
        assert inbox.status_code == 200, inbox.text
        unknown = await client.post(
            f"{stack.urls['ingest']}/v1/inbox/tokens", json={"customer": f"cid:{cid}-nobody"}, headers=backend_headers
        )
        assert unknown.status_code == 404
        # The timeline: the event, and the delivery's receipt naming the decision and the delivery.
        [sent] = [e for e in timeline if e["type"] == "message.sent"]
        assert sent["properties"]["decision_ids"] == [decision["id"]]
        assert sent["properties"]["delivery_id"] == delivery["id"]

        # Meta-connect: three marketing messages within the window arrive as one delivery on one channel.
        # Three messages (one route each): items of one message collapse into one in a bundle.
        headlines = ("Spring sale", "New in store", "Your points")
        for number, headline in enumerate(headlines):
            news = {
                "name": f"news-{number}-{uuid.uuid4().hex[:6]}",
                "status": "active",
                "trigger": {"event_types": [NEWS], "condition": f'event.properties.headline == "{headline}"'},
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
        news_traces = [uuid.uuid4().hex for _ in range(3)]
        for headline, trace_id in zip(headlines, news_traces, strict=True):
            await post(NEWS, headers={"traceparent": f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"}, headline=headline)

        async with httpx.AsyncClient(base_url=f"{stack.sandbox.http_url}/_sandbox", timeout=70) as control:
            waited = await control.get("/messages/wait", params={"provider": "fcm", "count": 3, "timeout_s": 60})
            assert waited.status_code == 200, waited.text
            bundled = _accepted(waited.json()["messages"])[1]["payload"]["message"]
            await asyncio.sleep(4)  # nothing else arrives: one delivery, not three pings
            assert len(_accepted((await control.get("/messages", params={"provider": "fcm"})).json()["messages"])) == 2
        assert len(bundled["data"]["item_ids"].split(",")) == 3
        for headline in headlines:  # each item's title and the start of its body
            assert f"{headline}: Read" in bundled["notification"]["body"]

        # A record the delivery service cannot read goes to its dead-letter topic (and is counted).
        await _produce(stack.kafka_bootstrap, DELIVERIES, b"not a delivery")

    async def whole_trace() -> set[str] | None:
        services = stack.spans.services_in(TRACE_ID)
        return services if {"ingest", "profile", "router", "delivery"} <= services else None

    await until("one trace across the four services", whole_trace, timeout_s=30)
    _assert_one_trace_by_the_conventions(stack.spans, route=str(route["name"]))
    await until("the bundle's spans", lambda: _bundle_spans(stack.spans), timeout_s=30)
    _assert_the_bundle_links_its_items(stack.spans, news_traces)
    await _assert_metrics(stack)
    _assert_nothing_personal(stack, [who["device_token"], cid, EMAIL, PHONE, PHONE.removeprefix("+49")])


def _accepted(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The requests the fake provider accepted (not the ones it was told to fail)."""
    return [m for m in messages if m.get("status") == 200]


async def _produce(bootstrap: str, topic: str, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic_name(topic), value, key=b"e2e")
    finally:
        await producer.stop()


CONSUMER, PRODUCER, CLIENT, SERVER = 5, 4, 3, 2  # OTLP span kinds


def _assert_one_trace_by_the_conventions(spans: Spans, *, route: str) -> None:
    """The interaction's trace: HTTP, messaging and database spans by the semantic conventions,
    the decision's outcome, and the provider call (after its retry)."""
    mine = [s for s in spans.received if s.trace_id == TRACE_ID]
    [server] = [s for s in mine if s.kind == SERVER and s.service == "ingest"]
    assert server.name == "POST /v1/events"
    assert server.attributes["http.route"] == "/v1/events"
    assert server.attributes["http.request.method"] == "POST"
    assert server.attributes["http.response.status_code"] == 202
    assert server.parent_span_id == TRACEPARENT.split("-")[2], "the client's traceparent is the parent"
    [produced] = [s for s in mine if s.kind == PRODUCER and s.service == "ingest"]
    assert produced.attributes["messaging.system"] == "kafka"
    assert produced.attributes["messaging.destination.name"] == topic_name(INTERACTIONS)
    assert "messaging.kafka.offset" in produced.attributes
    for service, topic in (("profile", INTERACTIONS), ("router", PROFILED), ("delivery", DELIVERIES)):
        # One record: a span in the trace; several consumed together: one span linking to each.
        consumed = [
            s
            for s in spans.received
            if s.service == service
            and s.kind == CONSUMER
            and (s.trace_id == TRACE_ID or any(t == TRACE_ID for t, _ in s.links))
        ]
        assert consumed, f"{service} consumed the interaction's record"
        attributes = consumed[0].attributes
        assert attributes["messaging.system"] == "kafka"
        assert attributes["messaging.destination.name"] == topic_name(topic)
        assert attributes["messaging.consumer.group.name"]
        assert "messaging.destination.partition.id" in attributes
    # The receipts come back in this trace too, and the router decides on them (no route wants them).
    [decision] = [s for s in mine if s.name == "decide" and s.attributes["metaconnect.decision.outcome"] != "no_match"]
    assert decision.attributes["metaconnect.decision.outcome"] == "sent"
    assert decision.attributes["metaconnect.route"] == route
    assert decision.attributes["metaconnect.tone"] == "red"
    assert decision.attributes["metaconnect.channel"] == "push"
    assert isinstance(decision.attributes["metaconnect.decision.reasons"], list)
    queries = [s for s in mine if s.kind == CLIENT and s.attributes.get("db.system.name") == "postgresql"]
    assert {s.service for s in queries} >= {"profile", "router", "delivery"}
    assert all(s.attributes["db.operation.name"] and s.attributes["db.query.text"] for s in queries)
    sends = [s for s in mine if s.name == "send push"]
    assert [s.attributes["metaconnect.outcome"] for s in sends] == ["retry", "sent"]
    assert all(s.kind == CLIENT and s.attributes["server.address"] == "127.0.0.1" for s in sends)


async def _bundle_spans(spans: Spans) -> tuple[ReceivedSpan, ReceivedSpan] | None:
    sent = [s for s in spans.named("bundle send") if s.attributes.get("metaconnect.bundle.items") == 3]
    delivered = [s for s in spans.named("deliver") if s.attributes.get("metaconnect.delivery.items") == 3]
    return (sent[-1], delivered[-1]) if sent and delivered else None


def _assert_the_bundle_links_its_items(spans: Spans, item_traces: list[str]) -> None:
    """The bundle's own trace: its spans link to the trace of every item in it."""
    found = [s for s in spans.received if s.name in ("bundle send", "deliver") and s.links]
    [bundle] = [s for s in found if s.name == "bundle send" and {t for t, _ in s.links} == set(item_traces)]
    [deliver] = [s for s in found if s.name == "deliver" and s.trace_id == bundle.trace_id]
    assert {t for t, _ in deliver.links} == set(item_traces)
    assert deliver.attributes["metaconnect.delivery.status"] == "sent"
    assert [s for s in spans.named("send push", bundle.trace_id) if s.attributes["metaconnect.outcome"] == "sent"]
    for trace_id in item_traces:  # each item's trace holds its decision, whose span the links name
        [decision] = spans.named("decide", trace_id)
        assert decision.attributes["metaconnect.decision.outcome"] == "bundled"
        assert (trace_id, decision.span_id) in deliver.links


def _samples(exposition: str) -> list[tuple[str, dict[str, str], float]]:
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    ]


def _metric(samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    """The sum of the samples named `name` whose labels include `labels` (nan if there is none)."""
    found = [v for n, ls, v in samples if n == name and labels.items() <= ls.items()]
    return sum(found) if found else math.nan


async def _assert_metrics(stack: Stack) -> None:
    """Every family an operator watches, with the values this run must have produced."""
    async with httpx.AsyncClient(timeout=10) as client:
        scraped = {name: _samples((await client.get(f"{url}/metrics")).text) for name, url in stack.urls.items()}
    for service, samples in scraped.items():
        assert _metric(samples, "mc_db_pool_limit", service=service) > 0, service
        assert _metric(samples, "mc_db_pool_connections", service=service, state="in_use") >= 0, service
    ingest = scraped["ingest"]
    assert _metric(ingest, "mc_http_requests_total", route="/v1/events", method="POST", status="202") >= 7
    assert _metric(ingest, "mc_http_request_duration_seconds_count", route="/v1/events") >= 7
    assert _metric(ingest, "mc_http_request_duration_seconds_bucket", route="/v1/events", le="+Inf") >= 7
    assert _metric(ingest, "mc_ingest_events_total", source="api", outcome="accepted") >= 7
    for service in ("profile", "router", "delivery"):
        samples, group = scraped[service], stack.groups[service]
        lags = [v for n, ls, v in samples if n == "mc_kafka_consumer_lag" and ls["group"] == group]
        assert len(lags) == 3, (service, lags)  # one per partition
        assert all(v >= 0 for v in lags), (service, lags)
        assert _metric(samples, "mc_kafka_consumer_processed_total", group=group) >= 1
        handled = _metric(samples, "mc_kafka_handler_seconds_count", group=group)
        batched = _metric(samples, "mc_kafka_batch_handler_seconds_count", group=group)
        assert (0 if math.isnan(handled) else handled) + (0 if math.isnan(batched) else batched) >= 1
        assert _metric(samples, "mc_outbox_published_total", service=service) >= 1
    router = scraped["router"]
    assert _metric(router, "mc_router_decisions_total", outcome="sent") >= 1
    assert _metric(router, "mc_router_decisions_total", outcome="bundled", reason="none") >= 3
    assert _metric(router, "mc_router_bundle_items_count") >= 2
    assert _metric(router, "mc_router_bundle_items_bucket", le="1.0") >= 1  # the cart push went alone
    assert _metric(router, "mc_router_bundle_items_sum") >= 4
    assert _metric(router, "mc_router_time_in_bundle_seconds_count") >= 4
    assert _metric(router, "mc_router_time_in_bundle_seconds_sum") >= 3 * 2.0  # the news waited for its window
    delivery = scraped["delivery"]
    assert _metric(delivery, "mc_delivery_deliveries_total", channel="push", provider="fcm", status="sent") >= 2
    assert _metric(delivery, "mc_delivery_attempts_total", channel="push", provider="fcm", outcome="retry") >= 1
    assert _metric(delivery, "mc_delivery_retries_total", channel="push", provider="fcm") >= 1
    assert _metric(delivery, "mc_delivery_provider_seconds_count", provider="fcm", outcome="sent") >= 2
    assert _metric(delivery, "mc_delivery_provider_seconds_sum", provider="fcm") > 0
    assert _metric(delivery, "mc_delivery_circuit_state", channel="push", provider="fcm") == 0  # closed
    assert _metric(delivery, "mc_delivery_circuit_state", channel="sms", provider="twilio") == 0
    assert _metric(delivery, "mc_kafka_consumer_dead_lettered_total", group=stack.groups["delivery"]) == 1
    assert _metric(delivery, "mc_kafka_consumer_retries_total", group=stack.groups["delivery"]) >= 0
    assert _metric(delivery, "mc_http_requests_total", route="/v1/deliveries", status="200") >= 1


def _assert_nothing_personal(stack: Stack, personal: list[str]) -> None:
    """No span attribute and no log line of the run names the customer; logs are JSON with trace ids."""
    everything = json.dumps([dataclasses.astuple(s) for s in stack.spans.received], default=str)
    logs = {name: (stack.logs / f"{name}.log").read_text() for name in stack.procs}
    for value in personal:
        assert value not in everything
        for name, text_ in logs.items():
            assert value not in text_, f"{name}'s log names the customer"
    lines = [json.loads(line) for text_ in logs.values() for line in text_.splitlines() if line.strip()]
    assert lines
    assert all({"time", "level", "logger", "message", "service"} <= line.keys() for line in lines)
    traced = [line for line in lines if "trace_id" in line]
    assert traced
    assert all(len(line["trace_id"]) == 32 and len(line["span_id"]) == 16 for line in traced)
