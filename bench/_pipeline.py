"""The whole pipeline for one run: real Kafka and PostgreSQL, the four services as separate
processes, the provider sandbox on loopback, an API key and a route set; and the faults a run
can inflict on it (a service killed, the broker or PostgreSQL restarted, providers failing).

`bench/pipeline.py` measures with it, `bench/chaos.py` and `tests/chaos/test_pipeline.py`
break it. Everything it starts it stops (`async with Stack(...)`), data removed unless kept.

The routes (`ROUTES`) are what marketing ops would write for a shop:

* `order` — `order.confirmed` with `event.properties.total > 0`: a transactional push, at once;
* `browse`, `wishlist`, `cart` — marketing pushes with tone variants on `product.viewed`
  (`price >= 20` and marketing consent for push in the profile), `wishlist.added` and
  `cart.updated`: they bundle within `BUNDLE_WINDOW` into one delivery per customer window.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from bench._harness import BENCH_DIR, log, server_cmd
from metaconnect_cli.local._proc import free_port, log_tail, spawn, stop
from metaconnect_cli.local.kafka import KafkaBroker
from metaconnect_cli.local.postgres import EmbeddedPostgres
from metaconnect_common.auth import Role, issue_token
from metaconnect_common.kafka.admin import ensure_topics
from metaconnect_common.migrations import upgrade
from metaconnect_common.settings import AuthSettings, KafkaSettings
from metaconnect_common.topics import CUSTOMERS, DELIVERIES, INTERACTIONS, PROFILED
from metaconnect_sandbox.config import SandboxConfig
from metaconnect_sandbox.server import Sandbox

SERVICES = ("ingest", "profile", "router", "delivery")
BUNDLE_WINDOW_S = 3
ORDER_TITLE = "Order confirmed"
DIGEST_MARK = "metaconnect-digest"  # in every marketing text: a push that carries it is a bundle


def _tones(title: str, bodies: dict[str, str]) -> dict[str, Any]:
    return {tone: {"push": {"en": {"title": title, "body": body}}} for tone, body in bodies.items()}


def _marketing(name: str, event_type: str, title: str, condition: str | None = None) -> dict[str, Any]:
    trigger: dict[str, Any] = {"event_types": [event_type]}
    if condition:
        trigger["condition"] = condition
    return {
        "name": name,
        "status": "active",
        "trigger": trigger,
        "messages": [
            {
                "id": name,
                "priority": 50,
                "category": "marketing",
                "expires_after": "P1D",
                "channels": ["push"],
                "variants": _tones(
                    title,
                    {
                        "neutral": f"{{{{ data.sku }}}} is waiting for you. {DIGEST_MARK}",
                        "red": f"{{{{ data.sku }}}}: decide now. {DIGEST_MARK}",
                        "yellow": f"{{{{ data.sku }}}} will make you smile! {DIGEST_MARK}",
                        "green": f"Take your time with {{{{ data.sku }}}}. {DIGEST_MARK}",
                        "blue": f"{{{{ data.sku }}}}: the facts, side by side. {DIGEST_MARK}",
                    },
                ),
            }
        ],
        "policy": {"bundle_window": f"PT{BUNDLE_WINDOW_S}S", "bundle_max_items": 10},
    }


ROUTES: list[dict[str, Any]] = [
    {
        "name": "order",
        "status": "active",
        "trigger": {"event_types": ["order.confirmed"], "condition": "event.properties.total > 0"},
        "messages": [
            {
                "id": "order",
                "priority": 90,
                "category": "transactional",
                "channels": ["push"],
                "variants": _tones(ORDER_TITLE, {"neutral": "Order {{ data.order }} is confirmed."}),
            }
        ],
    },
    _marketing(
        "browse",
        "product.viewed",
        "Still thinking about it?",
        "event.properties.price >= 20 and profile.channel_consent.push.granted == true",
    ),
    _marketing("wishlist", "wishlist.added", "On your wishlist"),
    _marketing("cart", "cart.updated", "Your cart"),
]


@dataclass
class Process:
    """One service as its own process on a fixed port, so a restart keeps its address."""

    name: str
    port: int
    log: Path
    env: dict[str, str]
    profile_prefix: Path | None = None
    module: str = ""  # what runs: `metaconnect_<service>`, or a test double
    service: str = ""  # which of SERVICES it is (`name` tells replicas apart: `router-2`)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc is not None else 0

    def start(self) -> None:
        self.starts += 1
        prefix = None
        if self.profile_prefix is not None:  # one profile per start: a restart does not overwrite it
            prefix = self.profile_prefix.with_name(f"{self.profile_prefix.name}{self.starts}-")
        self.proc = spawn(server_cmd(["-m", self.module], prefix), log=self.log, env=self.env)

    def profile_path(self, number: int) -> Path | None:
        """Where bench/profiled.py wrote this start's `number`th profile."""
        if self.profile_prefix is None:
            return None
        return self.profile_prefix.with_name(f"{self.profile_prefix.name}{self.starts}-{number}.prof")

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, whatever was in flight is cut off."""
        stop(self.proc, kill=True)

    def stop(self) -> None:
        stop(self.proc, timeout=30)  # SIGTERM, SIGKILL after 30 s

    async def ready(self, timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                if self.proc is None or self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited:\n{log_tail(self.log, 40)}")
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(f"{self.url}/readyz")).status_code == 200:
                        return
                await asyncio.sleep(0.2)
        raise TimeoutError(f"{self.name} not ready after {timeout_s}s:\n{log_tail(self.log, 40)}")


@dataclass
class Stack:
    """Kafka, PostgreSQL, the sandbox and the four services; `async with` starts and stops them.

    `settings` adds environment variables per service (`{"delivery": {"MC_DELIVERY_ATTEMPTS": "8"}}`);
    `modules` runs another module as a service (a test double with a planted defect); `replicas`
    runs more than one process of a service (`{"router": 2}`: `router` and `router-2`, one group).
    """

    workdir: Path
    partitions: int = 6
    settings: dict[str, dict[str, str]] = field(default_factory=dict)
    modules: dict[str, str] = field(default_factory=dict)
    replicas: dict[str, int] = field(default_factory=dict)
    provider_timeout_s: float = 2.0
    profile: bool = False
    keep_data: bool = False
    log_level: str = "WARNING"
    broker: KafkaBroker | None = None
    postgres: EmbeddedPostgres | None = None
    sandbox: Sandbox | None = None
    services: dict[str, Process] = field(default_factory=dict)
    database_url: str = ""
    api_key: str = ""

    @property
    def bootstrap(self) -> str:
        assert self.broker is not None
        return self.broker.bootstrap

    @property
    def data(self) -> Path:
        return self.workdir / "data"

    @property
    def logs(self) -> Path:
        return self.workdir / "logs"

    async def __aenter__(self) -> Self:
        try:
            await self._start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _start(self) -> None:
        started = time.monotonic()
        self.logs.mkdir(parents=True, exist_ok=True)
        self.broker = KafkaBroker(self.data / "kafka", partitions=self.partitions)
        self.postgres = EmbeddedPostgres(self.data / "pg")
        await asyncio.to_thread(self.broker.start)
        self.database_url = await asyncio.to_thread(self.postgres.start)
        for name in SERVICES:
            await asyncio.to_thread(upgrade, f"metaconnect_{name}", self.database_url)
        kafka = KafkaSettings(bootstrap=self.bootstrap, topic_partitions=self.partitions)
        await ensure_topics(kafka, [INTERACTIONS, PROFILED, DELIVERIES, CUSTOMERS])
        config = SandboxConfig(max_recorded=1_000_000, callback_delay_s=0)
        self.sandbox = Sandbox(config, http_port=free_port(), smtp_port=free_port())
        await self.sandbox.__aenter__()
        log(f"Kafka, PostgreSQL and the sandbox up ({time.monotonic() - started:.1f}s)")
        for service in SERVICES:
            for replica in range(1, self.replicas.get(service, 1) + 1):
                name = service if replica == 1 else f"{service}-{replica}"
                port = free_port()
                self.services[name] = Process(
                    name,
                    port,
                    self.logs / f"{name}.log",
                    self._env(service, port, config),
                    self.logs / "prof" / name if self.profile else None,
                    self.modules.get(service, "") or f"metaconnect_{service}",
                    service=service,
                )
                self.services[name].start()
        for process in self.services.values():
            await process.ready()
        await self._configure()
        log(f"services up, routes applied ({time.monotonic() - started:.1f}s)")

    def _env(self, name: str, port: int, sandbox: SandboxConfig) -> dict[str, str]:
        prefix = f"MC_{name.upper()}_"
        env = {
            "MC_ENV": "test",
            "MC_DATABASE_URL": self.database_url,
            "MC_KAFKA_BOOTSTRAP": self.bootstrap,
            "MC_KAFKA_TOPIC_PARTITIONS": str(self.partitions),
            "MC_LOG_JSON": "false",
            "MC_LOG_LEVEL": self.log_level,
            "OTEL_EXPORTER_OTLP_ENDPOINT": "",  # spans stay in the process: nothing leaves the machine
            f"{prefix}HOST": "127.0.0.1",
            f"{prefix}PORT": str(port),
            "PYTHONPATH": os.pathsep.join([str(BENCH_DIR.parent), os.environ.get("PYTHONPATH", "")]),
        }
        if name == "delivery":
            assert self.sandbox is not None
            fcm = {
                "name": "fcm",
                "kind": "fcm",
                "channel": "push",
                "base_url": self.sandbox.base_urls["fcm"],
                "account": sandbox.fcm_project_id,
                "secret": sandbox.fcm_access_token.get_secret_value(),
                "timeout_s": self.provider_timeout_s,
                # FCM's own quota is 600,000 messages a minute per project; the default (50/s) is a
                # cautious start for a new account, not what a shop at these rates runs with.
                "rate_per_s": 5000,
                "burst": 500,
            }
            env["MC_DELIVERY_PROVIDERS"] = json.dumps([fcm])
        return {**env, **self.settings.get(name, {})}

    async def _configure(self) -> None:
        """An API key for the channel app (no rate limit in the way) and the route set."""
        auth = AuthSettings()
        admin = {"Authorization": f"Bearer {issue_token(auth, subject='bench@metaconnect', role=Role.ADMIN)}"}
        editor = {"Authorization": f"Bearer {issue_token(auth, subject='bench@metaconnect', role=Role.EDITOR)}"}
        async with httpx.AsyncClient(timeout=30) as client:
            created = await client.post(
                f"{self.services['ingest'].url}/v1/api-keys",
                json={"name": "bench", "rate_per_s": 100_000, "burst": 1_000_000},
                headers=admin,
            )
            created.raise_for_status()
            self.api_key = created.json()["key"]
            for route in ROUTES:
                response = await client.put(
                    f"{self.services['router'].url}/v1/routes/{route['name']}", json=route, headers=editor
                )
                if response.status_code not in (200, 201):
                    raise RuntimeError(f"route {route['name']}: {response.status_code} {response.text}")
        await asyncio.sleep(1.5)  # the router re-reads active routes every second

    def urls(self, service: str) -> list[str]:
        """The base URLs of every replica of `service`."""
        return [p.url for p in self.services.values() if p.service == service]

    def pids(self) -> dict[str, int]:
        """The processes to account CPU to: each service, the broker, the postmaster."""
        pids = {name: p.pid for name, p in self.services.items()}
        assert self.broker is not None
        assert self.broker._proc is not None
        pids["kafka"] = self.broker._proc.pid
        return pids

    def signal_services(self, signum: int) -> None:
        for process in self.services.values():
            if process.proc is not None and process.proc.poll() is None:
                os.kill(process.proc.pid, signum)

    def postmaster_pid(self) -> int:
        assert self.postgres is not None
        return int((self.postgres.data_dir / "pgdata" / "postmaster.pid").read_text().split()[0])

    # ------------------------------------------------------------------ faults

    async def kill(self, name: str, down_s: float = 0.5, *, wait_ready: bool = True) -> None:
        """SIGKILL one service, wait `down_s` and start it again (and wait until it is ready: a
        consumer rejoins its group once the broker gave up on the killed one, ~10 s)."""
        process = self.services[name]
        await asyncio.to_thread(process.kill)
        await asyncio.sleep(down_s)
        process.start()
        if wait_ready:
            await process.ready()

    async def ready(self) -> None:
        """Every service answers `/readyz` with 200."""
        await asyncio.gather(*(p.ready() for p in self.services.values()))

    async def restart_broker(self, down_s: float = 3.0) -> None:
        """Stop the broker (cleanly, as a rolling restart does), wait, start it on the same port."""
        assert self.broker is not None
        await asyncio.to_thread(self.broker.stop)
        await asyncio.sleep(down_s)
        await asyncio.to_thread(self.broker.start)

    async def restart_postgres(self, down_s: float = 2.0) -> None:
        """Stop PostgreSQL (`fast`: open transactions roll back, connections drop), wait, start it."""
        assert self.postgres is not None
        await asyncio.to_thread(self.postgres.stop)
        await asyncio.sleep(down_s)
        await asyncio.to_thread(self.postgres.start)

    async def refuse_connections(self, down_s: float = 2.0) -> None:
        """The providers' endpoint goes away (connections refused), then comes back on the same port."""
        assert self.sandbox is not None
        await self.sandbox.stop()
        await asyncio.sleep(down_s)
        await self.sandbox.__aenter__()

    async def provider_faults(self, *responses: dict[str, Any]) -> None:
        """Scripted answers for the next push calls (5xx, 429 with Retry-After, delays)."""
        assert self.sandbox is not None
        async with httpx.AsyncClient(base_url=f"{self.sandbox.http_url}/_sandbox") as control:
            answer = await control.post("/faults", json={"provider": "fcm", "responses": list(responses)})
            answer.raise_for_status()

    # ------------------------------------------------------------------ shutdown

    async def close(self) -> None:
        for process in self.services.values():
            await asyncio.to_thread(process.stop)
        if self.sandbox is not None:
            with contextlib.suppress(RuntimeError):
                await self.sandbox.stop()
        if self.broker is not None:
            await asyncio.to_thread(self.broker.stop)
        if self.postgres is not None:
            await asyncio.to_thread(self.postgres.stop)
        if not self.keep_data:
            shutil.rmtree(self.data, ignore_errors=True)
