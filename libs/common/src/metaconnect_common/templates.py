"""Sandboxed message templates: Jinja2 that cannot escape, hang or blow up, and fails with a reason.

Templates come from route specs and see event data, so three things are guarded:
* escapes: `ImmutableSandboxedEnvironment` refuses `_`-attributes, `mro`, `__globals__` and
  mutation; on top of it `self`/`super`, includes, imports, `{% autoescape %}` overrides, recursive
  loops, `str.format` and the padding methods (`center`, `ljust`, ...) are refused;
* hangs: every loop iteration, call, filter and intercepted operator spends one step of a
  per-render budget, and `range` is capped;
* blow-ups: the source, the output, every emitted chunk and every value an operator, filter or call
  builds are capped in size, and the amplifying operations (`*`, `**`, `%`, `join`, `replace`,
  `center`, `indent`, `batch`, `format`) are checked *before* they allocate.

`StrictUndefined` makes a missing variable an error rather than an empty string. Errors become a
`TemplateFailure` whose message names the template line, never a value.

One environment for both ends: the router compiles every template of a route when the route is
written (`template_problems`: syntax, sandbox refusals and names outside `TemplateContext`), the
delivery service renders with the same environment (`render_template`), so a template the router
accepted never fails to compile at send time.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache, wraps
from typing import Any, Final, TypedDict

from jinja2 import (
    StrictUndefined,
    Template,
    TemplateSyntaxError,
    UndefinedError,
    meta,
    nodes,
    pass_context,
    pass_eval_context,
)
from jinja2.exceptions import SecurityError
from jinja2.filters import FILTERS, do_batch, do_center, do_format, do_indent, do_replace, make_attrgetter, sync_do_join
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer
from markupsafe import Markup


class TemplateReason(StrEnum):
    """Why a template did not compile or render (the rule a route's 422 names)."""

    TEMPLATE_SYNTAX = "template_syntax"
    TEMPLATE_UNKNOWN_NAME = "template_unknown_name"
    """A top-level name that is not part of the template context (checked when a route is written)."""
    TEMPLATE_UNDEFINED = "template_undefined"
    """A variable or attribute the template uses is missing (`StrictUndefined`)."""
    TEMPLATE_SECURITY = "template_security"
    """An attribute, call or statement the sandbox refuses."""
    TEMPLATE_TOO_LARGE = "template_too_large"
    """The source, the output or a value built on the way exceeds its cap."""
    TEMPLATE_TOO_COMPLEX = "template_too_complex"
    """The template ran out of steps (loop iterations, calls, operators) or recursed too deep."""
    TEMPLATE_RUNTIME = "template_runtime"
    """Any other error while rendering (a type error, a division by zero, ...)."""


class TemplateFailure(Exception):
    """A template did not compile or render: `reason`, a `message` naming the line (never a value),
    and the `variable` it was missing or did not know, when the template spells it out."""

    def __init__(self, reason: TemplateReason, message: str, *, variable: str | None = None) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message
        self.variable = variable


class ItemContext(TypedDict):
    """`item` (and each entry of `items`): what the message is, never what it says."""

    id: str
    route: str
    message_id: str
    priority: int
    category: str


class CustomerContext(TypedDict):
    """`customer`: who the message is for. Never personality (colour, pattern, holdout) and never
    a contact address; `traits` holds only the traits the route lists in `policy.template_traits`."""

    id: str
    first_name: str | None
    locale: str | None
    time_zone: str | None
    traits: dict[str, Any]


class DeliveryContext(TypedDict):
    id: str
    locale: str
    overflow: int
    item_count: int
    bundled: bool
    urgent: bool


class TemplateContext(TypedDict):
    """Everything a template sees; any other top-level name is refused when its route is written."""

    data: dict[str, Any]
    """The triggering event's properties."""
    customer: CustomerContext
    item: ItemContext
    items: list[ItemContext]
    """The delivery's shown items in reading order (a single item: just `item`)."""
    delivery: DeliveryContext
    channel: str
    customer_id: str
    """The same as `customer.id` (kept for templates written before `customer` existed)."""


TEMPLATE_NAMES: Final = frozenset(TemplateContext.__required_keys__)

MAX_SOURCE_CHARS: Final = 32 * 1024
MAX_OUTPUT_CHARS: Final = 100_000
"""One rendered field. Email HTML is the largest; Gmail clips messages above ~102 kB anyway."""
MAX_EMITTED_CHARS: Final = 4 * MAX_OUTPUT_CHARS
"""Everything output on the way, including what macros and `{% set %}` blocks capture."""
MAX_VALUE_LEN: Final = MAX_OUTPUT_CHARS
"""Length of any string, list or dict an operator, filter or call produces."""
MAX_STEPS: Final = 20_000
MAX_RANGE: Final = 1_000
MAX_INT_BITS: Final = 4_096
MAX_FORMAT_WIDTH: Final = 100
CACHE_SIZE: Final = 512

_TEMPLATE_FILENAME: Final = "<template>"
_AMPLIFYING_STR_METHODS: Final = frozenset(
    {"center", "ljust", "rjust", "zfill", "expandtabs", "format", "format_map", "join", "replace", "translate"}
)
_REFUSED_FILTERS: Final = frozenset({"random", "safe", "slice"})  # impure, unescaping, O(n) in its argument
_PRINTF_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")


class _TooLarge(Exception):
    pass


class _TooComplex(Exception):
    pass


class _Refused(SecurityError):
    """A statement or name refused when the template is compiled (no traceback line to read)."""

    def __init__(self, node: nodes.Node, what: str) -> None:
        super().__init__(f"{what} is not allowed")
        self.lineno = node.lineno


@dataclass
class _Budget:
    steps: int = MAX_STEPS
    emitted: int = MAX_EMITTED_CHARS


_budget: ContextVar[_Budget | None] = ContextVar("metaconnect_template_budget", default=None)


def _spend() -> None:
    # Outside a render (Jinja folding constants at compile time) there is nothing to spend.
    budget = _budget.get()
    if budget is not None:
        budget.steps -= 1
        if budget.steps < 0:
            raise _TooComplex


def _sized(value: Any) -> Any:
    if isinstance(value, str | bytes | list | tuple | dict | set | frozenset) and len(value) > MAX_VALUE_LEN:
        raise _TooLarge
    return value


def _check_width(width: int) -> None:
    if width > MAX_VALUE_LEN:
        raise _TooLarge


def _check_printf(spec: str) -> None:
    for match in _PRINTF_SPEC.finditer(spec):
        for number in match.groups():
            if number == "*" or (number is not None and int(number) > MAX_FORMAT_WIDTH):
                raise SecurityError("printf width or precision out of range")


def _check_join(parts: list[Any], separator: str) -> None:
    if sum(len(str(part)) for part in parts) + len(separator) * max(0, len(parts) - 1) > MAX_VALUE_LEN:
        raise _TooLarge


# Filters that can amplify their input are checked before they allocate.
def _center(value: str, width: int = 80) -> str:
    _check_width(width)
    return do_center(value, width)


def _indent(value: str, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    pad = width if isinstance(width, int) else len(width)
    _check_width(len(value) + pad * (value.count("\n") + 1))
    return do_indent(value, width, first, blank)


@pass_eval_context
def _replace(eval_ctx: EvalContext, value: str, old: str, new: str, count: int | None = None) -> str:
    text = str(value)
    hits = text.count(old) if old else len(text) + 1
    if count is not None and count >= 0:
        hits = min(hits, count)
    _check_width(len(text) + hits * max(0, len(new) - len(old)))
    return do_replace(eval_ctx, value, old, new, count)


@pass_eval_context
def _join(eval_ctx: EvalContext, value: Iterable[Any], d: str = "", attribute: str | int | None = None) -> str:
    parts = list(value)
    if attribute is not None:
        parts = list(map(make_attrgetter(eval_ctx.environment, attribute), parts))
    _check_join(parts, d)
    return sync_do_join(eval_ctx, parts, d)


def _format(value: str, *args: Any, **kwargs: Any) -> str:
    _check_printf(str(value))
    return do_format(value, *args, **kwargs)


def _batch(value: Iterable[Any], linecount: int, fill_with: Any = None) -> Iterator[list[Any]]:
    _check_width(linecount)
    return do_batch(value, linecount, fill_with)


def _guarded(func: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(func)  # keeps `jinja_pass_arg`, so Jinja still passes the context/eval context
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _spend()
        return _sized(func(*args, **kwargs))

    return guarded


def _range(*args: int) -> range:
    _spend()
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise _TooComplex
    return numbers


# Filters the guard transformer inserts; their names cannot be written in a template (a dot).
_ITERATE: Final = "mc.iterate"
_EMIT: Final = "mc.emit"
_EMIT_DATA: Final = "mc.emit_data"
_SIZED: Final = "mc.sized"


@pass_context  # a context filter is never folded at compile time: it always runs under the budget
def _iterate(context: Context, iterable: Iterable[Any]) -> Iterator[Any]:
    for value in iterable:
        _spend()
        yield value


def _count_emitted(value: Any) -> None:
    budget = _budget.get()
    if budget is not None:
        budget.emitted -= len(str(value))
        if budget.emitted < 0:
            raise _TooLarge


@pass_context
def _emit(context: Context, value: Any) -> Any:
    _count_emitted(value)
    return value


@pass_context
def _emit_data(context: Context, value: str) -> str:
    # Literal template text is trusted markup: keep autoescape from escaping it once it is wrapped.
    _count_emitted(value)
    return Markup(value) if context.eval_ctx.autoescape else value


@pass_context
def _sized_filter(context: Context, value: Any) -> Any:
    _spend()
    return _sized(value)


_STATEMENTS: Final = {
    "Extends": "extends",
    "Include": "include",
    "Import": "import",
    "FromImport": "from ... import",
    "EvalContextModifier": "autoescape",
    "ScopedEvalContextModifier": "autoescape",
}


def _wrap(node: nodes.Node, name: str) -> nodes.Filter:
    return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)


class _Guard(NodeTransformer):
    """Rewrites a parsed template: counted loops, counted and capped output, refused statements."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        if node.recursive:
            raise _Refused(node, "a recursive loop")
        self.generic_visit(node)
        node.iter = _wrap(node.iter, _ITERATE)
        return node

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        self.generic_visit(node)
        node.nodes = [
            _wrap(child, _EMIT_DATA if isinstance(child, nodes.TemplateData) else _EMIT) for child in node.nodes
        ]
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _wrap(node, _SIZED)

    def visit_Name(self, node: nodes.Name) -> nodes.Node:
        if node.name in ("self", "super"):  # the template reference: a known path to the context
            raise _Refused(node, repr(node.name))
        return node

    def _refuse(self, node: nodes.Node) -> nodes.Node:
        raise _Refused(node, f"{{% {_STATEMENTS[type(node).__name__]} %}}")

    visit_Extends = visit_Include = visit_Import = visit_FromImport = _refuse
    visit_EvalContextModifier = visit_ScopedEvalContextModifier = _refuse


def _nothing_for_none(value: Any) -> Any:
    return "" if value is None else value


class _MessageEnvironment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, *, autoescape: bool) -> None:
        super().__init__(
            autoescape=autoescape,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            optimized=False,  # no constant folding: every operation runs under the budget
            # A value the customer does not have (`customer.first_name` unknown) prints nothing,
            # as in Liquid, never the word "None" in a message a person reads.
            finalize=_nothing_for_none,
        )
        self.globals.pop("lipsum", None)  # random text: rendering stays deterministic
        self.globals["range"] = _range
        self.filters = {name: _guarded(func) for name, func in FILTERS.items() if name not in _REFUSED_FILTERS}
        self.filters.update(
            center=_guarded(_center),
            indent=_guarded(_indent),
            replace=_guarded(_replace),
            join=_guarded(_join),
            format=_guarded(_format),
            batch=_guarded(_batch),
        )
        self.filters.update({_ITERATE: _iterate, _EMIT: _emit, _EMIT_DATA: _emit_data, _SIZED: _sized_filter})

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        parsed = _Guard().visit(super()._parse(source, name, filename))
        assert isinstance(parsed, nodes.Template)
        return parsed

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, str | bytes) and attr in _AMPLIFYING_STR_METHODS:
            return False
        return super().is_safe_attribute(obj, attr, value)

    def wrap_str_format(self, value: Any) -> None:
        return None  # `str.format` is refused outright (is_safe_attribute); use `~` or `|format`

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _spend()
        if operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
            if max(1, abs(left).bit_length()) * right > MAX_INT_BITS:
                raise _TooLarge
        elif operator == "*":
            if isinstance(left, int) and isinstance(right, int):
                if abs(left).bit_length() + abs(right).bit_length() > MAX_INT_BITS:
                    raise _TooLarge
            elif isinstance(right, int) and hasattr(left, "__len__"):
                _check_width(len(left) * right)
            elif isinstance(left, int) and hasattr(right, "__len__"):
                _check_width(left * len(right))
        elif operator == "%" and isinstance(left, str):
            _check_printf(left)
        return _sized(self.binop_table[operator](left, right))

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _spend()
        return _sized(super().call(__context, __obj, *args, **kwargs))


_plain = _MessageEnvironment(autoescape=False)
_html = _MessageEnvironment(autoescape=True)


def render_template(source: str, context: Mapping[str, Any], *, html: bool = False) -> str:
    """Render one template string with `context`; HTML-escape values when `html` (email HTML only).

    Raises `TemplateFailure` and nothing else.
    """
    if len(source) > MAX_SOURCE_CHARS:
        raise TemplateFailure(
            TemplateReason.TEMPLATE_TOO_LARGE, f"template source exceeds {MAX_SOURCE_CHARS} characters"
        )
    compiled = _compile(source, html)
    if isinstance(compiled, TemplateFailure):
        # A fresh exception per raise: re-raising the cached one would grow its traceback forever.
        raise TemplateFailure(compiled.reason, compiled.message, variable=compiled.variable)
    token = _budget.set(_Budget())
    try:
        chunks: list[str] = []
        size = 0
        for chunk in compiled.generate(dict(context)):
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise _TooLarge
            chunks.append(chunk)
        return "".join(chunks)
    except Exception as exc:  # everything a template can raise becomes a reason
        raise _failure(exc, source) from None
    finally:
        _budget.reset(token)


def template_problems(source: str, *, html: bool = False) -> list[TemplateFailure]:
    """What is wrong with a template before it ever renders: the source cap, syntax, statements and
    names the sandbox refuses, and top-level names outside `TemplateContext` (`template_unknown_name`,
    naming the variable). Empty when the template compiles; rendering can still miss `data` keys."""
    if len(source) > MAX_SOURCE_CHARS:
        return [
            TemplateFailure(TemplateReason.TEMPLATE_TOO_LARGE, f"template source exceeds {MAX_SOURCE_CHARS} characters")
        ]
    compiled = _compile(source, html)
    if isinstance(compiled, TemplateFailure):
        return [TemplateFailure(compiled.reason, compiled.message, variable=compiled.variable)]
    environment = _html if html else _plain
    # Names the template reads from its context, minus the ones it sets itself (`set`, loops, macros).
    undeclared = meta.find_undeclared_variables(environment.parse(source)) - environment.globals.keys()
    return [
        TemplateFailure(
            TemplateReason.TEMPLATE_UNKNOWN_NAME,
            f"{name!r} is not in the template context ({', '.join(sorted(TEMPLATE_NAMES))})",
            variable=name,
        )
        for name in sorted(undeclared - TEMPLATE_NAMES)
    ]


def traits_used(source: str) -> frozenset[str]:
    """The traits a compilable template names as `customer.traits.<name>` or `customer.traits['<name>']`."""
    try:
        parsed = _plain.parse(source)
    except Exception:  # not compilable: `template_problems` says why
        return frozenset()

    def traits_of(node: nodes.Expr) -> bool:
        return (
            isinstance(node, nodes.Getattr)
            and node.attr == "traits"
            and isinstance(node.node, nodes.Name)
            and node.node.name == "customer"
        )

    used = {node.attr for node in parsed.find_all(nodes.Getattr) if traits_of(node.node)}
    used |= {
        node.arg.value
        for node in parsed.find_all(nodes.Getitem)
        if traits_of(node.node) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str)
    }
    return frozenset(used)


@lru_cache(maxsize=CACHE_SIZE)
def _compile(source: str, html: bool) -> Template | TemplateFailure:
    # A template that does not compile is remembered as its failure: it is not retried per send.
    try:
        return (_html if html else _plain).from_string(source)
    except Exception as exc:
        return _failure(exc, source)


_UNDEFINED_NAME = re.compile(r"'([^']*)' is undefined|has no attribute '([^']*)'")


def _failure(exc: BaseException, source: str) -> TemplateFailure:
    if isinstance(exc, TemplateSyntaxError):
        return TemplateFailure(TemplateReason.TEMPLATE_SYNTAX, f"line {exc.lineno}: {exc.message}")
    where = _line(exc)
    if isinstance(exc, UndefinedError):
        # Jinja names the missing variable or attribute; repeat it only when the template spells it
        # out, since a computed key (`data[data.email]`) would be a value.
        match = _UNDEFINED_NAME.search(exc.message or "")
        name = next((group for group in match.groups() if group), None) if match else None
        spelled = re.search(rf"(?<![\w.])(?:[A-Za-z_]\w*\.)*{re.escape(name)}(?![\w])", source) if name else None
        if spelled:
            # The variable as the template spells it (`data.price`), not just Jinja's last attribute.
            variable = spelled.group(0)
            return TemplateFailure(
                TemplateReason.TEMPLATE_UNDEFINED, f"{where}: {variable!r} is undefined", variable=variable
            )
        return TemplateFailure(TemplateReason.TEMPLATE_UNDEFINED, f"{where}: a variable or attribute is undefined")
    if isinstance(exc, _Refused):
        return TemplateFailure(TemplateReason.TEMPLATE_SECURITY, f"line {exc.lineno}: {exc}")
    if isinstance(exc, SecurityError):
        return TemplateFailure(TemplateReason.TEMPLATE_SECURITY, f"{where}: refused by the sandbox")
    if isinstance(exc, _TooLarge | MemoryError):
        return TemplateFailure(TemplateReason.TEMPLATE_TOO_LARGE, f"{where}: output or a value exceeds its size cap")
    if isinstance(exc, _TooComplex | RecursionError):
        return TemplateFailure(
            TemplateReason.TEMPLATE_TOO_COMPLEX, f"{where}: exceeds {MAX_STEPS} steps or nests too deep"
        )
    return TemplateFailure(TemplateReason.TEMPLATE_RUNTIME, f"{where}: {type(exc).__name__}")


def _line(exc: BaseException) -> str:
    frames = [frame for frame in traceback.extract_tb(exc.__traceback__) if frame.filename == _TEMPLATE_FILENAME]
    return f"line {frames[-1].lineno}" if frames else "template"
