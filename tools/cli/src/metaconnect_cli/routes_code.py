"""Routes and journeys as code: YAML files applied to, compared with and exported from the router.

A file holds one spec, or several as YAML documents separated by `---`; a directory means
every `*.yaml` / `*.yml` file in it, in name order (read by `specs_code`). The router checks
every spec (`POST /v1/routes/plan`, `/v1/journeys/plan`) before any is written, so a broken file
changes nothing, and the errors it names are reported at the line of the file where the field is written.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from metaconnect_cli import specs_code
from metaconnect_cli.client import ApiProblem, RouterClient
from metaconnect_cli.specs_code import InvalidSpecs as InvalidRoutes
from metaconnect_cli.specs_code import SpecFile as RouteFile
from metaconnect_cli.specs_code import SpecFileError as RouteFileError
from metaconnect_cli.specs_code import dump, error_lines

__all__ = [
    "JOURNEYS",
    "ROUTES",
    "InvalidRoutes",
    "RouteFile",
    "RouteFileError",
    "RouterKind",
    "apply",
    "diff",
    "dump",
    "error_lines",
    "export",
    "load",
]


@dataclass(frozen=True)
class RouterKind:
    """A kind of spec the router keeps: its name and its API's path."""

    label: str
    path: str

    @property
    def plural(self) -> str:
        return self.path.rsplit("/", 1)[-1]


ROUTES = RouterKind("route", "/v1/routes")
JOURNEYS = RouterKind("journey", "/v1/journeys")


def load(target: Path, kind: RouterKind = ROUTES) -> list[RouteFile]:
    """The documents in a file or a directory's YAML files."""
    return specs_code.load(target, kind=kind.label)


_refused = specs_code.refused


def plans(client: RouterClient, files: list[RouteFile], kind: RouterKind = ROUTES) -> list[dict[str, Any]]:
    """What applying each file would do.

    Every file is checked; raises `InvalidRoutes` with the errors of all the invalid ones, and
    the router's `ApiProblem` for anything else.
    """
    found, refused = [], []
    for file in files:
        try:
            found.append(client.plan_spec(kind.path, file.spec))
        except ApiProblem as problem:
            if not _refused(problem):
                raise
            refused += error_lines(file, problem.body.errors)
    if refused:
        raise InvalidRoutes(refused)
    return found


def apply(client: RouterClient, files: list[RouteFile], kind: RouterKind = ROUTES) -> Iterator[str]:
    """Put every file's spec, once all are checked; yields one line per spec saying what changed.

    Putting a spec the router already has unchanged gives it no new version, so applying
    the same files again (dev mode does on every start) changes nothing.
    """
    plans(client, files, kind)  # every file checked before any is written
    for file in files:
        try:
            route, created = client.put_spec(kind.path, file.spec)
        except ApiProblem as problem:
            if not _refused(problem):
                raise
            raise InvalidRoutes(error_lines(file, problem.body.errors)) from None
        state = "created" if created else f"now at version {route['version']}"
        yield f"{route['name']}: {state} ({file.path})"


def diff(plan: dict[str, Any]) -> str:
    """A unified diff between the spec the router has and the one the file describes."""
    name = plan["name"]
    version = plan["current_version"]
    return specs_code.unified_diff(
        plan["current"],
        plan["proposed"],
        fromfile=f"router/{name}" + (f"@v{version}" if version else ""),
        tofile=f"file/{name}",
    )


def export(client: RouterClient, out: Path | None, kind: RouterKind = ROUTES) -> list[tuple[str, str]]:
    """Every current spec of the kind as YAML, by name; written to `out/<name>.yaml` when given."""
    exported = [(r["name"], dump(r["spec"])) for r in client.list_specs(kind.path)]
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for name, text in exported:
            (out / f"{name}.yaml").write_text(text)
    return exported
