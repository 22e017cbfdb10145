"""Previews are what a send would render: the same sandbox, layouts and limits (pure)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from metaconnect_common.schemas.interaction import Channel
from metaconnect_delivery.preview.service import PreviewIn, preview
from metaconnect_delivery.rendering.limits import PUSH_TITLE_MAX_CHARS, sms_segments


def request(*texts: dict[str, Any], data: dict[str, Any] | None = None) -> PreviewIn:
    return PreviewIn.model_validate(
        {"data": data or {}, "customer": {"first_name": "Ada", "traits": {}}, "texts": list(texts)}
    )


def test_a_push_title_is_cut_to_the_limit_a_phone_shows() -> None:
    [shown] = preview(
        request(
            {
                "tone": "red",
                "channel": "push",
                "content": {"title": "Hi {{ customer.first_name }} " + "x" * 90, "body": "{{ data.price }} EUR"},
            },
            data={"price": 12},
        ),
        max_sms_segments=6,
    ).previews
    assert shown.failure is None
    assert shown.title is not None
    assert len(shown.title) <= PUSH_TITLE_MAX_CHARS
    assert shown.title.startswith("Hi Ada x")
    assert shown.title.endswith("…")
    assert shown.body == "12 EUR"
    assert shown.cut == ["title"]
    assert shown.limits["title_chars"] == PUSH_TITLE_MAX_CHARS
    assert shown.payload_bytes is not None
    assert shown.payload_bytes < 4096


def test_an_sms_counts_its_segments_and_is_held_to_the_service_maximum() -> None:
    long = "Your cart is waiting. " * 60
    [one, held] = preview(
        request(
            {"tone": "neutral", "channel": "sms", "content": {"body": "Hello {{ customer.first_name }}"}},
            {"tone": "neutral", "channel": "sms", "content": {"body": long}},
        ),
        max_sms_segments=2,
    ).previews
    assert (one.body, one.sms_segments, one.sms_encoding) == ("Hello Ada", 1, "gsm7")
    assert held.sms_segments == 2
    assert held.body is not None
    assert held.body.endswith("...")
    assert held.cut == ["body"]


def test_a_missing_variable_names_the_field_and_the_variable_and_a_fallback_goes_out_instead() -> None:
    failing = {"tone": "blue", "channel": "email", "content": {"subject": "S", "body": "{{ data.nope }}"}}
    with_fallback = {
        "tone": "blue",
        "channel": "email",
        "content": {"subject": "S", "body": "{{ data.nope }}", "fallback": {"body": "Plain"}},
    }
    [failed, fell_back] = preview(request(failing, with_fallback), max_sms_segments=6).previews
    assert failed.failure is not None
    assert (failed.failure.reason, failed.failure.field, failed.failure.variable) == (
        "template_undefined",
        "body",
        "data.nope",
    )
    assert fell_back.failure is None
    assert fell_back.fallback is not None
    assert fell_back.body == "Plain"


def test_email_html_escapes_what_the_data_carries() -> None:
    [shown] = preview(
        request(
            {"tone": "neutral", "channel": "email", "content": {"subject": "S", "body": "{{ data.x }}"}},
            data={"x": "<script>"},
        ),
        max_sms_segments=6,
    ).previews
    assert shown.html is not None
    assert "&lt;script&gt;" in shown.html
    assert "<script>" not in shown.html


@given(st.text(min_size=1, max_size=600).filter(lambda t: "{" not in t and "%" not in t and t.strip()))
def test_an_sms_preview_never_exceeds_the_maximum_segments(text: str) -> None:
    [shown] = preview(
        request({"tone": "neutral", "channel": Channel.SMS.value, "content": {"body": text}}), max_sms_segments=3
    ).previews
    if shown.failure is None:
        assert shown.body is not None
        assert shown.sms_segments is not None
        assert sms_segments(shown.body).count == shown.sms_segments <= 3
