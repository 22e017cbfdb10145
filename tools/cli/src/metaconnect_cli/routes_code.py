"""Routes as code: route files (YAML) applied to, compared with and exported from the router.

A file holds one route, or several as YAML documents separated by `---`; a directory
means every `*.yaml` / `*.yml` file in it, in name order. The router checks every spec
(`POST /v1/routes/plan`) before any is written, so a broken file changes nothing.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from metaconnect_cli.client import RouterClient


class RouteFileError(Exception):
    """A route file that cannot be read as YAML route documents."""


@dataclass(frozen=True)
class RouteFile:
    path: Path
    spec: dict[str, Any]


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
            documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        except (OSError, yaml.YAMLError) as exc:
            raise RouteFileError(f"{path}: {exc}") from None
        for document in documents:
            if not isinstance(document, dict):
                raise RouteFileError(f"{path}: a route is a mapping, not {type(document).__name__}")
            name = str(document.get("name", ""))
            if name in names:
                raise RouteFileError(f"{path}: route {name} is also defined in {names[name]}")
            names[name] = path
            out.append(RouteFile(path, document))
    return out


def dump(spec: dict[str, Any]) -> str:
    return yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)


def plans(client: RouterClient, files: list[RouteFile]) -> list[dict[str, Any]]:
    """What applying each file would do; raises the router's ApiProblem for the first invalid one."""
    return [client.plan_route(f.spec) for f in files]


def apply(client: RouterClient, files: list[RouteFile]) -> Iterator[str]:
    """Put every file's route, once all are checked; yields one line per route saying what changed.

    Putting a route the router already has unchanged gives it no new version, so applying
    the same files again (dev mode does on every start) changes nothing.
    """
    plans(client, files)  # every file checked before any is written
    for file in files:
        route, created = client.put_route(file.spec)
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
