"""`metaconnect routes` and `metaconnect journeys`: routes and journeys as code (YAML files)
applied to, compared with and exported from the router."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer

from metaconnect_cli import routes_code
from metaconnect_cli.client import ApiProblem, RouterClient, resolve_operator_token, resolve_router_url
from metaconnect_cli.commands.common import TokenOption, fail
from metaconnect_cli.routes_code import JOURNEYS, ROUTES, RouterKind

RouterUrlOption = Annotated[
    str | None, typer.Option("--url", help="Router URL (default: MC_ROUTER_URL, the dev stack, :8003).")
]
Target = Annotated[Path, typer.Argument(metavar="FILE|DIR", help="A YAML file or a directory of them.")]


def _router(url: str | None, token: str | None) -> RouterClient:
    return RouterClient(resolve_router_url(url), resolve_operator_token(token))


def router_specs_app(kind: RouterKind, help_text: str) -> typer.Typer:
    """apply, plan, diff and export for one kind of the router's specs."""
    app = typer.Typer(help=help_text, no_args_is_help=True)

    def files_of(target: Path) -> list[routes_code.RouteFile]:
        try:
            return routes_code.load(target, kind)
        except routes_code.RouteFileError as exc:
            fail(exc, code=2)

    def refused(invalid: routes_code.InvalidRoutes, *, code: int) -> NoReturn:
        """The router's errors, one `file:line: field: rule: message` line each (as a compiler's)."""
        for line in invalid.lines:
            typer.echo(line, err=True)
        fail(f"the router refused the {kind.label} files: {len(invalid.lines)} error(s)", code=code)

    def plans(target: Path, url: str | None, token: str | None) -> list[dict[str, object]]:
        files = files_of(target)
        try:
            with _router(url, token) as client:
                return routes_code.plans(client, files, kind)
        except routes_code.InvalidRoutes as invalid:
            refused(invalid, code=2)
        except ApiProblem as problem:
            fail(problem, code=2)

    @app.command("apply")
    def apply(target: Target, url: RouterUrlOption = None, token: TokenOption = None) -> None:
        """Create or change what the files describe; unchanged ones get no new version."""
        files = files_of(target)
        try:
            with _router(url, token) as client:
                for line in routes_code.apply(client, files, kind):
                    typer.echo(line)
        except routes_code.InvalidRoutes as invalid:
            refused(invalid, code=1)
        except ApiProblem as problem:
            fail(problem)

    @app.command("plan")
    def plan(target: Target, url: RouterUrlOption = None, token: TokenOption = None) -> None:
        """Show what `apply` would do, as a diff per spec (the router's `POST .../plan`).

        Exit code 0 when nothing would change, 1 when something would, 2 when a file is invalid.
        """
        changes = 0
        for found in plans(target, url, token):
            if found["action"] == "none":
                typer.echo(f"{found['name']}: unchanged (version {found['current_version']})")
                continue
            changes += 1
            typer.echo(routes_code.diff(found), nl=False)
        raise typer.Exit(1 if changes else 0)

    @app.command("diff")
    def diff(target: Target, url: RouterUrlOption = None, token: TokenOption = None) -> None:
        """Only the differences between the router and the files. Exit code 0: none, 1: some, 2: invalid."""
        changed = [found for found in plans(target, url, token) if found["action"] != "none"]
        for found in changed:
            typer.echo(routes_code.diff(found), nl=False)
        raise typer.Exit(1 if changed else 0)

    @app.command("export")
    def export(
        out: Annotated[Path | None, typer.Option(help="Write <name>.yaml files here instead of printing.")] = None,
        url: RouterUrlOption = None,
        token: TokenOption = None,
    ) -> None:
        """Print (or write) every current spec as YAML, ready for `apply`."""
        try:
            with _router(url, token) as client:
                exported = routes_code.export(client, out, kind)
        except ApiProblem as problem:
            fail(problem)
        if out is not None:
            for name, _ in exported:
                typer.echo(out / f"{name}.yaml")
            return
        typer.echo("---\n".join(text for _, text in exported), nl=False)

    return app


app = router_specs_app(ROUTES, "Routes as code: YAML route files and the router (editor token).")
journeys_app = router_specs_app(
    JOURNEYS, "Journeys as code: YAML journey files and the router (editor token); docs/journeys.md."
)
