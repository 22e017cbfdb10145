"""`metaconnect keys`: channel API keys, over the ingest service's admin API."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from metaconnect_cli.client import ApiProblem, IngestClient, resolve_ingest_url, resolve_operator_token
from metaconnect_cli.commands.common import JsonOption, TokenOption, fail

app = typer.Typer(help="Channel API keys (ingest service, admin token).", no_args_is_help=True)

UrlOption = Annotated[
    str | None, typer.Option("--url", help="Ingest URL (default: MC_INGEST_URL, dev.json, http://127.0.0.1:8001).")
]


def _client(url: str | None, token: str | None) -> IngestClient:
    return IngestClient(resolve_ingest_url(url), resolve_operator_token(token))


def _scope(values: list[str]) -> str:
    return ",".join(values) or "all"


@app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(metavar="NAME", help="What the key is for, e.g. ios-app.")],
    channel: Annotated[list[str] | None, typer.Option(help="Allowed channel (repeat); none allows all.")] = None,
    event_type: Annotated[
        list[str] | None, typer.Option(help="Allowed event type or prefix like app.* (repeat); none allows all.")
    ] = None,
    rate: Annotated[float | None, typer.Option(help="Sustained events per second.")] = None,
    burst: Annotated[int | None, typer.Option(help="Events allowed in one burst.")] = None,
    scope: Annotated[
        list[str] | None,
        typer.Option(help="What the key may do (repeat): events (post interactions), inbox (mint inbox tokens)."),
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a channel API key and print its secret (shown only this once); it posts events unless
    --scope says otherwise."""
    try:
        with _client(url, token) as client:
            key = client.create_key(
                name, channels=channel, event_types=event_type, rate_per_s=rate, burst=burst, scopes=scope
            )
    except ApiProblem as problem:
        fail(problem)
    if as_json:
        typer.echo(json.dumps(key, indent=2))
        return
    typer.echo(f"Created API key {key['name']} (id {key['id']})")
    typer.echo(f"  scopes: {','.join(key['scopes'])}")
    if "events" in key["scopes"]:  # what it may post
        typer.echo(f"  channels: {_scope(key['channels'])}  event types: {_scope(key['event_types'])}")
        typer.echo(f"  rate: {key['rate_per_s']:g}/s, burst {key['burst']}")
    typer.echo("Secret (shown once; store it now):")
    typer.echo(key["key"])


@app.command("list")
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
        fail(problem)
    if as_json:
        typer.echo(json.dumps(keys, indent=2))
        return
    header = ("ID", "NAME", "PREFIX", "SCOPES", "CHANNELS", "EVENT TYPES", "RATE/S", "BURST", "CREATED", "REVOKED")
    rows = [
        (
            k["id"],
            k["name"],
            k["prefix"],
            ",".join(k["scopes"]),
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


@app.command("revoke")
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
        fail(problem)
    typer.echo(f"Revoked API key {key_id}")
