"""`metaconnect routes`: routes as code (YAML files) applied to, compared with and exported from the router."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer

from metaconnect_cli import routes_code
from metaconnect_cli.client import ApiProblem, RouterClient, resolve_operator_token, resolve_router_url
from metaconnect_cli.commands.common import TokenOption, fail

app = typer.Typer(help="Routes as code: YAML route files and the router (editor token).", no_args_is_help=True)

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
        fail(exc, code=2)


def _refused(invalid: routes_code.InvalidRoutes, *, code: int) -> NoReturn:
    """The router's errors, one `file:line: field: rule: message` line each (as a compiler's)."""
    for line in invalid.lines:
        typer.echo(line, err=True)
    fail(f"the router refused the route files: {len(invalid.lines)} error(s)", code=code)


@app.command("apply")
def routes_apply(target: RoutesTarget, url: RouterUrlOption = None, token: TokenOption = None) -> None:
    """Create or change the routes the files describe; unchanged routes get no new version."""
    files = _route_files(target)
    try:
        with _router(url, token) as client:
            for line in routes_code.apply(client, files):
                typer.echo(line)
    except routes_code.InvalidRoutes as invalid:
        _refused(invalid, code=1)
    except ApiProblem as problem:
        fail(problem)


@app.command("plan")
def routes_plan(target: RoutesTarget, url: RouterUrlOption = None, token: TokenOption = None) -> None:
    """Show what `apply` would do, as a diff per route (the router's `POST /v1/routes/plan`).

    Exit code 0 when nothing would change, 1 when something would, 2 when a file is invalid.
    """
    files = _route_files(target)
    try:
        with _router(url, token) as client:
            found = routes_code.plans(client, files)
    except routes_code.InvalidRoutes as invalid:
        _refused(invalid, code=2)
    except ApiProblem as problem:
        fail(problem, code=2)
    changes = 0
    for plan in found:
        if plan["action"] == "none":
            typer.echo(f"{plan['name']}: unchanged (version {plan['current_version']})")
            continue
        changes += 1
        typer.echo(routes_code.diff(plan), nl=False)
    raise typer.Exit(1 if changes else 0)


@app.command("export")
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
        fail(problem)
    if out is not None:
        for name, _ in exported:
            typer.echo(out / f"{name}.yaml")
        return
    typer.echo("---\n".join(text for _, text in exported), nl=False)
