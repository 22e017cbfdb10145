"""Specs as YAML, and the diffs between versions (pure)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metaconnect_console.routes.diff import YamlProblem, diff_lines, parse_spec_yaml, pruned, spec_yaml

lines = st.lists(st.sampled_from(["a", "b", "c", "d", "name: x", ""]), max_size=30)


@given(lines, lines)
def test_a_full_diff_holds_both_texts(old: list[str], new: list[str]) -> None:
    diff = diff_lines("\n".join(old), "\n".join(new), context=10_000)
    if "\n".join(old).splitlines() == "\n".join(new).splitlines():
        assert diff == []
        return
    assert [d.text for d in diff if d.kind in ("same", "del")] == "\n".join(old).splitlines()
    assert [d.text for d in diff if d.kind in ("same", "add")] == "\n".join(new).splitlines()


def test_a_diff_shows_the_change_with_context_and_gaps() -> None:
    old = "\n".join(f"line {i}" for i in range(20))
    new = old.replace("line 10", "line ten")
    diff = diff_lines(old, new, context=2)
    assert [(d.kind, d.text) for d in diff] == [
        ("gap", "…"),
        ("same", "line 8"),
        ("same", "line 9"),
        ("del", "line 10"),
        ("add", "line ten"),
        ("same", "line 11"),
        ("same", "line 12"),
        ("gap", "…"),
    ]


def test_yaml_leaves_out_what_the_router_fills_in_and_orders_variants_for_reading() -> None:
    stored: dict[str, Any] = {
        "name": "cart",
        "description": "",
        "trigger": {"event_types": ["cart.abandoned"], "condition": None},
        "messages": [
            {
                "id": "m",
                "channels": ["push"],
                # PostgreSQL's JSONB order: shortest keys first.
                "variants": {
                    "red": {"sms": {"de": {"body": "b"}, "en": {"body": "a"}}, "push": {"en": {"body": "p"}}},
                    "neutral": {"push": {"en": {"body": "n", "title": None}}},
                },
            }
        ],
        "policy": {"caps_per_channel": {}, "template_traits": []},
    }
    text = spec_yaml(stored)
    assert "null" not in text
    assert "description" not in text
    assert "policy" not in text
    loaded = parse_spec_yaml(text)
    assert list(loaded["messages"][0]["variants"]) == ["neutral", "red"]
    assert list(loaded["messages"][0]["variants"]["red"]) == ["push", "sms"]
    assert list(loaded["messages"][0]["variants"]["red"]["sms"]) == ["en", "de"]


@given(
    st.recursive(
        st.none() | st.text(max_size=3) | st.integers(),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    )
)
def test_pruned_keeps_no_empty_value_in_a_mapping(value: Any) -> None:
    def check(v: Any) -> None:
        if isinstance(v, dict):
            for item in v.values():
                assert item is not None
                assert item not in ("", [], {})
                check(item)
        elif isinstance(v, list):
            for item in v:
                check(item)

    check(pruned(value))


@pytest.mark.parametrize(("text", "says"), [("name: [x", "line 1"), ("- a list", "mapping"), ("", "mapping")])
def test_unreadable_yaml_says_why(text: str, says: str) -> None:
    with pytest.raises(YamlProblem, match=says):
        parse_spec_yaml(text)
