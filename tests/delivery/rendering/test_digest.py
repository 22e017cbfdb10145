"""Channel layouts: one item as itself, a bundle as a digest in order with its overflow line."""

from __future__ import annotations

import json
from uuid import UUID

import pytest

from metaconnect_delivery.rendering import digest as layouts
from metaconnect_delivery.rendering.limits import (
    FCM_MAX_PAYLOAD_BYTES,
    PUSH_BODY_MAX_CHARS,
    PUSH_TITLE_MAX_CHARS,
    WHATSAPP_TEXT_MAX_CHARS,
    fcm_payload_bytes,
    sms_segments,
)
from tests.delivery.rendering.conftest import DELIVERY_ID, digest, rendered

THREE = (rendered(1), rendered(2, title=None, body="Second body\nwith a line break"), rendered(3))


def test_push_single_item() -> None:
    url = "https://shop.test/o/1"
    push = layouts.push(digest(rendered(1, action_url=url)))
    assert (push.title, push.body) == ("Title 1", "Body 1")
    assert push.data == {"delivery_id": str(DELIVERY_ID), "item_ids": str(UUID(int=1001)), "action_url": url}


def test_push_single_item_is_cut_to_the_visible_limits() -> None:
    push = layouts.push(digest(rendered(1, title="T" * 100, body="word " * 100)))
    assert push.title is not None
    assert len(push.title) == PUSH_TITLE_MAX_CHARS
    assert len(push.body) <= PUSH_BODY_MAX_CHARS
    assert push.body.endswith("word…")


@pytest.mark.parametrize(
    ("locale", "more"), [("en", "and 2 more"), ("de", "und 2 weitere"), ("de-CH", "und 2 weitere")]
)
def test_push_digest_in_order_with_the_overflow_line(locale: str, more: str) -> None:
    bundle = UUID(int=77)
    push = layouts.push(digest(*THREE, overflow=2, locale=locale, bundle_id=bundle))
    assert push.title == "Title 1 (+4)"
    assert push.body == f"• Title 1: Body 1\n• Second body with a line break\n• Title 3: Body 3\n{more}"
    assert push.data["item_ids"] == ",".join(str(UUID(int=n)) for n in (1001, 1002, 1003))
    assert push.data["bundle_id"] == str(bundle)
    assert "action_url" not in push.data  # a digest opens the inbox


def test_push_digest_moves_what_does_not_fit_into_the_overflow() -> None:
    items = [rendered(n, title=f"Headline number {n} " + "x" * 40) for n in range(1, 7)]
    push = layouts.push(digest(*items, overflow=1))
    lines = push.body.split("\n")
    assert len(push.body) <= PUSH_BODY_MAX_CHARS
    assert lines[-1] == f"and {1 + 6 - (len(lines) - 1)} more"
    assert [line[:20] for line in lines[:-1]] == [f"• Headline number {n} "[:20] for n in range(1, len(lines))]
    assert push.title is not None
    assert push.title.endswith("(+6)")
    assert len(push.title) <= PUSH_TITLE_MAX_CHARS


def test_push_payload_stays_under_the_fcm_limit() -> None:
    push = layouts.push(digest(rendered(1, title="ж" * 65, body="\U0001f600" * 240)))
    assert fcm_payload_bytes(push.title, push.body, push.data) <= FCM_MAX_PAYLOAD_BYTES


def test_sms_single_item_keeps_title_and_link() -> None:
    url = "https://shop.test/o/1"
    sms = layouts.sms(digest(rendered(1, body="word " * 200, action_url=url)), max_segments=2)
    assert sms.body.startswith("Title 1\nword word")
    assert sms.body.endswith(f"...\n{url}")
    assert (sms.segments.encoding, sms.segments.count) == ("gsm7", 2)
    assert sms.segments == sms_segments(sms.body)


def test_sms_digest_is_numbered_and_fits_its_segments() -> None:
    sms = layouts.sms(digest(*THREE, overflow=1, locale="de"), max_segments=3)
    assert sms.body == "1. Title 1: Body 1\n2. Second body with a line break\n3. Title 3: Body 3\nund 1 weitere"
    items = [rendered(n, title=f"Headline {n} " + "y" * 60) for n in range(1, 11)]
    tight = layouts.sms(digest(*items), max_segments=1)
    assert tight.segments.count == 1
    assert tight.body.startswith("1. Headline 1 ")
    assert tight.body.splitlines()[-1].startswith("and ")


def test_sms_digest_of_one_huge_line_is_cut() -> None:
    sms = layouts.sms(digest(rendered(1, title="z" * 900), overflow=4), max_segments=1)
    assert sms.segments.count == 1
    assert sms.body.endswith("...\nand 4 more")


def test_whatsapp_single_and_digest() -> None:
    url = "https://shop.test/o/1"
    single = layouts.whatsapp(digest(rendered(1, body="Line one\nLine two", action_url=url)))
    assert single.text == f"*Title 1*\nLine one\nLine two\n{url}"
    assert single.template_parameter == f"*Title 1* · Line one · Line two · {url}"
    bundle = layouts.whatsapp(digest(*THREE, overflow=3))
    assert bundle.text == "1. *Title 1*: Body 1\n2. Second body with a line break\n3. *Title 3*: Body 3\nand 3 more"
    assert "\n" not in bundle.template_parameter


def test_whatsapp_long_body_is_cut_and_keeps_its_link() -> None:
    url = "https://shop.test/o/1"
    message = layouts.whatsapp(digest(rendered(1, body="word " * 2000, action_url=url)))
    assert len(message.text) <= WHATSAPP_TEXT_MAX_CHARS
    assert message.text.endswith(f"…\n{url}")
    assert len(message.template_parameter) <= 1024


def test_email_single_item() -> None:
    mail = layouts.email(digest(rendered(1, subject="Your order", html_body="<b>Body</b> 1")))
    assert mail.subject == "Your order"
    assert mail.text == "Title 1\nBody 1"
    assert '<html lang="en">' in mail.html
    assert "<h2>Title 1</h2>" in mail.html
    assert "<b>Body</b> 1" in mail.html


def test_email_digest_subject_counts_the_others_and_sections_keep_the_order() -> None:
    items = (
        rendered(1, title="A <1>", action_url='https://x.test/?a=1&b="2"'),
        rendered(2, title=None),
        rendered(3, title="C"),
    )
    mail = layouts.email(digest(*items, overflow=2, locale="de"))
    assert mail.subject == "A <1> (+4)"
    assert mail.text == 'A <1>\nBody 1\nhttps://x.test/?a=1&b="2"\n\nBody 2\n\nC\nBody 3\n\nund 2 weitere'
    assert mail.html.index("A &lt;1&gt;") < mail.html.index("Body 2") < mail.html.index("<h2>C</h2>")
    assert 'href="https://x.test/?a=1&amp;b=&#34;2&#34;"' in mail.html
    assert "<p>und 2 weitere</p>" in mail.html
    assert "<title>A &lt;1&gt; (+4)</title>" in mail.html


def test_email_subject_falls_back_to_title_then_body() -> None:
    assert layouts.email(digest(rendered(1, title="Hello\r\nBcc: x@y.z"))).subject == "Hello Bcc: x@y.z"
    untitled = layouts.email(digest(rendered(1, title=None, body="First line\n" + "more " * 40)))
    assert untitled.subject.startswith("First line more")
    assert len(untitled.subject) <= layouts.SUBJECT_FROM_BODY_MAX_CHARS


def test_in_app_lists_the_items_in_order() -> None:
    message = layouts.in_app(digest(*THREE, overflow=5, locale="de"))
    assert [i.item_id for i in message.items] == [UUID(int=n) for n in (1001, 1002, 1003)]
    assert message.items[1].title is None
    assert message.items[1].body == "Second body\nwith a line break"  # in-app shows the body as written
    assert (message.overflow, message.overflow_line) == (5, "und 5 weitere")
    assert layouts.in_app(digest(rendered(1))).overflow_line is None


def test_webhook_payload_is_json() -> None:
    message = layouts.webhook(digest(*THREE, overflow=1, bundle_id=UUID(int=9)))
    payload = json.loads(json.dumps(message.payload))
    assert payload["delivery_id"] == str(DELIVERY_ID)
    assert payload["bundle_id"] == str(UUID(int=9))
    assert [i["message_id"] for i in payload["items"]] == ["message-1", "message-2", "message-3"]
    assert payload["overflow_line"] == "and 1 more"
    assert "data" not in payload["items"][0]


LONG = "Your parcel left our warehouse this morning and arrives on Friday between 9 and 12. " * 3


@pytest.mark.parametrize("count", [2, 3, 5])
def test_push_digest_shows_each_items_title_and_short_body_within_limits(count: int) -> None:
    items = [rendered(n, title=f"Order {n} shipped", body=LONG) for n in range(1, count + 1)]
    push = layouts.push(digest(*items))
    lines = push.body.split("\n")
    assert len(push.body) <= PUSH_BODY_MAX_CHARS
    shown = [line for line in lines if line.startswith("• ")]
    assert shown, push.body
    for number, line in enumerate(shown, start=1):
        assert line.startswith(f"• Order {number} shipped: Your parcel")  # title and the start of the body
        assert line.endswith("…")
    assert len(shown) + (int(lines[-1].split()[1]) if lines[-1].startswith("and ") else 0) == count


def test_sms_digest_shows_each_items_body_within_its_segments() -> None:
    items = [rendered(n, title=f"Order {n}", body=LONG) for n in range(1, 4)]
    for cap in (1, 2, 3):
        sms = layouts.sms(digest(*items), max_segments=cap)
        assert sms.segments.count <= cap
        assert sms.body.startswith("1. Order 1: Your parcel")
        assert sms.segments.encoding == "gsm7"  # a GSM-7 ellipsis keeps it GSM-7


def test_email_digest_heads_each_section_with_the_items_subject() -> None:
    items = [rendered(n, title=None, subject=f"Subject {n}", body=f"Body {n}") for n in (1, 2)]
    email = layouts.email(digest(*items))
    assert email.subject == "Subject 1 (+1)"
    assert email.text == "Subject 1\nBody 1\n\nSubject 2\nBody 2"
    assert "<h2>Subject 1</h2>" in email.html
    assert "<h2>Subject 2</h2>" in email.html
