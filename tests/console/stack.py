"""The console and what it calls, as processes: the four services (with the provider sandbox)
on the test's Kafka and database, the console, and a real OIDC provider."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from metaconnect_cli.local._proc import free_port, log_tail, spawn, stop
from metaconnect_cli.local.sandbox import ingest_webhook_env, sandbox_command, sandbox_providers
from metaconnect_common.auth import Role, issue_token
from metaconnect_common.settings import AuthSettings

SERVICES = ("ingest", "profile", "router", "delivery")


@dataclass
class ConsoleStack:
    workdir: Path
    database_url: str
    kafka_bootstrap: str
    oidc_issuer: str
    topic_prefix: str
    with_services: bool = True
    ports: dict[str, int] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    @property
    def console(self) -> str:
        return self.url("console")

    def token(self, role: Role = Role.ADMIN, subject: str = "tests@metaconnect") -> str:
        return issue_token(AuthSettings(), subject=subject, role=role)

    def start(self) -> None:
        names = [*SERVICES, "sandbox", "sandbox-smtp", "console"] if self.with_services else ["console"]
        self.ports = {name: free_port() for name in names}
        common = {
            "MC_ENV": "test",
            "MC_DATABASE_URL": self.database_url,
            "MC_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "MC_KAFKA_TOPIC_PREFIX": self.topic_prefix,
            "MC_KAFKA_TOPIC_PARTITIONS": "3",
            "MC_LOG_JSON": "false",
            "MC_LOG_LEVEL": "INFO",  # as deployed: what reaches the logs is checked (no personal data)
            "OTEL_EXPORTER_OTLP_ENDPOINT": "",
            "PYTHONUNBUFFERED": "1",
        }
        try:
            if self.with_services:
                sandbox = self.url("sandbox")
                command = sandbox_command(port=self.ports["sandbox"], smtp_port=self.ports["sandbox-smtp"])
                self._spawn("sandbox", command, {})
                for name in SERVICES:
                    own = {f"MC_{name.upper()}_HOST": "127.0.0.1", f"MC_{name.upper()}_PORT": str(self.ports[name])}
                    if name == "delivery":
                        providers = sandbox_providers(sandbox, self.ports["sandbox-smtp"])
                        own["MC_DELIVERY_PROVIDERS"] = json.dumps(providers)
                    if name == "ingest":
                        own |= ingest_webhook_env()
                    self._spawn(name, [sys.executable, "-m", f"metaconnect_{name}"], common | own)
            console = {
                "MC_CONSOLE_HOST": "127.0.0.1",
                "MC_CONSOLE_PORT": str(self.ports["console"]),
                "MC_CONSOLE_PUBLIC_URL": f"http://127.0.0.1:{self.ports['console']}",
                "MC_CONSOLE_OIDC_ISSUER": self.oidc_issuer,
                "MC_CONSOLE_OIDC_CLIENT_ID": "metaconnect-console",
                "MC_CONSOLE_OIDC_CLIENT_SECRET": "console-test-secret",
                "MC_CONSOLE_DEV_SIGN_IN": "true",
                "MC_CONSOLE_ADMINS": "first-admin@example.com",
                "MC_CONSOLE_TRACE_URL_TEMPLATE": "http://traces.example.test/trace/{trace_id}",
            }
            for name in SERVICES:
                port = self.ports.get(name) or free_port()  # nothing listens there without services
                console[f"MC_CONSOLE_{name.upper()}_URL"] = f"http://127.0.0.1:{port}"
            self._spawn("console", [sys.executable, "-m", "metaconnect_console"], common | console)
            for name in self.procs:
                self._wait_ready(name)
        except BaseException:
            self.stop()
            raise

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> None:
        self.procs[name] = spawn(command, log=self.workdir / f"{name}.log", env=env)

    def _wait_ready(self, name: str, timeout_s: float = 90.0) -> None:
        path = "/_sandbox/health" if name == "sandbox" else "/readyz"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.procs[name].poll() is not None:
                raise RuntimeError(f"{name} exited:\n{log_tail(self.workdir / f'{name}.log', 40)}")
            try:
                if httpx.get(f"{self.url(name)}{path}", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{name} not ready:\n{log_tail(self.workdir / f'{name}.log', 40)}")

    def log_text(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text(errors="replace")

    def logs(self) -> str:
        return "\n".join(f"--- {name} ---\n{log_tail(self.workdir / f'{name}.log', 30)}" for name in self.procs)

    def stop(self) -> None:
        for proc in reversed(list(self.procs.values())):
            stop(proc, timeout=20)
        self.procs.clear()
