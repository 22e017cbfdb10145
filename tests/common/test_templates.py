"""The template sandbox: context, strict undefined, escapes refused, budgets, caps, autoescape, messages."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metaconnect_common.templates import (
    MAX_OUTPUT_CHARS,
    MAX_SOURCE_CHARS,
    TemplateFailure,
    _compile,
    render_template,
    template_problems,
    traits_used,
)
from metaconnect_common.templates import TemplateReason as Reason

SECRET = "ann.secret@example.com"
CONTEXT: dict[str, Any] = {
    "data": {
        "name": "Ann",
        "email": SECRET,
        "products": [{"name": "Shoe", "price": 49.5}, {"name": "Hat", "price": 20}],
    },
    "item": {
        "id": "i-1",
        "message_id": "cart",
        "route": "orders",
        "tone": "red",
        "priority": 80,
        "category": "marketing",
    },
    "delivery": {"id": "d-1", "locale": "de", "overflow": 2, "item_count": 3, "bundled": True, "urgent": False},
    "channel": "push",
    "customer_id": "c-1",
}


def failure(source: str, *, html: bool = False, context: dict[str, Any] = CONTEXT) -> TemplateFailure:
    with pytest.raises(TemplateFailure) as caught:
        render_template(source, context, html=html)
    return caught.value


@pytest.mark.parametrize(
    ("source", "output"),
    [
        ("Hi {{ data.name }}", "Hi Ann"),
        ("{{ item.message_id }}/{{ item.tone }}/{{ item.priority }}", "cart/red/80"),
        ("{{ delivery.locale }} +{{ delivery.overflow }} of {{ delivery.item_count }}", "de +2 of 3"),
        ("{{ customer_id }}", "c-1"),
        (
            "{% for p in data.products %}{{ p.name }} {{ '%.2f'|format(p.price) }}"
            "{{ ', ' if not loop.last }}{% endfor %}",
            "Shoe 49.50, Hat 20.00",
        ),
        ("{{ data.products|map(attribute='name')|join(' & ') }}", "Shoe & Hat"),
        ("{{ data.nickname|default(data.name) }}", "Ann"),
        ("{% if data.nickname is defined %}x{% else %}y{% endif %}", "y"),
        (
            "{{ data.name|upper }} {{ 'a' ~ 'b' }} {{ 2 ** 10 }} {{ 'ab' * 2 }} {{ '%05d' % 7 }}",
            "ANN ab 1024 abab 00007",
        ),
        (
            "{% set ns = namespace(total=0) %}{% for p in data.products %}"
            "{% set ns.total = ns.total + p.price %}{% endfor %}{{ ns.total }}",
            "69.5",
        ),
    ],
)
def test_templates_see_the_delivery_context(source: str, output: str) -> None:
    assert render_template(source, CONTEXT) == output


def test_a_missing_variable_is_an_error_that_names_it() -> None:
    missing = failure("Hi {{ data.nickname }}")
    assert missing.reason is Reason.TEMPLATE_UNDEFINED
    assert "'data.nickname'" in missing.message  # as the template spells it
    assert missing.variable == "data.nickname"
    assert failure("{{ nobody }}").reason is Reason.TEMPLATE_UNDEFINED


def test_a_computed_key_is_never_echoed() -> None:
    # The missing key is a value (an email address): the message must not carry it.
    missing = failure("{{ data[data.email] }}")
    assert missing.reason is Reason.TEMPLATE_UNDEFINED
    assert SECRET not in missing.message


@pytest.mark.parametrize(
    "source",
    [
        "{{ data.email ~ 1/0 }}",
        "{{ data.email - 1 }}",
        "{{ data.email.__class__ }}",
        "{{ data[data.email].x }}",
        "{{ data.email * 10**6 }}",
        "{% for x in data.email %}{{ 1/0 }}{% endfor %}",
        "{{ data.email|replace('', data.email * 4000) }}",
    ],
)
def test_no_failure_message_carries_a_value(source: str) -> None:
    assert SECRET not in failure(source).message
    assert SECRET not in str(failure(source))


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("{{ ''.__class__.__mro__ }}", Reason.TEMPLATE_SECURITY),
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", Reason.TEMPLATE_SECURITY),
        ("{{ cycler.__init__.__globals__ }}", Reason.TEMPLATE_SECURITY),
        ("{{ joiner.__init__.__globals__.os }}", Reason.TEMPLATE_SECURITY),
        ("{{ namespace.__init__.__globals__ }}", Reason.TEMPLATE_SECURITY),
        ("{{ data.products.__class__.__base__ }}", Reason.TEMPLATE_SECURITY),
        ("{{ data|attr('__class__') }}", Reason.TEMPLATE_SECURITY),
        ("{{ data['__class__'] }}", Reason.TEMPLATE_SECURITY),
        ("{{ self }}", Reason.TEMPLATE_SECURITY),
        ("{{ self._TemplateReference__context }}", Reason.TEMPLATE_SECURITY),
        ("{% block b %}{{ super() }}{% endblock %}", Reason.TEMPLATE_SECURITY),
        ("{% include 'secrets.txt' %}", Reason.TEMPLATE_SECURITY),
        ("{% import 'macros' as m %}", Reason.TEMPLATE_SECURITY),
        ("{% from 'macros' import m %}", Reason.TEMPLATE_SECURITY),
        ("{% extends 'base' %}", Reason.TEMPLATE_SECURITY),
        ("{% autoescape false %}{{ data.name }}{% endautoescape %}", Reason.TEMPLATE_SECURITY),
        ("{% for x in data.products recursive %}{{ loop(x) }}{% endfor %}", Reason.TEMPLATE_SECURITY),
        ("{{ '{0.__class__}'.format(data) }}", Reason.TEMPLATE_SECURITY),
        ("{{ 'x'.ljust(10**9) }}", Reason.TEMPLATE_SECURITY),
        ("{{ data.products.append(1) }}", Reason.TEMPLATE_SECURITY),
        ("{{ data.update(name='Eve') }}", Reason.TEMPLATE_SECURITY),
        ("{{ '%999999999d' % 1 }}", Reason.TEMPLATE_SECURITY),
        ("{{ '%*d' % (10**9, 1) }}", Reason.TEMPLATE_SECURITY),
        ("{{ '%.999999f'|format(1) }}", Reason.TEMPLATE_SECURITY),
        ("{% for x in range(10**9) %}{% endfor %}", Reason.TEMPLATE_TOO_COMPLEX),
        ("{% for x in range(1000) %}{% for y in range(1000) %}{% endfor %}{% endfor %}", Reason.TEMPLATE_TOO_COMPLEX),
        (
            "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}",
            Reason.TEMPLATE_TOO_COMPLEX,
        ),
        ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", Reason.TEMPLATE_TOO_COMPLEX),
        ("{{ 2 ** (10**9) }}", Reason.TEMPLATE_TOO_LARGE),
        ("{{ (2**4000) * (2**4000) }}", Reason.TEMPLATE_TOO_LARGE),
        ("{{ 'x' * 10**9 }}", Reason.TEMPLATE_TOO_LARGE),
        ("{{ [1] * 10**9 }}", Reason.TEMPLATE_TOO_LARGE),
        ("{{ 'x'|center(10**9) }}", Reason.TEMPLATE_TOO_LARGE),
        ("{{ 'x'|indent(10**9, true) }}", Reason.TEMPLATE_TOO_LARGE),
        ("{{ [1]|batch(10**9, 0)|list }}", Reason.TEMPLATE_TOO_LARGE),
        ("{{ range(1000)|join('y' * 1000) }}", Reason.TEMPLATE_TOO_LARGE),
        ("{{ data.name|replace('', 'y' * 90000) }}", Reason.TEMPLATE_TOO_LARGE),
        (
            "{% set ns = namespace(s='x') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
            Reason.TEMPLATE_TOO_LARGE,
        ),
        (
            "{% set a = 'x' * 60000 %}{% set b %}{{ a }}{{ a }}{% endset %}{% set c = b ~ b %}",
            Reason.TEMPLATE_TOO_LARGE,
        ),
        ("{% for x in range(1000) %}{{ 'y' * 1000 }}{% endfor %}", Reason.TEMPLATE_TOO_LARGE),
        (
            "{% macro m() %}{{ 'y' * 90000 }}{% endmacro %}{% for i in range(10) %}{% set s = m() %}{% endfor %}",
            Reason.TEMPLATE_TOO_LARGE,
        ),
        ("{{ 1 / 0 }}", Reason.TEMPLATE_RUNTIME),
        ("{{ data.name + 1 }}", Reason.TEMPLATE_RUNTIME),
        ("{{ data.products|sum }}", Reason.TEMPLATE_RUNTIME),
        ("{{ x", Reason.TEMPLATE_SYNTAX),
        ("{% for %}", Reason.TEMPLATE_SYNTAX),
        ("{{ data.name|safe }}", Reason.TEMPLATE_SYNTAX),
        ("{{ data.products|random }}", Reason.TEMPLATE_SYNTAX),
        ("{{ lipsum() }}", Reason.TEMPLATE_UNDEFINED),
    ],
)
@pytest.mark.timeout(10)
def test_escapes_hangs_and_blow_ups_fail_with_a_reason(source: str, reason: Reason) -> None:
    for html in (False, True):
        assert failure(source, html=html).reason is reason


def test_the_failing_line_is_named() -> None:
    assert failure("line one\nline two\n{{ nobody }}").message.startswith("line 3:")
    assert failure("a\n{% include 'x' %}").message.startswith("line 2:")
    assert failure("a\nb\n{{ x").message.startswith("line 3:")


def test_source_and_output_are_capped() -> None:
    assert failure("x" * (MAX_SOURCE_CHARS + 1)).reason is Reason.TEMPLATE_TOO_LARGE
    assert len(render_template("{{ 'y' * 50000 }}{{ 'y' * 50000 }}", CONTEXT)) == MAX_OUTPUT_CHARS
    assert failure("{{ 'y' * 50000 }}{{ 'y' * 50001 }}").reason is Reason.TEMPLATE_TOO_LARGE


def test_the_budget_allows_ordinary_loops() -> None:
    context = {**CONTEXT, "data": {"rows": [{"n": n} for n in range(2000)]}}
    source = "{% for row in data.rows %}{% if row.n is even %}{{ row.n|string|length }}{% endif %}{% endfor %}"
    assert render_template(source, context) == "".join(str(len(str(n))) for n in range(0, 2000, 2))
    assert render_template("{{ range(1000)|sum }}", CONTEXT) == "499500"


def test_html_autoescapes_values_but_not_the_template_text() -> None:
    context = {**CONTEXT, "data": {"name": "<script>alert(1)</script> & co"}}
    source = "<p>Hi <b>{{ data.name }}</b></p>"
    assert render_template(source, context) == "<p>Hi <b><script>alert(1)</script> & co</b></p>"
    assert (
        render_template(source, context, html=True) == "<p>Hi <b>&lt;script&gt;alert(1)&lt;/script&gt; &amp; co</b></p>"
    )
    # Built by concatenation, in a macro or a loop, a value is still escaped.
    assert render_template("{{ '<i>' ~ data.name }}", context, html=True).startswith("&lt;i&gt;&lt;script")
    assert "<script>" not in render_template(
        "{% macro m(v) %}<u>{{ v }}</u>{% endmacro %}{% for x in [data.name] %}{{ m(x) }}{% endfor %}",
        context,
        html=True,
    )


def test_a_failed_compilation_is_remembered_and_raised_again() -> None:
    _compile.cache_clear()
    first, second = failure("{{ broken"), failure("{{ broken")
    assert (first.reason, first.message) == (second.reason, second.message)
    assert first is not second
    assert _compile.cache_info().misses == 1  # a bad template is not recompiled per send


# Arbitrary template strings, biased towards Jinja syntax so that they get past the lexer.
_TOKENS = [
    "{{", "}}", "{%", "%}", "{#", "#}", " ", "for", "endfor", "in", "if", "endif", "else", "set", "endset",
    "macro", "endmacro", "call", "endcall", "filter", "endfilter", "raw", "endraw", "with", "endwith",
    "range(", "10**9", "9", ")", "(", "[", "]", ",", ".", "|", "~", "*", "**", "%", "+", "-", "/", "=", "'", '"',
    "data", "item", "delivery", "customer_id", "loop", "self", "super()", "caller()", "x", "name", "products",
    "__class__", "__mro__", "__globals__", "__init__", "cycler", "joiner", "namespace", "dict", "lipsum",
    "join", "replace", "center", "indent", "format", "batch", "upper", "length", "default", "attr", "map",
    "'%s'", "'{}'", "recursive", "include", "import", "extends", "autoescape", "block", "endblock",
]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    parts=st.lists(st.sampled_from(_TOKENS) | st.text(max_size=4), max_size=24),
    html=st.booleans(),
)
def test_any_template_string_renders_or_fails_with_a_reason(parts: list[str], html: bool) -> None:
    try:
        outcome: str | TemplateFailure = render_template("".join(parts), CONTEXT, html=html)
    except TemplateFailure as failed:
        outcome = failed
    if isinstance(outcome, TemplateFailure):
        assert outcome.reason in set(Reason)
        assert SECRET not in outcome.message
    else:
        assert len(outcome) <= MAX_OUTPUT_CHARS


@pytest.mark.parametrize(
    ("source", "reason", "variable"),
    [
        ("Broken {{ data.x ", Reason.TEMPLATE_SYNTAX, None),
        ("{% for p in data.items %}{{ p }}", Reason.TEMPLATE_SYNTAX, None),
        ("Hi {{ first_name }}", Reason.TEMPLATE_UNKNOWN_NAME, "first_name"),
        ("{{ profile.personality.colour }}", Reason.TEMPLATE_UNKNOWN_NAME, "profile"),
        ("{{ lipsum() }}", Reason.TEMPLATE_UNKNOWN_NAME, "lipsum"),
        ("{{ self }}", Reason.TEMPLATE_SECURITY, None),
        ("{% include 'x' %}", Reason.TEMPLATE_SECURITY, None),
        ("x" * (MAX_SOURCE_CHARS + 1), Reason.TEMPLATE_TOO_LARGE, None),
    ],
)
def test_template_problems_are_found_before_rendering(source: str, reason: Reason, variable: str | None) -> None:
    [problem] = template_problems(source)
    assert (problem.reason, problem.variable) == (reason, variable)


@pytest.mark.parametrize(
    "source",
    [
        "Hi {{ customer.first_name }}, {{ data.price }} for {{ item.message_id }} ({{ items|length }})",
        "{% set n = 2 %}{% for p in data.products %}{{ loop.index }} {{ p.name }} {{ n }}{% endfor %}",
        "{% macro m(x) %}{{ x }}{% endmacro %}{{ m(delivery.locale) }} {{ range(3)|list }} {{ channel }}",
        "{{ customer.traits.plan }} {{ customer_id }}",
    ],
)
def test_templates_reading_the_context_compile(source: str) -> None:
    assert template_problems(source) == []


def test_traits_used_names_the_traits_a_template_reads() -> None:
    source = "{{ customer.traits.plan }} {{ customer.traits['tier'] }} {{ customer.first_name }} {{ data.traits.x }}"
    assert traits_used(source) == {"plan", "tier"}
    assert traits_used("{{ broken") == frozenset()


def test_a_value_the_customer_does_not_have_prints_nothing_never_none() -> None:
    # Found by hand: a welcome e-mail said "Welcome aboard, None!" to a customer without a first name.
    context = {**CONTEXT, "customer": {**CONTEXT.get("customer", {}), "first_name": None}}
    assert render_template("Welcome aboard, {{ customer.first_name }}!", context) == "Welcome aboard, !"
    assert render_template("Hello {{ customer.first_name or 'there' }}", context) == "Hello there"
    assert render_template("<p>{{ customer.first_name }}</p>", context, html=True) == "<p></p>"
    assert render_template("{{ 0 }} {{ false }}", context) == "0 False"  # only None prints nothing
