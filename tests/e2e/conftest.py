"""The whole stack for end-to-end tests: the four services as processes on real Kafka and
PostgreSQL, the provider sandbox on loopback, an OTLP receiver collecting their spans."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request, Response
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from metaconnect_cli.local._proc import stop
from metaconnect_common.kafka.admin import ensure_topics
from metaconnect_common.settings import KafkaSettings
from metaconnect_common.topics import DELIVERIES, INTERACTIONS, PROFILED
from metaconnect_sandbox.server import Sandbox, serving
from tests.delivery.test_service import SANDBOX, providers
from tests.support import Service, providers_env, ready, start_service


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int
    attributes: dict[str, Any]
    links: tuple[tuple[str, str], ...]  # (trace id, span id) of each linked span


@dataclass
class Spans:
    """What the OTLP receiver got."""

    received: list[ReceivedSpan] = field(default_factory=list)

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
                        self.received.append(
                            ReceivedSpan(
                                service,
                                span.name,
                                span.trace_id.hex(),
                                span.span_id.hex(),
                                span.parent_span_id.hex(),
                                span.kind,
                                {a.key: _value(a.value) for a in span.attributes},
                                tuple((link.trace_id.hex(), link.span_id.hex()) for link in span.links),
                            )
                        )
            return Response(status_code=200, media_type="application/x-protobuf")

        return app

    def services_in(self, trace_id: str) -> set[str]:
        return {s.service for s in self.received if s.trace_id == trace_id}

    def named(self, name: str, trace_id: str | None = None) -> list[ReceivedSpan]:
        return [s for s in self.received if s.name == name and (trace_id is None or s.trace_id == trace_id)]


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    return getattr(value, kind) if kind else None


@dataclass
class Stack:
    urls: dict[str, str]
    procs: dict[str, subprocess.Popen[bytes]]
    logs: Path
    sandbox: Sandbox
    spans: Spans
    kafka_bootstrap: str
    groups: dict[str, str]  # service -> its consumer group


@pytest.fixture
async def stack(database_url: str, kafka_bootstrap: str, tmp_path: Path) -> AsyncIterator[Stack]:
    await ensure_topics(
        KafkaSettings(bootstrap=kafka_bootstrap, topic_partitions=3), [INTERACTIONS, PROFILED, DELIVERIES]
    )
    spans = Spans()
    tag = uuid.uuid4().hex[:8]
    async with Sandbox(SANDBOX) as sandbox, serving(spans.app()) as otlp:
        common = {
            "MC_LOG_JSON": "true",
            "MC_LOG_LEVEL": "DEBUG",  # every log line a service can write is searched for personal data
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
                "MC_DELIVERY_PROVIDERS": providers_env(providers(sandbox)),
            },
        }
        groups = {n: specific[n][f"MC_{n.upper()}_GROUP_ID"] for n in ("profile", "router", "delivery")}
        services: list[Service] = []
        try:
            for name, extra in specific.items():
                log = tmp_path / f"{name}.log"
                env = {**common, **extra}
                services.append(
                    start_service(name, database_url=database_url, bootstrap=kafka_bootstrap, log=log, **env)
                )
            for service in services:
                await ready(service)
            urls = {s.name: s.url for s in services}
            procs = {s.name: s.proc for s in services}
            yield Stack(urls, procs, tmp_path, sandbox, spans, kafka_bootstrap, groups)
        finally:
            for service in services:
                stop(service.proc)


async def until(what: str, check: Any, timeout_s: float = 60.0) -> Any:
    async with asyncio.timeout(timeout_s):
        while True:
            found = await check()
            if found:
                return found
            await asyncio.sleep(0.3)
    raise AssertionError(what)  # pragma: no cover - asyncio.timeout raises first
