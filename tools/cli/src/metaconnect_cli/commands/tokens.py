"""`metaconnect tokens`: operator tokens for the management APIs."""

from __future__ import annotations

import getpass
import os
from typing import Annotated

import typer

from metaconnect_cli.client import load_state
from metaconnect_cli.commands.common import fail, say
from metaconnect_cli.dev import console_sign_in_url
from metaconnect_common.auth import Role, issue_token
from metaconnect_common.settings import DEV_JWT_SECRET, AuthSettings

app = typer.Typer(help="Operator tokens for the management APIs.", no_args_is_help=True)


@app.command("issue")
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
            fail("MC_AUTH_JWT_SECRET is the development default; set the real secret", code=2)
        say("warning: signed with the development secret; only development services accept it")
    elif len(secret) < 32:
        fail("MC_AUTH_JWT_SECRET must be at least 32 characters", code=2)
    typer.echo(issue_token(settings, subject=subject or getpass.getuser(), role=role, ttl_s=ttl))


@app.command("sign-in-link")
def tokens_sign_in_link(
    console: Annotated[
        str | None, typer.Option(help="The console's URL (default: the dev stack's, else http://127.0.0.1:8000).")
    ] = None,
    role: Annotated[Role, typer.Option(help="The role to sign in with.", case_sensitive=False)] = Role.ADMIN,
) -> None:
    """Print a one-time link that signs in to a console with dev sign-in on (`metaconnect dev`)."""
    settings = AuthSettings()
    state = load_state()
    url = console or (state.services.get("console") if state else None) or "http://127.0.0.1:8000"
    typer.echo(console_sign_in_url(url.rstrip("/"), settings, role=role))
