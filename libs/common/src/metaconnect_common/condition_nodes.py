"""What a parsed route condition is made of, and how it holds for an event and a profile:
plain nodes over plain dicts, built by `conditions.parse_condition`; nothing here raises."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, NamedTuple, Protocol

LiteralValue = str | int | float | bool | None
"""What a condition compares with: a string, a number, true, false or null."""

ORDERINGS: Final = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


class Facts(NamedTuple):
    event: Mapping[str, Any]
    profile: Mapping[str, Any]
    now: datetime

    def lookup(self, path: tuple[str, ...]) -> Any:
        value: Any = self.event if path[0] == "event" else self.profile
        for key in path[1:]:
            # Only mapping lookups: a condition never reaches attributes of Python objects.
            if not isinstance(value, Mapping):
                return _MISSING
            value = value.get(key, _MISSING)
        return value


_MISSING: Final = object()


class Node(Protocol):
    def holds(self, facts: Facts) -> bool: ...


@dataclass(frozen=True, slots=True)
class Test:
    """A leaf: a predicate on one field's value. A missing field fails every test."""

    path: tuple[str, ...]
    predicate: Callable[[Any, datetime], bool]

    def holds(self, facts: Facts) -> bool:
        value = facts.lookup(self.path)
        return value is not _MISSING and self.predicate(value, facts.now)


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node

    def holds(self, facts: Facts) -> bool:
        return not self.operand.holds(facts)


@dataclass(frozen=True, slots=True)
class Junction:
    operands: tuple[Node, ...]
    every: bool  # `and` when true, `or` when false

    def holds(self, facts: Facts) -> bool:
        return (all if self.every else any)(operand.holds(facts) for operand in self.operands)


def compare(op: str, literal: LiteralValue, value: Any, now: datetime) -> bool:
    if op in ("==", "!="):
        return comparable(value, literal) and (value == literal) == (op == "==")
    if isinstance(literal, int | float | str) and kind(value) == kind(literal):
        return bool(ORDERINGS[op](value, literal))
    return False


def member(items: tuple[LiteralValue, ...], negated: bool, value: Any, now: datetime) -> bool:
    candidates = [item for item in items if comparable(value, item)]
    return bool(candidates) and any(value == item for item in candidates) != negated


def has_value(value: Any, now: datetime) -> bool:
    return value is not None and not (isinstance(value, Mapping | list) and not value)


def within(window: timedelta, value: Any, now: datetime) -> bool:
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        if not isinstance(moment, datetime) or moment.utcoffset() is None:
            return False
        return timedelta(0) <= now - moment <= window
    except (ValueError, TypeError, OverflowError):
        return False


def comparable(value: Any, literal: LiteralValue) -> bool:
    """A value compares with literals of its own kind; null compares (unequal) with everything."""
    return value is None or literal is None or kind(value) == kind(literal)


def kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "string" if isinstance(value, str) else "other"
