"""Specs as YAML, and the line diff between two versions (pure)."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from metaconnect_console.routes.form import CHANNELS, DEFAULT_LOCALE, TONES


def spec_yaml(spec: Mapping[str, Any] | None) -> str:
    """The spec as a person reads and edits it: keys in the spec's order, text unescaped, and
    without the empty values the router stores for unset fields (the router reads them back as
    the same defaults)."""
    if spec is None:
        return ""
    return yaml.safe_dump(in_reading_order(pruned(spec)), sort_keys=False, allow_unicode=True, width=100)


def in_reading_order(spec: dict[str, Any]) -> dict[str, Any]:
    """Variants by tone (neutral first, then by colour), channel (mobile first) and locale (`en`
    first). The router stores them as PostgreSQL's JSONB orders keys (shortest first), so without
    this two equal routes could read, and diff, differently."""
    messages = spec.get("messages")
    if not isinstance(messages, list):
        return spec
    ordered = []
    for message in messages:
        variants = message.get("variants") if isinstance(message, dict) else None
        if isinstance(variants, dict):
            message = {
                **message,
                "variants": {
                    tone: {
                        channel: dict(sorted(by_locale.items(), key=lambda kv: (kv[0] != DEFAULT_LOCALE, kv[0])))
                        if isinstance(by_locale, dict)
                        else by_locale
                        for channel, by_locale in _sorted(by_channel, CHANNELS)
                    }
                    if isinstance(by_channel, dict)
                    else by_channel
                    for tone, by_channel in _sorted(variants, TONES)
                },
            }
        ordered.append(message)
    return {**spec, "messages": ordered}


def _sorted(mapping: dict[str, Any], order: tuple[str, ...]) -> list[tuple[str, Any]]:
    return sorted(mapping.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else len(order), kv[0]))


def pruned(value: Any) -> Any:
    """`value` without None, empty strings, lists and mappings, at any depth."""
    if isinstance(value, Mapping):
        kept = {k: pruned(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if not _empty(v)}
    if isinstance(value, list):
        return [pruned(v) for v in value]
    return value


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | dict) and not value)


class YamlProblem(Exception):
    """The text is not YAML of one mapping; `message` says where."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def parse_spec_yaml(text: str) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise YamlProblem(f"{where}{getattr(exc, 'problem', None) or 'not YAML'}") from None
    if not isinstance(loaded, dict):
        raise YamlProblem("a route is a mapping (name, trigger, messages, policy)")
    return loaded


@dataclass(frozen=True)
class DiffLine:
    kind: Literal["same", "add", "del", "gap"]
    text: str


def diff_lines(old: str, new: str, *, context: int = 3) -> list[DiffLine]:
    """`new` against `old` line by line: unchanged lines near a change, additions, removals, and
    a gap where unchanged lines are left out."""
    if old.splitlines() == new.splitlines():
        return []
    lines: list[DiffLine] = []
    for tag, a1, a2, b1, b2 in _grouped(old.splitlines(), new.splitlines(), context):
        if tag == "gap":
            lines.append(DiffLine("gap", "…"))
            continue
        old_lines, new_lines = old.splitlines()[a1:a2], new.splitlines()[b1:b2]
        if tag == "equal":
            lines += [DiffLine("same", line) for line in old_lines]
        else:
            lines += [DiffLine("del", line) for line in old_lines]
            lines += [DiffLine("add", line) for line in new_lines]
    return lines


def _grouped(old: list[str], new: list[str], context: int) -> list[tuple[str, int, int, int, int]]:
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    out: list[tuple[str, int, int, int, int]] = []
    for number, group in enumerate(matcher.get_grouped_opcodes(context)):
        if number or (group and (group[0][1] > 0 or group[0][3] > 0)):
            out.append(("gap", 0, 0, 0, 0))
        out += group
    if out and (out[-1][2] < len(old) or out[-1][4] < len(new)):
        out.append(("gap", 0, 0, 0, 0))
    return out
