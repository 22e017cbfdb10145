"""What PostgreSQL cannot store (U+0000, numbers that are not finite), found in decoded JSON by its path."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from metaconnect_common.storable import FINITE_NUMBER, NULL_CHARACTER, suspect, unstorable, unstorable_json

_clean_text = st.text(st.characters(min_codepoint=1, max_codepoint=0xD7FF), max_size=8)  # no NUL, no surrogates
_clean_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | _clean_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_clean_text, inner, max_size=4),
    max_leaves=20,
)
_key = st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=6)


@st.composite
def _with_nul(draw: st.DrawFn) -> tuple[Any, str]:
    """A JSON document with one string holding U+0000 somewhere, and that string's dotted path."""
    text = draw(_clean_text)
    at = draw(st.integers(0, len(text)))
    bad: Any = text[:at] + "\x00" + text[at:]
    path: list[str] = []
    for _ in range(draw(st.integers(0, 4))):
        if draw(st.booleans()):
            siblings = draw(st.lists(_clean_json, max_size=3))
            index = draw(st.integers(0, len(siblings)))
            bad = [*siblings[:index], bad, *siblings[index:]]
            path.insert(0, str(index))
        else:
            name = draw(_key)
            others = draw(st.dictionaries(_key, _clean_json, max_size=3))
            bad = {**others, name: bad}  # replaces a sibling of the same name
            path.insert(0, name)
    return bad, ".".join(path)


@given(_clean_json)
def test_a_clean_document_passes(document: Any) -> None:
    assert unstorable(document) == []
    assert unstorable_json(json.dumps(document).encode()) == []


@given(_with_nul())
def test_any_string_holding_nul_anywhere_is_named_by_its_path(case: tuple[Any, str]) -> None:
    document, path = case
    for errors in (unstorable(document, "body"), unstorable_json(json.dumps(document).encode(), "body")):
        assert [(e.field, e.rule) for e in errors] == [(f"body.{path}" if path else "body", NULL_CHARACTER)]
        assert "\x00" not in errors[0].message


def test_nul_in_a_key_is_named_escaped_never_raw() -> None:
    [error] = unstorable_json(b'{"properties": {"a\\u0000b": 1}}')
    assert (error.field, error.rule) == ("properties.a\\u0000b", NULL_CHARACTER)


def test_numbers_that_are_not_finite_are_named() -> None:
    body = b'{"a": NaN, "b": [1, Infinity], "c": {"d": -Infinity, "e": 1e400}, "f": 1e308, "g": 1e-400}'
    assert [(e.field, e.rule) for e in unstorable_json(body)] == [
        ("a", FINITE_NUMBER),
        ("b.1", FINITE_NUMBER),
        ("c.d", FINITE_NUMBER),
        ("c.e", FINITE_NUMBER),
    ]
    assert unstorable({"x": math.inf}, "properties")[0].field == "properties.x"


def test_a_clean_body_is_not_even_decoded() -> None:
    assert not suspect(b'{"customer": {"customer_id": "c-1"}, "type": "app.opened", "properties": {"n": 1.5e3}}')
    assert suspect(b'{"a": "\\u0000"}')
    assert suspect(b'{"a": 1e400}')
    # A false alarm costs a decode, never an error.
    assert unstorable_json(b'{"film": "NaN and Infinity", "x": 1e100, "y": "\\\\u0000"}') == []
    assert unstorable_json(b'{"not json": \\u0000') == []
