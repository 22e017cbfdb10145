"""Specs as code, whatever the spec (routes, the lifecycle, journeys): YAML files read with the
line of every field, the API's refusals reported at those lines, and diffs between what a
service has and what a file describes.

A file holds one spec, or several as YAML documents separated by `---`; a directory means
every `*.yaml` / `*.yml` file in it, in name order.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from metaconnect_cli.client import ApiProblem
from metaconnect_common.errors import FieldError


class SpecFileError(Exception):
    """A file that cannot be read as YAML spec documents."""


@dataclass(frozen=True)
class SpecFile:
    """One spec document: its file, the spec it holds, and the YAML node it was read from."""

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


class InvalidSpecs(Exception):
    """The service refused spec files; one line per error, `file:line: field: rule: message`."""

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


def load(target: Path, *, kind: str) -> list[SpecFile]:
    """The `kind` documents (a route, a lifecycle) in a file or a directory's YAML files; their names unique."""
    if target.is_dir():
        paths = sorted(p for p in target.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        if not paths:
            raise SpecFileError(f"{target}: no *.yaml or *.yml files")
    elif target.is_file():
        paths = [target]
    else:
        raise SpecFileError(f"{target}: no such file or directory")
    out: list[SpecFile] = []
    names: dict[str, Path] = {}
    for path in paths:
        try:
            documents = [(n, d) for n, d in _documents(path.read_text()) if d is not None]
        except (OSError, yaml.YAMLError) as exc:
            raise SpecFileError(f"{path}: {exc}") from None
        for node, document in documents:
            if not isinstance(document, dict):
                raise SpecFileError(f"{path}: a {kind} is a mapping, not {type(document).__name__}")
            name = str(document.get("name", ""))
            if name in names:
                raise SpecFileError(f"{path}: {kind} {name} is also defined in {names[name]}")
            names[name] = path
            out.append(SpecFile(path, document, node))
    return out


def dump(spec: dict[str, Any]) -> str:
    return yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)


def error_lines(file: SpecFile, errors: list[FieldError]) -> list[str]:
    """One `file:line: field: rule: message` line per error, fields relative to the spec."""
    return [f"{file.path}:{file.line_of(e.field)}: {e.field}: {e.rule}: {e.message}" for e in errors]


def refused(problem: ApiProblem) -> bool:
    """Whether the service refused the spec itself, naming its fields (else the call failed)."""
    return problem.status == 422 and bool(problem.body.errors)


def unified_diff(current: dict[str, Any] | None, proposed: dict[str, Any], *, fromfile: str, tofile: str) -> str:
    """A unified diff between two specs as YAML (empty when they are the same). Keys are sorted on
    both sides: the order a file writes them in changes nothing, so it shows nothing."""

    def lines(spec: dict[str, Any]) -> list[str]:
        return yaml.safe_dump(spec, sort_keys=True, allow_unicode=True).splitlines(keepends=True)

    return "".join(difflib.unified_diff(lines(current) if current else [], lines(proposed), fromfile, tofile))
