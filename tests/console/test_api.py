"""What the console shows of a service's refusal: its message, and each field with its rule."""

from __future__ import annotations

from metaconnect_console.api import Refused


def test_a_refusal_reads_the_services_error_shape() -> None:
    body = {
        "error": "validation_failed",
        "message": "the route is not valid",
        "errors": [
            {"field": "messages.0.variants.red.push.en.title", "rule": "template_syntax", "message": "unexpected end"},
            {"field": "name", "rule": "pattern", "message": "lower-case letters, digits and dashes"},
        ],
    }
    refused = Refused(422, body)
    assert refused.message.startswith("the route is not valid (messages.0.variants.red.push.en.title: unexpected end")
    assert refused.field_errors == {
        "messages.0.variants.red.push.en.title": "unexpected end (template_syntax)",
        "name": "lower-case letters, digits and dashes (pattern)",
    }


def test_a_refusal_without_the_shape_still_says_something() -> None:
    assert Refused(404, {"error": "not_found", "message": "no such key", "errors": []}).message == "no such key"
    assert Refused(400, "plain text").message == "plain text"
    assert Refused(409, None).message == "refused (409)"
    assert Refused(400, ["odd"]).field_errors == {}
