"""The condition language: which profiled events a route's trigger, a journey's entry, branch or
goal, or a lifecycle stage's rule takes.

Conditions are parsed and checked on write with a grammar (lark, LALR) and evaluated for every
profiled event by walking the parsed tree over plain dicts; nothing is ever run as code::

    event.type == "purchase.completed" and event.properties.amount >= 50
    profile.lifecycle_stage in ["new", "active"] and not exists(profile.traits.churned_at)
    profile.channel_consent.push.granted == true and event.occurred_at within 24h

* `not` binds tighter than `and`, `and` tighter than `or`; parentheses group. Keywords are lower case.
* `path OP literal` with OP one of `== != < <= > >=`; a literal is a string (`"..."` or `'...'`,
  escapes `\\"`, `\\'`, `\\\\`), a number, `true`, `false` or `null`. `<` and friends order numbers
  only: text is refused (`ordering_on_text`), since alphabetical order is never what is meant
  (`profile.lifecycle_stage >= "qualified"`); name the values with `in [...]` instead.
  `path in [...]` and `path not in [...]` take 1 to 100 literals.
* `exists(path)`: the field has a value (present, not null, not an empty list or object).
* `path within 24h`: the field is a timestamp with an offset, not in the future and at most that
  long ago. A duration is a whole number and `s`, `m`, `h` or `d`, at most `366d`.
* Fields: `event.type`, `.channel`, `.source`, `.occurred_at`, `event.properties.<key>...`,
  `profile.lifecycle_stage`, `.stage_entered_at`, `.locale`, `.time_zone`, `profile.traits.<key>...`,
  `profile.channel_consent.<channel>.granted`, `profile.purposes.<purpose>.granted`, and
  `profile.reachable` in `exists` only. Personality and holdout are refused (`personality_not_allowed`):
  personality steers tone and channel, never who gets a message; so are engagement and active hours.
* A missing field fails every test, so `not (event.properties.plan == "pro")` holds without a plan.
* A value compares only with literals of its own type (int and decimal alike; `true` is not `1`):
  otherwise `==`, `!=`, `<`..., `in` and `not in` are all false. `null` equals only null and is
  unequal to everything else.
* At most 2000 characters; parentheses and `not` nest at most 20 deep.

Every refusal is a `ConditionError` with a `rule`, a message naming what and where (at most
40 characters of the input), and the 0-based `position`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Final

from lark import Lark, Token, Transformer, Tree
from lark.exceptions import UnexpectedInput, UnexpectedToken, VisitError
from lark.lexer import PatternStr

from metaconnect_common.condition_nodes import (
    ORDERINGS,
    Facts,
    Junction,
    LiteralValue,
    Node,
    Not,
    Test,
    compare,
    has_value,
    member,
    within,
)
from metaconnect_common.schemas import Channel
from metaconnect_common.schemas.profiled import Purpose

MAX_LENGTH: Final = 2000
MAX_DEPTH: Final = 20
MAX_LIST_ITEMS: Final = 100
MAX_WINDOW: Final = timedelta(days=366)

_GRAMMAR: Final = r"""
    ?start: disjunction
    ?disjunction: conjunction (_OR conjunction)*
    ?conjunction: negatable (_AND negatable)*
    ?negatable: negation | atom
    negation: _NOT negatable
    ?atom: group | comparison | membership | exists | within
    group: "(" disjunction ")"
    comparison: PATH OP literal
    membership: PATH _IN items -> member
              | PATH _NOT _IN items -> not_member
    exists: _EXISTS "(" PATH ")"
    within: PATH _WITHIN DURATION
    items: "[" literal ("," literal)* "]"
    ?literal: STRING | NUMBER | TRUE | FALSE | NULL

    // A path has at least one dot, so it never collides with a keyword.
    PATH: /[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_-]*)+/
    OP: /==|!=|<=|>=|<|>/
    STRING: /"(?:[^"\\\r\n]|\\.)*"|'(?:[^'\\\r\n]|\\.)*'/
    NUMBER: /-?[0-9]+(\.[0-9]+)?(?![A-Za-z0-9_.])/
    // Looser than a valid duration so that `within 2w` is a `duration` error, not a syntax error.
    DURATION: /-?[0-9]+(\.[0-9]+)?[A-Za-z]*/
    TRUE: /true(?![A-Za-z0-9_])/
    FALSE: /false(?![A-Za-z0-9_])/
    NULL: /null(?![A-Za-z0-9_])/
    _OR: /or(?![A-Za-z0-9_])/
    _AND: /and(?![A-Za-z0-9_])/
    _NOT: /not(?![A-Za-z0-9_])/
    _IN: /in(?![A-Za-z0-9_])/
    _EXISTS: /exists(?![A-Za-z0-9_])/
    _WITHIN: /within(?![A-Za-z0-9_])/
    %ignore /[ \t\r\n]+/
"""

_LABELS: Final = {
    "PATH": "a field",
    "OP": "an operator",
    "STRING": "a string",
    "NUMBER": "a number",
    "DURATION": "a duration like 24h",
    "$END": "the end",
}
_HINTS: Final = {"=": " (compare with ==)", "&": " (use and)", "|": " (use or)", "!": " (use not)"}
# NUL cannot be stored in PostgreSQL text; bidi controls make a condition read otherwise than it runs.
_FORBIDDEN_CHARACTER: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_DURATION: Final = re.compile(r"([0-9]+)([smhd])")
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}

_FIELD_LIST: Final = {
    "event": "type, channel, source, occurred_at, properties.<key>",
    "profile": "lifecycle_stage, stage_entered_at, locale, time_zone, reachable, traits.<key>"
    ", channel_consent.<channel>.granted"
    ", purposes.<purpose>.granted",
}
_SCALAR_FIELDS: Final = {
    "event": frozenset({"type", "channel", "source", "occurred_at"}),
    "profile": frozenset({"lifecycle_stage", "stage_entered_at", "locale", "time_zone", "reachable"}),
}
_TIMESTAMPS: Final = frozenset({"event.occurred_at", "profile.stage_entered_at"})
_OPEN_FIELDS: Final = frozenset({("event", "properties"), ("profile", "traits")})
_CONSENT_FIELDS: Final = {"channel_consent": [c.value for c in Channel], "purposes": [p.value for p in Purpose]}


class ConditionError(Exception):
    """A condition that does not parse or breaks a rule."""

    def __init__(self, rule: str, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message
        self.position = position


@dataclass(frozen=True)
class Condition:
    """A parsed condition; build it with `parse_condition`."""

    source: str
    _root: Node = field(repr=False, compare=False)
    _fields: frozenset[str] = field(repr=False, compare=False)

    def evaluate(self, event: Mapping[str, Any], profile: Mapping[str, Any], now: datetime) -> bool:
        """Whether the condition holds; never raises, whatever the dicts hold."""
        return self._root.holds(Facts(event, profile, now))

    def fields(self) -> frozenset[str]:
        """The dotted paths the condition reads."""
        return self._fields


def parse_condition(source: str) -> Condition:
    """Parse and check a condition; raises `ConditionError` naming the rule it breaks."""
    if len(source) > MAX_LENGTH:
        message = f"a condition has at most {MAX_LENGTH} characters, not {len(source)}"
        raise ConditionError("too_long", message, MAX_LENGTH)
    if forbidden := _FORBIDDEN_CHARACTER.search(source):
        position, where = forbidden.start(), _where(source, forbidden.start())
        raise ConditionError("control_character", f"control character U+{ord(forbidden[0]):04X} at {where}", position)
    try:
        tree = _PARSER.parse(source)
    except UnexpectedInput as error:
        raise _syntax_error(source, error) from None
    _check_depth(source, tree)
    try:
        root = _Builder(source).transform(tree)
    except VisitError as error:
        if isinstance(error.orig_exc, ConditionError):
            raise error.orig_exc from None
        raise
    paths = tree.scan_values(lambda value: isinstance(value, Token) and value.type == "PATH")
    return Condition(source, root, frozenset(str(path) for path in paths))


class _Builder(Transformer[Token, Node]):
    """Turns the parse tree into evaluation nodes, checking what the grammar cannot."""

    def __init__(self, source: str) -> None:
        super().__init__()
        self._source = source

    def disjunction(self, operands: list[Node]) -> Node:
        return Junction(tuple(operands), every=False)

    def conjunction(self, operands: list[Node]) -> Node:
        return Junction(tuple(operands), every=True)

    def negation(self, children: list[Node]) -> Node:
        return Not(children[0])

    def group(self, children: list[Node]) -> Node:
        return children[0]

    def comparison(self, children: list[Token]) -> Node:
        path, op, literal = children
        value = self._literal(literal)
        if op in ORDERINGS and (value is None or isinstance(value, bool)):
            raise self._error("comparison", op, f"only numbers are ordered, not {literal}")
        if op in ORDERINGS and isinstance(value, str):
            # Alphabetical order is never what is meant: "qualified" < "lead" < "customer".
            reason = f'text is not ordered; name the values instead: {path} in ["...", "..."]'
            raise self._error("ordering_on_text", op, reason)
        return Test(self._readable(path), partial(compare, str(op), value))

    def member(self, children: list[Any]) -> Node:
        return Test(self._readable(children[0]), partial(member, children[1], False))

    def not_member(self, children: list[Any]) -> Node:
        return Test(self._readable(children[0]), partial(member, children[1], True))

    def items(self, children: list[Token]) -> tuple[LiteralValue, ...]:
        if len(children) > MAX_LIST_ITEMS:
            reason = f"a list holds at most {MAX_LIST_ITEMS} values, this is one more"
            raise self._error("list_too_long", children[MAX_LIST_ITEMS], reason)
        return tuple(self._literal(item) for item in children)

    def exists(self, children: list[Token]) -> Node:
        return Test(tuple(children[0].split(".")), has_value)

    def within(self, children: list[Token]) -> Node:
        path, duration = children
        root, head, *_ = path.split(".")
        if path not in _TIMESTAMPS and (root, head) not in _OPEN_FIELDS:
            reason = (
                "not a timestamp; `within` reads event.occurred_at, profile.stage_entered_at, "
                "event.properties.* or profile.traits.*"
            )
            raise self._error("not_a_timestamp", path, reason)
        valid = _DURATION.fullmatch(duration)
        seconds = int(valid[1]) * _UNITS[valid[2]] if valid else 0
        if not 0 < seconds <= MAX_WINDOW.total_seconds():
            raise self._error("duration", duration, "a duration is a whole number and s, m, h or d, from 1s to 366d")
        return Test(tuple(path.split(".")), partial(within, timedelta(seconds=seconds)))

    def _readable(self, path: Token) -> tuple[str, ...]:
        if path == "profile.reachable":
            raise self._error("field_not_allowed", path, "a list of channels, readable in exists(...) only")
        return tuple(path.split("."))

    def _literal(self, token: Token) -> LiteralValue:
        if token.type == "STRING":
            for escape in re.finditer(r"\\(.)", token, re.DOTALL):
                if escape[1] not in "\"'\\":
                    position = (token.start_pos or 0) + escape.start()
                    where = _where(self._source, position)
                    raise ConditionError("syntax", f"unknown escape `{escape[0]}` at {where}", position)
            return re.sub(r"\\(.)", r"\1", token[1:-1], flags=re.DOTALL)
        if token.type == "NUMBER":
            return float(token) if "." in token else int(token)
        return {"TRUE": True, "FALSE": False, "NULL": None}[token.type]

    def _error(self, rule: str, token: Token, reason: str) -> ConditionError:
        where = _where(self._source, token.start_pos or 0)
        return ConditionError(rule, f"{_quote(token)} at {where}: {reason}", token.start_pos)


def _checked_field(path: Token) -> Token:
    """Lexer callback: a field is checked as soon as it is read, so the first problem is the one reported."""
    root, *keys = path.split(".")
    problem = _field_problem(root, keys)
    if problem:
        rule, reason = problem
        where = _place(path.line or 1, path.column or 1)
        raise ConditionError(rule, f"{_quote(path)} at {where}: {reason}", path.start_pos)
    return path


def _field_problem(root: str, keys: list[str]) -> tuple[str, str] | None:
    head = keys[0]
    if any(key.startswith("__") for key in keys):
        return "unknown_field", "names starting with __ are not fields"
    if root not in _SCALAR_FIELDS:
        return "unknown_field", "fields start with event. or profile."
    if root == "profile" and head in ("personality", "holdout"):
        return "personality_not_allowed", "personality steers tone and channel, never who gets a message"
    if root == "profile" and head in ("engagement", "active_hours"):
        return "field_not_allowed", "engagement and active hours are not open to conditions"
    if (root, head) in _OPEN_FIELDS:
        return None if len(keys) > 1 else ("unknown_field", f"name a key inside it, e.g. {root}.{head}.plan")
    if root == "profile" and head in _CONSENT_FIELDS:
        names = _CONSENT_FIELDS[head]
        if len(keys) == 3 and keys[1] in names and keys[2] == "granted":
            return None
        return "unknown_field", f"read profile.{head}.<one of {', '.join(names)}>.granted"
    if len(keys) == 1 and head in _SCALAR_FIELDS[root]:
        return None
    return "unknown_field", f"not a field; {root} has {_FIELD_LIST[root]}"


def _check_depth(source: str, tree: Tree[Token]) -> None:
    # Iterative, so that deep input cannot exhaust the stack before it is refused.
    pending = [(tree, 0)]
    while pending:
        node, depth = pending.pop()
        if node.data in ("group", "negation"):
            depth += 1
            if depth > MAX_DEPTH:
                position = node.meta.start_pos
                message = f"parentheses and `not` nest more than {MAX_DEPTH} deep at {_where(source, position)}"
                raise ConditionError("too_deep", message, position)
        pending.extend((child, depth) for child in node.children if isinstance(child, Tree))


def _syntax_error(source: str, error: UnexpectedInput) -> ConditionError:
    if isinstance(error, UnexpectedToken):
        at_end = error.token.type == "$END"
        position = len(source) if at_end else error.token.start_pos or 0
        what, hint = "end of the condition" if at_end else _quote(error.token), ""
    else:
        position = error.pos_in_stream or 0
        word = re.match(r"[A-Za-z0-9_.\-]+|.", source[position : position + 40], re.DOTALL)
        what, hint = _quote(word[0] if word else ""), _HINTS.get(source[position : position + 1], "")
    # The interactive parser knows what the grammar takes here; the lexer's set is wider.
    interactive = getattr(error, "interactive_parser", None)
    labels = sorted(_label(name) for name in interactive.accepts()) if interactive else []
    if labels:
        hint += "; expected " + (", ".join(labels[:-1]) + " or " + labels[-1] if len(labels) > 1 else labels[0])
    return ConditionError("syntax", f"unexpected {what} at {_where(source, position)}{hint}", position)


def _label(name: str) -> str:
    if name in _LABELS:
        return _LABELS[name]
    pattern = _PARSER.get_terminal(name).pattern
    return f"`{pattern.value if isinstance(pattern, PatternStr) else name.strip('_').lower()}`"


def _where(source: str, position: int) -> str:
    line = source.count("\n", 0, position) + 1
    return _place(line, position - source.rfind("\n", 0, position))


def _place(line: int, column: int) -> str:
    return f"column {column}" if line == 1 else f"line {line}, column {column}"


def _quote(text: str) -> str:
    """At most 40 characters of the input, on one line."""
    shown = text if len(text) <= 40 else text[:39] + "…"
    return "`" + re.sub(r"\s", " ", shown) + "`"


_PARSER: Final = Lark(
    _GRAMMAR, parser="lalr", lexer="contextual", propagate_positions=True, lexer_callbacks={"PATH": _checked_field}
)
