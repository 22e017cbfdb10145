"""`metaconnect db`: database migrations, each service's schema up to head."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from sqlalchemy.exc import DBAPIError

from metaconnect_cli.client import DEFAULT_STATE_FILE, load_state
from metaconnect_cli.commands.common import fail, say
from metaconnect_cli.services import SERVICES, service_named, upgrade_databases
from metaconnect_common.settings import DatabaseSettings

app = typer.Typer(help="Database migrations.", no_args_is_help=True)


@app.command("upgrade")
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
            fail(f"unknown service {service!r}; choose from {', '.join(s.name for s in SERVICES)} or all", code=2)
    state = load_state(DEFAULT_STATE_FILE)
    if os.environ.get("MC_DATABASE_URL") or state is None:
        url = DatabaseSettings().url.get_secret_value()
    else:
        url = state.database_url
    try:
        upgrade_databases(url, specs, say=say)
    except (OSError, DBAPIError) as exc:
        fail(f"migration failed: {exc}")
    say("Database is up to date.")
