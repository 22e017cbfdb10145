"""The `metaconnect` command: dev mode, migrations, tokens, API keys, routes as code, schemas, the provider sandbox."""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import signal
import time
from pathlib import Path
from types import FrameType
from typing import Annotated, NoReturn

import typer
from sqlalchemy.exc import DBAPIError

from metaconnect_cli import demo, routes_code, sandbox_tail
from metaconnect_cli.client import (
    DEFAULT_STATE_FILE,
    ApiProblem,
    IngestClient,
    RouterClient,
    load_state,
    resolve_ingest_url,
    resolve_operator_token,
    resolve_router_url,
    resolve_sandbox_url,
)
from metaconnect_cli.dev import DEFAULT_DATA_DIR, SERVICES, DevStack, StartupError, service_named, upgrade_databases
from metaconnect_cli.schema_compat import compatibility_problems
from metaconnect_common.auth import Role, issue_token
from metaconnect_common.schemas import export_json_schemas
from metaconnect_common.settings import DEV_JWT_SECRET, AuthSettings, DatabaseSettings
from metaconnect_sandbox.faults import Provider

app = typer.Typer(
    name="metaconnect",
    help="Metaconnect: run it locally, migrate it, operate it.",
    no_args_is_help=True,
    add_completion=False,
)
schemas_app = typer.Typer(help="Event schemas: one JSON Schema per Kafka topic.", no_args_is_help=True)
tokens_app = typer.Typer(help="Operator tokens for the management APIs.", no_args_is_help=True)
keys_app = typer.Typer(help="Channel API keys (ingest service, admin token).", no_args_is_help=True)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
routes_app = typer.Typer(help="Routes as code: YAML route files and the router (editor token).", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data for the dev stack: simulated customers and their traffic.", no_args_is_help=True)
sandbox_app = typer.Typer(
    help="The provider sandbox: what deliveries reached its fake providers.", no_args_is_help=True
)
app.add_typer(schemas_app, name="schemas")
app.add_typer(tokens_app, name="tokens")
app.add_typer(keys_app, name="keys")
app.add_typer(db_app, name="db")
app.add_typer(routes_app, name="routes")
app.add_typer(demo_app, name="demo")
app.add_typer(sandbox_app, name="sandbox")


def _fail(message: object, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _say(message: str) -> None:
    typer.echo(message, err=True)


# --- schemas -------------------------------------------------------------------------


@schemas_app.command("export")
def schemas_export(
    out: Annotated[Path | None, typer.Option(help="Write <topic>.json files here instead of printing.")] = None,
) -> None:
    """Print (or write) the JSON Schema of every topic's value."""
    schemas = export_json_schemas()
    if out is None:
        typer.echo(json.dumps(schemas, indent=2))
        return
    out.mkdir(parents=True, exist_ok=True)
    for topic, schema in schemas.items():
        (out / f"{topic}.json").write_text(json.dumps(schema, indent=2) + "\n")
        typer.echo(out / f"{topic}.json")


@schemas_app.command("check")
def schemas_check(
    against: Annotated[Path, typer.Option(help="Directory of stored <topic>.json schemas.")],
) -> None:
    """Fail when a current schema cannot read what a stored one allowed (backward compatibility)."""
    stored_files = sorted(against.glob("*.json"))
    if not stored_files:
        _fail(f"no stored schemas (*.json) in {against}", code=2)
    current = export_json_schemas()
    broken = False
    for path in stored_files:
        topic = path.stem
        if topic not in current:
            typer.echo(f"{topic}: topic schema removed")
            broken = True
            continue
        problems = compatibility_problems(json.loads(path.read_text()), current[topic])
        for problem in problems:
            typer.echo(f"{topic}: {problem}")
        broken = broken or bool(problems)
        if not problems:
            typer.echo(f"{topic}: backward compatible")
    for topic in sorted(set(current) - {p.stem for p in stored_files}):
        typer.echo(f"{topic}: new (not stored yet; run `metaconnect schemas export --out {against}`)")
    if broken:
        raise typer.Exit(1)


# --- tokens --------------------------------------------------------------------------


@tokens_app.command("issue")
def tokens_issue(
    role: Annotated[Role, typer.Option(help="What the token may do.", case_sensitive=False)],
    subject: Annotated[str | None, typer.Option(help="Who the token names (default: your user name).")] = None,
    ttl: Annotated[int | None, typer.Option(min=60, help="Lifetime in seconds (default MC_AUTH_TOKEN_TTL_S).")] = None,
) -> None:
    """Print one operator token signed with MC_AUTH_JWT_SECRET."""
    settings = AuthSettings()
    secret = settings.jwt_secret.get_secret_value()
    if secret == DEV_JWT_SECRET:
        if os.environ.get("MC_ENV", "").lower() == "production":
            _fail("MC_AUTH_JWT_SECRET is the development default; set the real secret", code=2)
        _say("warning: signed with the development secret; only development services accept it")
    elif len(secret) < 32:
        _fail("MC_AUTH_JWT_SECRET must be at least 32 characters", code=2)
    typer.echo(issue_token(settings, subject=subject or getpass.getuser(), role=role, ttl_s=ttl))


# --- keys ----------------------------------------------------------------------------

UrlOption = Annotated[
    str | None, typer.Option("--url", help="Ingest URL (default: MC_INGEST_URL, dev.json, http://127.0.0.1:8001).")
]
TokenOption = Annotated[
    str | None, typer.Option("--token", help="Admin token (default: MC_OPERATOR_TOKEN, dev.json, a local one).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _client(url: str | None, token: str | None) -> IngestClient:
    return IngestClient(resolve_ingest_url(url), resolve_operator_token(token))


def _scope(values: list[str]) -> str:
    return ",".join(values) or "all"


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(metavar="NAME", help="What the key is for, e.g. ios-app.")],
    channel: Annotated[list[str] | None, typer.Option(help="Allowed channel (repeat); none allows all.")] = None,
    event_type: Annotated[
        list[str] | None, typer.Option(help="Allowed event type or prefix like app.* (repeat); none allows all.")
    ] = None,
    rate: Annotated[float | None, typer.Option(help="Sustained events per second.")] = None,
    burst: Annotated[int | None, typer.Option(help="Events allowed in one burst.")] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a channel API key and print its secret (shown only this once)."""
    try:
        with _client(url, token) as client:
            key = client.create_key(name, channels=channel, event_types=event_type, rate_per_s=rate, burst=burst)
    except ApiProblem as problem:
        _fail(problem)
    if as_json:
        typer.echo(json.dumps(key, indent=2))
        return
    typer.echo(f"Created API key {key['name']} (id {key['id']})")
    typer.echo(f"  channels: {_scope(key['channels'])}  event types: {_scope(key['event_types'])}")
    typer.echo(f"  rate: {key['rate_per_s']:g}/s, burst {key['burst']}")
    typer.echo("Secret (shown once; store it now):")
    typer.echo(key["key"])


@keys_app.command("list")
def keys_list(
    show_all: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """List API keys (never their secrets)."""
    try:
        with _client(url, token) as client:
            keys = client.list_keys(include_revoked=show_all)
    except ApiProblem as problem:
        _fail(problem)
    if as_json:
        typer.echo(json.dumps(keys, indent=2))
        return
    header = ("ID", "NAME", "PREFIX", "CHANNELS", "EVENT TYPES", "RATE/S", "BURST", "CREATED", "REVOKED")
    rows = [
        (
            k["id"],
            k["name"],
            k["prefix"],
            _scope(k["channels"]),
            _scope(k["event_types"]),
            f"{k['rate_per_s']:g}",
            str(k["burst"]),
            k["created_at"][:19],
            (k["revoked_at"] or "-")[:19],
        )
        for k in keys
    ]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        typer.echo("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(metavar="ID", help="The key's id (see `keys list`).")],
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Revoke an API key; posts with it fail from then on."""
    try:
        with _client(url, token) as client:
            client.revoke_key(key_id)
    except ApiProblem as problem:
        _fail(problem)
    typer.echo(f"Revoked API key {key_id}")


# --- routes --------------------------------------------------------------------------

RouterUrlOption = Annotated[
    str | None, typer.Option("--url", help="Router URL (default: MC_ROUTER_URL, the dev stack, :8003).")
]
RoutesTarget = Annotated[Path, typer.Argument(metavar="FILE|DIR", help="A route file or a directory of them.")]


def _router(url: str | None, token: str | None) -> RouterClient:
    return RouterClient(resolve_router_url(url), resolve_operator_token(token))


def _route_files(target: Path) -> list[routes_code.RouteFile]:
    try:
        return routes_code.load(target)
    except routes_code.RouteFileError as exc:
        _fail(exc, code=2)


@routes_app.command("apply")
def routes_apply(target: RoutesTarget, url: RouterUrlOption = None, token: TokenOption = None) -> None:
    """Create or change the routes the files describe; unchanged routes get no new version."""
    files = _route_files(target)
    try:
        with _router(url, token) as client:
            routes_code.plans(client, files)  # every file checked before any is written
            for file in files:
                route, created = client.put_route(file.spec)
                state = "created" if created else f"now at version {route['version']}"
                typer.echo(f"{route['name']}: {state} ({file.path})")
    except ApiProblem as problem:
        _fail(problem)


@routes_app.command("diff")
def routes_diff(target: RoutesTarget, url: RouterUrlOption = None, token: TokenOption = None) -> None:
    """Show what `apply` would change; exit code 1 when it would change something."""
    files = _route_files(target)
    try:
        with _router(url, token) as client:
            found = routes_code.plans(client, files)
    except ApiProblem as problem:
        _fail(problem, code=2)
    changes = 0
    for plan in found:
        if plan["action"] == "none":
            typer.echo(f"{plan['name']}: unchanged (version {plan['current_version']})")
            continue
        changes += 1
        typer.echo(routes_code.diff(plan), nl=False)
    raise typer.Exit(1 if changes else 0)


@routes_app.command("export")
def routes_export(
    out: Annotated[Path | None, typer.Option(help="Write <name>.yaml files here instead of printing.")] = None,
    url: RouterUrlOption = None,
    token: TokenOption = None,
) -> None:
    """Print (or write) every route's current spec as YAML, ready for `apply`."""
    try:
        with _router(url, token) as client:
            exported = routes_code.export(client, out)
    except ApiProblem as problem:
        _fail(problem)
    if out is not None:
        for name, _ in exported:
            typer.echo(out / f"{name}.yaml")
        return
    typer.echo("---\n".join(text for _, text in exported), nl=False)


# --- demo ----------------------------------------------------------------------------


@demo_app.command("traffic")
def demo_traffic(
    customers: Annotated[int, typer.Option(min=1, help="Simulated customers (hidden colours).")] = 100,
    events: Annotated[int, typer.Option(min=0, help="app.opened events to post.")] = 1000,
    rate: Annotated[float, typer.Option(min=0.1, help="Events per second.")] = 50.0,
    settle: Annotated[float, typer.Option(min=0, help="Stop once deliveries were quiet this many seconds.")] = 15.0,
    timeout: Annotated[float, typer.Option(min=1, help="Stop after this many seconds at the latest.")] = 600.0,
    seed: Annotated[int, typer.Option(min=0, help="Same seed, same customers and draws.")] = 1,
    state_file: Annotated[Path, typer.Option(help="The dev stack's state.")] = DEFAULT_STATE_FILE,
    ingest_url: Annotated[str | None, typer.Option(help="Ingest URL (default: the dev stack's).")] = None,
    profile_url: Annotated[str | None, typer.Option(help="Profile service URL (default: the dev stack's).")] = None,
    router_url: Annotated[str | None, typer.Option(help="Router URL (default: the dev stack's).")] = None,
    api_key: Annotated[str | None, typer.Option(help="Channel API key (default: the dev stack's).")] = None,
    kafka: Annotated[str | None, typer.Option(help="Kafka bootstrap (default: the dev stack's).")] = None,
    token: Annotated[str | None, typer.Option(help="Editor or admin token (default: the dev stack's).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Simulated customers answer the colour form, open the app and answer deliveries; the router learns."""
    flags = {"ingest_url": ingest_url, "profile_url": profile_url, "router_url": router_url}
    flags |= {"api_key": api_key, "kafka": kafka, "token": token}
    plan = demo.TrafficPlan(
        customers=customers, events=events, rate=rate, settle_s=settle, timeout_s=timeout, seed=seed
    )
    try:
        summary = asyncio.run(demo.run_traffic(demo.resolve_target(state_file, **flags), plan, _say))
    except demo.DemoError as exc:
        _fail(exc, code=exc.exit_code)
    if as_json:
        typer.echo(json.dumps(summary.as_dict(), indent=2))
        return
    for line in summary.lines():
        typer.echo(line)


# --- sandbox -------------------------------------------------------------------------


@sandbox_app.command("tail")
def sandbox_tail_command(
    url: Annotated[
        str | None,
        typer.Option("--url", help="Sandbox URL (default: MC_SANDBOX_URL, the dev stack's, http://127.0.0.1:8025)."),
    ] = None,
    provider: Annotated[Provider | None, typer.Option(help="Only this provider's messages.")] = None,
    lines: Annotated[int, typer.Option("--lines", "-n", min=0, help="How many received so far to show (0: all).")] = 20,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Then print new ones as they arrive, until Ctrl-C.")
    ] = False,
) -> None:
    """Print what the fake providers received: time, provider, recipient, title, text."""
    try:
        with sandbox_tail.SandboxFeed(resolve_sandbox_url(url), provider=provider) as feed:
            received = feed.received()
            for message in received[-lines:] if lines else received:
                typer.echo(sandbox_tail.render(message))
            if not follow:
                if not received:
                    by = f" by {provider}" if provider else ""
                    _say(f"Nothing received yet{by} ({feed.url}).")
                return
            _say(f"Waiting for messages at {feed.url} (Ctrl-C stops).")
            for message in feed.follow(received):
                typer.echo(sandbox_tail.render(message))
    except sandbox_tail.SandboxProblem as exc:
        _fail(exc)
    except KeyboardInterrupt:
        return


# --- db ------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(
    service: Annotated[
        str, typer.Option(help=f"Which service's schema: {' | '.join(s.name for s in SERVICES)} | all.")
    ] = "all",
) -> None:
    """Apply migrations up to head. Database: MC_DATABASE_URL, else the dev stack's."""
    if service == "all":
        specs = list(SERVICES)
    else:
        try:
            specs = [service_named(service)]
        except KeyError:
            _fail(f"unknown service {service!r}; choose from {', '.join(s.name for s in SERVICES)} or all", code=2)
    state = load_state(DEFAULT_STATE_FILE)
    if os.environ.get("MC_DATABASE_URL") or state is None:
        url = DatabaseSettings().url.get_secret_value()
    else:
        url = state.database_url
    try:
        upgrade_databases(url, specs, say=_say)
    except (OSError, DBAPIError) as exc:
        _fail(f"migration failed: {exc}")
    _say("Database is up to date.")


# --- dev -----------------------------------------------------------------------------


class _Interrupted(Exception):
    pass


def _interrupt(signum: int, _: FrameType | None) -> None:
    # Stopping must not itself be interrupted half-way: later signals are ignored.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise _Interrupted(signal.Signals(signum).name)


@app.command()
def dev(
    data_dir: Annotated[Path, typer.Option(help="PostgreSQL data, logs.")] = DEFAULT_DATA_DIR,
    state_file: Annotated[Path, typer.Option(help="Where URLs and credentials are written.")] = DEFAULT_STATE_FILE,
    demo: Annotated[bool, typer.Option(help="Load demo data (a channel API key).")] = True,
    ingest_port: Annotated[
        int | None, typer.Option(envvar="MC_INGEST_PORT", show_default="8001", help="The ingest service's port.")
    ] = None,
    profile_port: Annotated[
        int | None, typer.Option(envvar="MC_PROFILE_PORT", show_default="8002", help="The profile service's port.")
    ] = None,
    router_port: Annotated[
        int | None, typer.Option(envvar="MC_ROUTER_PORT", show_default="8003", help="The router service's port.")
    ] = None,
    delivery_port: Annotated[
        int | None, typer.Option(envvar="MC_DELIVERY_PORT", show_default="8004", help="The delivery service's port.")
    ] = None,
    sandbox_port: Annotated[
        int | None,
        typer.Option(
            envvar="MC_SANDBOX_PORT", show_default="8025", help="The provider sandbox's HTTP port (its page)."
        ),
    ] = None,
    sandbox_smtp_port: Annotated[
        int | None, typer.Option(envvar="MC_SANDBOX_SMTP_PORT", show_default="2525", help="The sandbox's SMTP port.")
    ] = None,
    postgres_port: Annotated[int | None, typer.Option(show_default="a free port", help="Embedded PostgreSQL.")] = None,
    kafka_port: Annotated[int | None, typer.Option(show_default="a free port", help="Embedded broker.")] = None,
    ready_timeout: Annotated[float, typer.Option(help="Seconds each service may take to get ready.")] = 90.0,
) -> None:
    """Run everything locally until Ctrl-C: PostgreSQL, a Kafka-protocol broker, all services, the provider sandbox.

    Uses MC_DATABASE_URL / MC_KAFKA_BOOTSTRAP instead of the embedded servers when set.
    Delivery's providers are the sandbox's fakes, for every channel (MC_DELIVERY_PROVIDERS is not read).
    """
    chosen = {"ingest": ingest_port, "profile": profile_port, "router": router_port, "delivery": delivery_port}
    chosen |= {"sandbox": sandbox_port, "sandbox-smtp": sandbox_smtp_port}
    ports = {name: port for name, port in chosen.items() if port}
    stack = DevStack(
        data_dir=data_dir,
        state_file=state_file,
        ports=ports,
        demo=demo,
        database_url=os.environ.get("MC_DATABASE_URL") or None,
        kafka_bootstrap=os.environ.get("MC_KAFKA_BOOTSTRAP") or None,
        postgres_port=postgres_port,
        kafka_port=kafka_port,
        ready_timeout_s=ready_timeout,
        say=_say,
    )
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    code = 0
    try:
        stack.start()
        typer.echo(stack.banner())
        while (died := stack.poll()) is None:
            time.sleep(0.5)
        _say(f"error: {died}; stopping everything")
        code = 1
    except _Interrupted as signum:
        _say(f"{signum}: stopping everything")
    except (StartupError, ApiProblem) as exc:
        _say(f"error: {exc}")
        code = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
    _say("Stopped.")
    raise typer.Exit(code)


if __name__ == "__main__":
    app(prog_name="metaconnect")
