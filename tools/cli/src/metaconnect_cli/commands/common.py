"""What every command group shares: how errors and progress are printed, the common options."""

from __future__ import annotations

from typing import Annotated, NoReturn

import typer


def fail(message: object, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def say(message: str) -> None:
    typer.echo(message, err=True)


TokenOption = Annotated[
    str | None, typer.Option("--token", help="Admin token (default: MC_OPERATOR_TOKEN, dev.json, a local one).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
