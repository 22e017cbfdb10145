"""`metaconnect sandbox`: what deliveries reached the provider sandbox's fake providers."""

from __future__ import annotations

from typing import Annotated

import typer

from metaconnect_cli import sandbox_tail
from metaconnect_cli.client import resolve_sandbox_url
from metaconnect_cli.commands.common import fail, say
from metaconnect_sandbox.faults import Provider

app = typer.Typer(help="The provider sandbox: what deliveries reached its fake providers.", no_args_is_help=True)


@app.command("tail")
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
                    say(f"Nothing received yet{by} ({feed.url}).")
                return
            say(f"Waiting for messages at {feed.url} (Ctrl-C stops).")
            for message in feed.follow(received):
                typer.echo(sandbox_tail.render(message))
    except sandbox_tail.SandboxProblem as exc:
        fail(exc)
    except KeyboardInterrupt:
        return
