"""The `metaconnect` command: dev mode, migrations, tokens, API keys, routes, journeys and the lifecycle as code,
simulated decisions, schemas, the provider sandbox.

Each group of sub-commands is a module of `metaconnect_cli.commands`; this one only assembles them.
"""

from __future__ import annotations

import typer

from metaconnect_cli.commands import db, demo, dev, keys, lifecycle, routes, sandbox, schemas, simulate, tokens

app = typer.Typer(
    name="metaconnect",
    help="Metaconnect: run it locally, migrate it, operate it.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(schemas.app, name="schemas")
app.add_typer(tokens.app, name="tokens")
app.add_typer(keys.app, name="keys")
app.add_typer(db.app, name="db")
app.add_typer(routes.app, name="routes")
app.add_typer(routes.journeys_app, name="journeys")
app.add_typer(lifecycle.app, name="lifecycle")
app.add_typer(demo.app, name="demo")
app.add_typer(sandbox.app, name="sandbox")
app.command()(dev.dev)
app.command()(simulate.simulate)


if __name__ == "__main__":
    app(prog_name="metaconnect")
