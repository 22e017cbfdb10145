"""The admin forms' pure helpers: typed lists, addresses, a service's refusal, circuit badges."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metaconnect_console.admin.forms import KeyForm, circuit_badge, normalized_email, service_errors, split_list

ITEM = st.text(st.characters(blacklist_categories=["Zs", "Cc", "Zl", "Zp"], blacklist_characters=","), min_size=1)


@given(st.lists(ITEM, max_size=8), st.sampled_from([",", ", ", "\n", " ,\n "]))
def test_a_typed_list_gives_each_item_once_in_order(items: list[str], separator: str) -> None:
    assert split_list(separator.join(items)) == list(dict.fromkeys(items))


def test_a_typed_list_ignores_blank_separators() -> None:
    assert split_list(" app.* ,, purchase.completed\napp.*\n") == ["app.*", "purchase.completed"]
    assert split_list("  ") == []


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("  Vic@Example.COM ", "vic@example.com"),
        ("ana.b+ops@mail.example.org", "ana.b+ops@mail.example.org"),
        ("no-at-sign.example.com", None),
        ("two@@example.com", None),
        ("space in@example.com", None),
        ("nodot@localhost", None),
        ("", None),
        ("a@b.c" + "c" * 320, None),
    ],
)
def test_an_address_is_kept_trimmed_in_lower_case_or_refused(typed: str, kept: str | None) -> None:
    assert normalized_email(typed) == kept


@given(st.emails())
def test_every_address_is_kept_once_normalized(address: str) -> None:
    kept = normalized_email(address)
    if kept is not None:
        assert kept == address.strip().lower()
        assert normalized_email(kept) == kept


def test_a_services_refusal_names_each_form_field_and_rule() -> None:
    body = {
        "error": "validation_failed",
        "message": "request failed validation",
        "errors": [
            {"field": "event_types.1", "rule": "event_type_pattern", "message": "an event type or a prefix"},
            {"field": "event_types.3", "rule": "string_too_long", "message": "at most 128"},
            {"field": "scopes", "rule": "too_short", "message": "at least 1 item"},
        ],
    }
    message, fields = service_errors(body)
    assert message == "request failed validation"
    assert fields == {
        "event_types": "event_type_pattern: an event type or a prefix; string_too_long: at most 128",
        "scopes": "too_short: at least 1 item",
    }


@pytest.mark.parametrize("body", [None, "", "bad gateway", [1, 2], {"errors": "not a list"}])
def test_a_refusal_of_another_shape_still_reads(body: object) -> None:
    message, fields = service_errors(body)
    assert message
    assert fields == {}


@pytest.mark.parametrize(
    ("circuit", "css", "label"),
    [("closed", "ok", "closed"), ("half_open", "warn", "half-open (trying)"), ("open", "bad", "open (failing fast)"),
     (None, "", "not loaded"), ("stuck", "", "stuck")],
)  # fmt: skip
def test_each_circuit_state_has_its_badge(circuit: str | None, css: str, label: str) -> None:
    assert circuit_badge(circuit) == (css, label)


def test_a_typed_key_becomes_ingests_request_with_empty_limits_left_to_the_service() -> None:
    typed = KeyForm(
        name="ios", scopes=["events"], channels=["in_app"], event_types="app.*,\npurchase.completed", burst=" 20 "
    )
    assert typed.request() == {
        "name": "ios",
        "scopes": ["events"],
        "channels": ["in_app"],
        "event_types": ["app.*", "purchase.completed"],
        "burst": "20",
    }
    assert KeyForm().request() == {"name": "", "scopes": [], "channels": [], "event_types": []}
