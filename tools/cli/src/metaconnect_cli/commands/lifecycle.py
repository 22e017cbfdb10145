"""`metaconnect lifecycle`: the deployment's lifecycle as code (one YAML file) and the profile service."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer

from metaconnect_cli import lifecycle_code
from metaconnect_cli.client import ApiProblem, ProfileClient, resolve_operator_token, resolve_profile_url
from metaconnect_cli.commands.common import TokenOption, fail
from metaconnect_cli.specs_code import InvalidSpecs, SpecFile, SpecFileError

app = typer.Typer(
    help="The lifecycle as code: a YAML file and the profile service (editor token).", no_args_is_help=True
)

ProfileUrlOption = Annotated[
    str | None, typer.Option("--url", help="Profile service URL (default: MC_PROFILE_URL, the dev stack, :8002).")
]
LifecycleFile = Annotated[Path, typer.Argument(metavar="FILE", help="A lifecycle file (YAML).")]


def _profile(url: str | None, token: str | None) -> ProfileClient:
    return ProfileClient(resolve_profile_url(url), resolve_operator_token(token))


def _file(path: Path) -> SpecFile:
    try:
        return lifecycle_code.load(path)
    except SpecFileError as exc:
        fail(exc, code=2)


def _refused(invalid: InvalidSpecs, *, code: int) -> NoReturn:
    for line in invalid.lines:
        typer.echo(line, err=True)
    fail(f"the profile service refused the lifecycle: {len(invalid.lines)} error(s)", code=code)


@app.command("apply")
def lifecycle_apply(path: LifecycleFile, url: ProfileUrlOption = None, token: TokenOption = None) -> None:
    """Make the file's lifecycle the current one; an unchanged lifecycle gets no new version."""
    file = _file(path)
    try:
        with _profile(url, token) as client:
            typer.echo(lifecycle_code.apply(client, file))
    except InvalidSpecs as invalid:
        _refused(invalid, code=1)
    except ApiProblem as problem:
        fail(problem)


def _plan(path: Path, url: str | None, token: str | None) -> dict[str, object]:
    file = _file(path)
    try:
        with _profile(url, token) as client:
            return lifecycle_code.plan(client, file)
    except InvalidSpecs as invalid:
        _refused(invalid, code=2)
    except ApiProblem as problem:
        fail(problem, code=2)


@app.command("plan")
def lifecycle_plan(path: LifecycleFile, url: ProfileUrlOption = None, token: TokenOption = None) -> None:
    """Show what `apply` would do: the action, the diff, and customers in stages the file drops.

    Exit code 0 when nothing would change, 1 when something would, 2 when the file is invalid.
    """
    found = _plan(path, url, token)
    if found["action"] == "none":
        typer.echo(f"lifecycle: unchanged (version {found['current_version']})")
        raise typer.Exit(0)
    typer.echo(f"lifecycle: {found['action']} (from version {found['current_version']})")
    typer.echo(lifecycle_code.diff(found), nl=False)
    for line in lifecycle_code.stranded(found):
        typer.echo(line)
    raise typer.Exit(1)


@app.command("diff")
def lifecycle_diff(path: LifecycleFile, url: ProfileUrlOption = None, token: TokenOption = None) -> None:
    """Print only the diff between the service's lifecycle and the file (exit code 1 when they differ)."""
    text = lifecycle_code.diff(_plan(path, url, token))
    typer.echo(text, nl=False)
    raise typer.Exit(1 if text else 0)


@app.command("export")
def lifecycle_export(
    out: Annotated[Path | None, typer.Option(help="Write the YAML to this file instead of printing it.")] = None,
    url: ProfileUrlOption = None,
    token: TokenOption = None,
) -> None:
    """Print (or write) the current lifecycle as YAML, ready for `apply`."""
    try:
        with _profile(url, token) as client:
            text = lifecycle_code.export(client)
    except ApiProblem as problem:
        fail(problem)
    if out is not None:
        out.write_text(text)
        typer.echo(out)
        return
    typer.echo(text, nl=False)
