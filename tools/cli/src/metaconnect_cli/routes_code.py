"""Routes as code: route files (YAML) applied to, compared with and exported from the router.

A file holds one route, or several as YAML documents separated by `---`; a directory
means every `*.yaml` / `*.yml` file in it, in name order. The router checks every spec
(`POST /v1/routes/plan`) before any is written, so a broken file changes nothing, and the
errors it names are reported at the line of the file where the field is written.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from metaconnect_cli.client import ApiProblem, RouterClient
from metaconnect_common.errors import FieldError


class RouteFileError(Exception):
    """A route file that cannot be read as YAML route documents."""


@dataclass(frozen=True)
class RouteFile:
    """One route document: its file, the spec it holds, and the YAML node it was read from."""

    path: Path
    spec: dict[str, Any]
    node: yaml.Node | None = field(default=None, compare=False, repr=False)

    def line_of(self, dotted: str) -> int:
        """The line (from 1) where a field given as a dotted path (`messages.0.variants.red`) is
        written: its key, or its item in a list; for a field the file lacks, its nearest parent's."""
        node = self.node
        if node is None:
            return 1
        line = node.start_mark.line
        for segment in dotted.split("."):
            if isinstance(node, yaml.MappingNode):
                found = [(k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == segment]
                if not found:
                    break
                key, node = found[0]
                line = key.start_mark.line
            elif isinstance(node, yaml.SequenceNode) and segment.isdigit() and int(segment) < len(node.value):
                node = node.value[int(segment)]
                line = node.start_mark.line
            else:
                break
        return line + 1


class InvalidRoutes(Exception):
    """The router refused route files; one line per error, `file:line: field: rule: message`."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def _documents(text: str) -> Iterator[tuple[yaml.Node, Any]]:
    """Each YAML document's node (for its lines) and value, as `yaml.safe_load_all` reads them."""
    loader = yaml.SafeLoader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                yield node, loader.construct_document(node)
    finally:
        loader.dispose()


def load(target: Path) -> list[RouteFile]:
    """The route documents in a file or a directory's YAML files."""
    if target.is_dir():
        paths = sorted(p for p in target.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        if not paths:
            raise RouteFileError(f"{target}: no *.yaml or *.yml files")
    elif target.is_file():
        paths = [target]
    else:
        raise RouteFileError(f"{target}: no such file or directory")
    out: list[RouteFile] = []
    names: dict[str, Path] = {}
    for path in paths:
        try:
            documents = [(n, d) for n, d in _documents(path.read_text()) if d is not None]
        except (OSError, yaml.YAMLError) as exc:
            raise RouteFileError(f"{path}: {exc}") from None
        for node, document in documents:
            if not isinstance(document, dict):
                raise RouteFileError(f"{path}: a route is a mapping, not {type(document).__name__}")
            name = str(document.get("name", ""))
            if name in names:
                raise RouteFileError(f"{path}: route {name} is also defined in {names[name]}")
            names[name] = path
            out.append(RouteFile(path, document, node))
    return out


def dump(spec: dict[str, Any]) -> str:
    return yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)


def error_lines(file: RouteFile, errors: list[FieldError]) -> list[str]:
    """One `file:line: field: rule: message` line per error, fields relative to the route spec."""
    return [f"{file.path}:{file.line_of(e.field)}: {e.field}: {e.rule}: {e.message}" for e in errors]


def _refused(problem: ApiProblem) -> bool:
    """Whether the router refused the spec itself, naming its fields (else the call failed)."""
    return problem.status == 422 and bool(problem.body.errors)


def plans(client: RouterClient, files: list[RouteFile]) -> list[dict[str, Any]]:
    """What applying each file would do.

    Every file is checked; raises `InvalidRoutes` with the errors of all the invalid ones, and
    the router's `ApiProblem` for anything else.
    """
    found, refused = [], []
    for file in files:
        try:
            found.append(client.plan_route(file.spec))
        except ApiProblem as problem:
            if not _refused(problem):
                raise
            refused += error_lines(file, problem.body.errors)
    if refused:
        raise InvalidRoutes(refused)
    return found


def apply(client: RouterClient, files: list[RouteFile]) -> Iterator[str]:
    """Put every file's route, once all are checked; yields one line per route saying what changed.

    Putting a route the router already has unchanged gives it no new version, so applying
    the same files again (dev mode does on every start) changes nothing.
    """
    plans(client, files)  # every file checked before any is written
    for file in files:
        try:
            route, created = client.put_route(file.spec)
        except ApiProblem as problem:
            if not _refused(problem):
                raise
            raise InvalidRoutes(error_lines(file, problem.body.errors)) from None
        state = "created" if created else f"now at version {route['version']}"
        yield f"{route['name']}: {state} ({file.path})"


def diff(plan: dict[str, Any]) -> str:
    """A unified diff between the route the router has and the one the file describes."""
    current = dump(plan["current"]).splitlines(keepends=True) if plan["current"] else []
    proposed = dump(plan["proposed"]).splitlines(keepends=True)
    name = plan["name"]
    version = plan["current_version"]
    return "".join(
        difflib.unified_diff(
            current, proposed, fromfile=f"router/{name}" + (f"@v{version}" if version else ""), tofile=f"file/{name}"
        )
    )


def export(client: RouterClient, out: Path | None) -> list[tuple[str, str]]:
    """Every route's current spec as YAML, by name; written to `out/<name>.yaml` when given."""
    exported = [(r["name"], dump(r["spec"])) for r in client.list_routes()]
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for name, text in exported:
            (out / f"{name}.yaml").write_text(text)
    return exported
