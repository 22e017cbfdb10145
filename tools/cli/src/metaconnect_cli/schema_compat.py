"""Backward compatibility of event schemas: can new code read every record old code wrote?"""

from __future__ import annotations

from typing import Any

JsonNode = dict[str, Any]


def _resolve(node: JsonNode, root: JsonNode) -> JsonNode:
    while isinstance(ref := node.get("$ref"), str) and ref.startswith("#/$defs/"):
        node = root.get("$defs", {}).get(ref.removeprefix("#/$defs/"), {})
    return node


def _types(node: JsonNode, root: JsonNode) -> set[str]:
    """The JSON types a schema node admits; empty means anything."""
    node = _resolve(node, root)
    kind = node.get("type")
    if isinstance(kind, str):
        return {kind}
    if isinstance(kind, list):
        return set(kind)
    out: set[str] = set()
    for alternative in node.get("anyOf", []) + node.get("oneOf", []):
        alternative_types = _types(alternative, root)
        if not alternative_types:
            return set()
        out |= alternative_types
    return out


def _object_branch(node: JsonNode, root: JsonNode) -> JsonNode:
    """The alternative that describes an object (for `X | None` fields), else the node itself."""
    node = _resolve(node, root)
    for alternative in node.get("anyOf", []) + node.get("oneOf", []):
        if "properties" in (resolved := _resolve(alternative, root)):
            return resolved
    return node


def compatibility_problems(stored: JsonNode, current: JsonNode) -> list[str]:
    """Why `current` cannot read everything `stored` allowed: removed or newly required
    fields, narrowed types, removed enum values. Empty when backward compatible."""
    problems: list[str] = []
    seen: set[tuple[int, int]] = set()

    def walk(old: JsonNode, new: JsonNode, path: str) -> None:
        old, new = _object_branch(old, stored), _object_branch(new, current)
        if (id(old), id(new)) in seen:
            return
        seen.add((id(old), id(new)))
        where = path or "(root)"
        old_types, new_types = _types(old, stored), _types(new, current)
        if new_types and not old_types <= new_types:
            was = "/".join(sorted(old_types)) or "any"
            problems.append(f"{where}: type changed from {was} to {'/'.join(sorted(new_types))}")
        if "enum" in new and (lost := [v for v in old.get("enum", [None]) if v not in new["enum"]]):
            problems.append(f"{where}: enum values removed: {', '.join(map(str, lost))}")
        old_props, new_props = old.get("properties", {}), new.get("properties", {})
        for name, old_prop in old_props.items():
            field_path = f"{path}.{name}" if path else name
            if name not in new_props:
                problems.append(f"{field_path}: field removed")
            else:
                walk(old_prop, new_props[name], field_path)
        for name in sorted(set(new.get("required", [])) - set(old.get("required", []))):
            problems.append(f"{path + '.' if path else ''}{name}: newly required")
        if isinstance(old.get("items"), dict) and isinstance(new.get("items"), dict):
            walk(old["items"], new["items"], f"{path}[]")

    walk(stored, current, "")
    return problems
