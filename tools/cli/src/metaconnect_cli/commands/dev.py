"""`metaconnect dev`: the whole platform on this machine until Ctrl-C (the logic is `metaconnect_cli.dev`)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from metaconnect_cli.client import DEFAULT_STATE_FILE, ApiProblem
from metaconnect_cli.commands.common import say
from metaconnect_cli.dev import DEFAULT_DATA_DIR, EXAMPLE_ROUTES, DevStack, StartupError


class _Interrupted(Exception):
    pass


def _interrupt(signum: int, _: FrameType | None) -> None:
    # Stopping must not itself be interrupted half-way: later signals are ignored.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise _Interrupted(signal.Signals(signum).name)


def dev(
    data_dir: Annotated[Path, typer.Option(help="PostgreSQL data, logs.")] = DEFAULT_DATA_DIR,
    state_file: Annotated[Path, typer.Option(help="Where URLs and credentials are written.")] = DEFAULT_STATE_FILE,
    demo: Annotated[bool, typer.Option(help="Load demo data (a channel API key, the example routes).")] = True,
    routes: Annotated[
        Path, typer.Option(help="Example route files (routes-as-code YAML) applied at start, with --demo.")
    ] = EXAMPLE_ROUTES,
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
    console_port: Annotated[
        int | None, typer.Option(envvar="MC_CONSOLE_PORT", show_default="8000", help="The console's port.")
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
    """Run everything locally until Ctrl-C: PostgreSQL, a Kafka-protocol broker, all services, the console
    and the provider sandbox.

    Uses MC_DATABASE_URL / MC_KAFKA_BOOTSTRAP instead of the embedded servers when set.
    Delivery's providers are the sandbox's fakes, for every channel (MC_DELIVERY_PROVIDERS is not read).
    """
    chosen = {"ingest": ingest_port, "profile": profile_port, "router": router_port, "delivery": delivery_port}
    chosen |= {"console": console_port}
    chosen |= {"sandbox": sandbox_port, "sandbox-smtp": sandbox_smtp_port}
    ports = {name: port for name, port in chosen.items() if port}
    stack = DevStack(
        data_dir=data_dir,
        state_file=state_file,
        ports=ports,
        demo=demo,
        routes=routes,
        database_url=os.environ.get("MC_DATABASE_URL") or None,
        kafka_bootstrap=os.environ.get("MC_KAFKA_BOOTSTRAP") or None,
        postgres_port=postgres_port,
        kafka_port=kafka_port,
        ready_timeout_s=ready_timeout,
        say=say,
    )
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    code = 0
    try:
        stack.start()
        typer.echo(stack.banner())
        while (died := stack.poll()) is None:
            time.sleep(0.5)
        say(f"error: {died}; stopping everything")
        code = 1
    except _Interrupted as signum:
        say(f"{signum}: stopping everything")
    except (StartupError, ApiProblem) as exc:
        say(f"error: {exc}")
        code = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
    say("Stopped.")
    raise typer.Exit(code)
