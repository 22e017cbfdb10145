"""`render`: items' templates for a channel, fallback content, failures naming the item, per-channel results."""

from __future__ import annotations

from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metaconnect_common.schemas.delivery import Delivery, FallbackText, TemplateCustomer
from metaconnect_common.schemas.interaction import Channel
from metaconnect_common.templates import TEMPLATE_NAMES
from metaconnect_delivery.rendering import (
    EmailMessage,
    InAppMessage,
    PushMessage,
    Reason,
    Rendered,
    RenderFailure,
    SmsMessage,
    TemplateFailure,
    WebhookMessage,
    WhatsAppMessage,
    render,
)
from metaconnect_delivery.rendering.failures import NothingRendered
from metaconnect_delivery.rendering.render import (
    CONTENT_FALLBACKS,
    content_for,
    render_delivery,
    render_item,
    template_context,
)
from tests.delivery.rendering.conftest import CUSTOMER_ID, content, delivery, item

ALL = {
    Channel.PUSH: content("Push {{ data.name }}", "Push title"),
    Channel.SMS: content("SMS {{ data.name }}"),
    Channel.WHATSAPP: content("WhatsApp {{ data.name }}", "WA title"),
    Channel.EMAIL: content("Email {{ data.name }}", "Email title", subject="Subject {{ data.name }}"),
    Channel.IN_APP: content(
        "Inbox {{ data.name }}", "Inbox title", action_url="https://shop.test/{{ item.message_id }}"
    ),
    Channel.WEBHOOK: content("Hook {{ data.name }}"),
}
ANN = {"name": "Ann"}


def failure(subject: Delivery, channel: Channel) -> RenderFailure:
    with pytest.raises(RenderFailure) as caught:
        render(subject, channel)
    return caught.value


@pytest.mark.parametrize(
    ("channel", "kind", "text"),
    [
        (Channel.PUSH, PushMessage, "Push Ann"),
        (Channel.SMS, SmsMessage, "SMS Ann"),
        (Channel.WHATSAPP, WhatsAppMessage, "WhatsApp Ann"),
        (Channel.EMAIL, EmailMessage, "Email Ann"),
        (Channel.IN_APP, InAppMessage, "Inbox Ann"),
        (Channel.WEBHOOK, WebhookMessage, "Hook Ann"),
    ],
)
def test_each_channel_renders_its_own_content(channel: Channel, kind: type, text: str) -> None:
    message = render(delivery(item(1, ALL, data=ANN)), channel)
    assert isinstance(message, kind)
    assert text in repr(message)


def test_email_renders_subject_text_and_escaped_html() -> None:
    contents = {Channel.EMAIL: content("Hi <b>{{ data.name }}</b>", "Hello", subject="Hi\r\nBcc: {{ data.name }}")}
    message = render(delivery(item(1, contents, data={"name": "<script>x</script>"})), Channel.EMAIL)
    assert isinstance(message, EmailMessage)
    assert message.subject == "Hi Bcc: <script>x</script>"  # one header line; the mailer encodes it
    assert message.text == "Hello\nHi <b><script>x</script></b>"
    assert "Hi <b>&lt;script&gt;x&lt;/script&gt;</b>" in message.html
    assert "<script>" not in message.html


def test_templates_see_item_delivery_and_customer() -> None:
    source = (
        "{{ item.message_id }} {{ item.priority }} {{ delivery.locale }} {{ delivery.item_count }} {{ customer_id }}"
    )
    message = render(delivery(item(1, {Channel.IN_APP: content(source)}), locale="de"), Channel.IN_APP)
    assert isinstance(message, InAppMessage)
    assert message.items[0].body == f"message-1 50 de 1 {CUSTOMER_ID}"


def test_the_template_context_is_the_documented_one_and_never_personality() -> None:
    who = TemplateCustomer(first_name="Ann", locale="de-AT", time_zone="Europe/Vienna", traits={"plan": "gold"})
    first, second = item(1, ALL, data=ANN, customer=who), item(2, ALL)
    subject = delivery(first, second, bundle_id=UUID(int=5))
    context = template_context(subject, first, Channel.PUSH)
    assert set(context) == TEMPLATE_NAMES == {
        "data", "customer", "item", "items", "delivery", "channel", "customer_id"
    }  # fmt: skip
    assert context["customer"] == {
        "id": str(CUSTOMER_ID),
        "first_name": "Ann",
        "locale": "de-AT",
        "time_zone": "Europe/Vienna",
        "traits": {"plan": "gold"},
    }
    assert [i["message_id"] for i in context["items"]] == ["message-1", "message-2"]
    # Nothing of personality: not the tone the router chose, no colour, pattern or holdout anywhere.
    flat = repr(context)
    for word in ("tone", "blue", "colour", "pattern", "holdout", "personality"):
        assert word not in flat
    text = "Hi {{ customer.first_name }} ({{ customer.traits.plan }}), {{ items|length }} for you"
    message = render(delivery(item(1, {Channel.PUSH: content(text)}, customer=who)), Channel.PUSH)
    assert isinstance(message, PushMessage)
    assert message.body == "Hi Ann (gold), 1 for you"


@pytest.mark.parametrize(
    ("available", "channel", "used"),
    [
        ({Channel.IN_APP, Channel.EMAIL}, Channel.PUSH, Channel.IN_APP),
        ({Channel.SMS, Channel.EMAIL}, Channel.PUSH, Channel.SMS),
        ({Channel.EMAIL}, Channel.PUSH, Channel.EMAIL),
        ({Channel.PUSH, Channel.WHATSAPP}, Channel.SMS, Channel.PUSH),
        ({Channel.SMS, Channel.PUSH}, Channel.WHATSAPP, Channel.SMS),
        ({Channel.IN_APP, Channel.PUSH}, Channel.EMAIL, Channel.IN_APP),
        ({Channel.PUSH, Channel.SMS}, Channel.IN_APP, Channel.PUSH),
        ({Channel.EMAIL}, Channel.WEBHOOK, Channel.EMAIL),
    ],
)
def test_missing_content_falls_back_to_the_nearest_channel(
    available: set[Channel], channel: Channel, used: Channel
) -> None:
    subject = item(1, {c: ALL[c] for c in available}, data=ANN)
    assert content_for(subject, channel) == (used, ALL[used])
    rendered = render_item(delivery(subject), subject, channel)
    assert rendered.content_channel is used
    assert rendered.body.endswith("Ann")


def test_every_fallback_chain_starts_with_its_own_channel() -> None:
    assert all(chain[0] is channel for channel, chain in CONTENT_FALLBACKS.items())


def test_an_item_without_usable_content_is_left_out_naming_it() -> None:
    only_web = item(2, {Channel.WEB: content("web only")})
    rendering = render_delivery(delivery(item(1, ALL, data=ANN), only_web), Channel.PUSH)
    [failed] = rendering.dropped
    assert (failed.reason, failed.item_id) == (Reason.NO_CONTENT_FOR_CHANNEL, only_web.id)
    assert [i.item_id for i in rendering.items] == [UUID(int=1001)]
    # Webhook content is the webhook's own: nobody else borrows it.
    only_hook = item(3, {Channel.WEBHOOK: content("hook")})
    assert failure(delivery(only_hook), Channel.SMS).reason is Reason.NO_CONTENT_FOR_CHANNEL


def test_a_channel_nothing_renders_for_fails() -> None:
    assert failure(delivery(item(1, ALL)), Channel.STORE).reason is Reason.UNSUPPORTED_CHANNEL


def test_one_items_template_failure_leaves_out_that_item_only() -> None:
    broken = item(2, {Channel.PUSH: content("Only {{ data.price }}", "ok")}, data=ANN)
    rendering = render_delivery(delivery(item(1, ALL, data=ANN), broken, item(3, ALL, data=ANN)), Channel.PUSH)
    [failed] = rendering.dropped
    assert isinstance(failed, TemplateFailure)
    assert (failed.reason, failed.item_id, failed.field) == (Reason.TEMPLATE_UNDEFINED, broken.id, "body")
    assert failed.variable == "data.price"
    assert str(broken.id) in failed.message
    assert [i.item_id for i in rendering.items] == [UUID(int=1001), UUID(int=1003)]
    assert isinstance(rendering.message, PushMessage)
    assert rendering.message.title == "Push title (+1)"
    assert rendering.message.data["item_ids"] == f"{UUID(int=1001)},{UUID(int=1003)}"


def test_when_no_item_renders_the_delivery_fails_with_every_items_failure() -> None:
    broken = [item(n, {Channel.PUSH: content("Hi {{ data.nickname }}")}, data=ANN) for n in (1, 2)]
    failed = failure(delivery(*broken), Channel.PUSH)
    assert isinstance(failed, NothingRendered)
    assert [f.item_id for f in failed.dropped] == [b.id for b in broken]
    assert {f.variable for f in failed.dropped} == {"data.nickname"}


def test_a_fallback_text_goes_out_instead_of_a_failing_template() -> None:
    fallback = FallbackText(title="Your picks", body="New picks are waiting <for you>.")
    contents = {
        Channel.PUSH: content("{{ data.price }} off", "Hi", fallback=fallback),
        Channel.EMAIL: content("{{ data.price }} off", subject="Deal", fallback=fallback),
    }
    subject = delivery(item(1, contents, data=ANN))
    push = render_delivery(subject, Channel.PUSH)
    assert push.dropped == ()
    [shown] = push.items
    assert (shown.title, shown.body) == ("Your picks", "New picks are waiting <for you>.")
    assert shown.fallback is not None
    assert (shown.fallback.reason, shown.fallback.variable) == (Reason.TEMPLATE_UNDEFINED, "data.price")
    email = render(subject, Channel.EMAIL)
    assert isinstance(email, EmailMessage)
    assert "New picks are waiting &lt;for you&gt;." in email.html  # plain text, escaped in HTML
    # A template that renders never uses its fallback.
    fine = item(2, {Channel.PUSH: content("{{ data.name }}", fallback=fallback)}, data=ANN)
    assert render_delivery(delivery(fine), Channel.PUSH).items[0].fallback is None


def test_unused_fields_are_not_rendered() -> None:
    # The subject only matters to email: a broken one does not fail a push.
    contents = {Channel.PUSH: content("fine", subject="{{ broken")}
    assert isinstance(render(delivery(item(1, contents)), Channel.PUSH), PushMessage)
    assert failure(delivery(item(1, contents)), Channel.EMAIL).reason is Reason.TEMPLATE_SYNTAX


def test_an_empty_body_fails() -> None:
    blank = item(1, {Channel.SMS: content("{% if false %}x{% endif %}  ")})
    failed = failure(delivery(blank), Channel.SMS)
    assert (failed.reason, failed.field) == (Reason.EMPTY_BODY, "body")


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        " JavaScript:alert(1)",
        "java\tscript:x",
        "data:text/html,x",
        "https://x.test/a b",
        "http://[::1",
    ],
)
def test_unsafe_action_urls_fail(url: str) -> None:
    unsafe = item(1, {Channel.PUSH: content("body", action_url=url)})
    failed = failure(delivery(unsafe), Channel.PUSH)
    assert (failed.reason, failed.field) == (Reason.INVALID_ACTION_URL, "action_url")
    assert url.strip() not in failed.message


def test_bundles_keep_the_routers_order_and_say_what_overflowed() -> None:
    items = [item(n, ALL, data={"name": str(n)}, priority=p) for n, p in ((1, 10), (2, 90), (3, 50))]
    bundle = delivery(*items, overflow=3, locale="de-AT", bundle_id=UUID(int=5))
    in_app = render(bundle, Channel.IN_APP)
    assert isinstance(in_app, InAppMessage)
    assert [i.body for i in in_app.items] == ["Inbox 1", "Inbox 2", "Inbox 3"]
    assert in_app.overflow_line == "und 3 weitere"
    push = render(bundle, Channel.PUSH)
    assert isinstance(push, PushMessage)
    assert push.title == "Push title (+5)"
    assert push.body.splitlines() == [
        "• Push title: Push 1", "• Push title: Push 2", "• Push title: Push 3", "und 3 weitere"
    ]  # fmt: skip
    sms = render(bundle.model_copy(update={"locale": "en"}), Channel.SMS)
    assert isinstance(sms, SmsMessage)
    assert sms.body == "1. SMS 1\n2. SMS 2\n3. SMS 3\nand 3 more"
    email = render(bundle, Channel.EMAIL)
    assert isinstance(email, EmailMessage)
    assert email.subject == "Subject 1 (+5)"


def test_sms_respects_the_segment_cap() -> None:
    long = item(1, {Channel.SMS: content("{% for i in range(200) %}word {% endfor %}")})
    for cap in (1, 2, 5):
        message = render(delivery(long), Channel.SMS, max_sms_segments=cap)
        assert isinstance(message, SmsMessage)
        assert message.segments.count <= cap
    with pytest.raises(ValueError, match="max_sms_segments"):
        render(delivery(long), Channel.SMS, max_sms_segments=0)


_CHANNELS = [Channel.PUSH, Channel.SMS, Channel.WHATSAPP, Channel.EMAIL, Channel.IN_APP, Channel.WEBHOOK]
_PIECES = [
    "{{", "}}", "{%", "%}", "data.name", "data.x", "''.__class__", "range(10**9)", "for x in", "endfor", "|", "upper",
    " ", "\n", "€", "😀", "<b>", "&", "javascript:",
]  # fmt: skip
templates = st.lists(st.sampled_from(_PIECES) | st.text(max_size=6), max_size=12).map("".join)


@settings(max_examples=200, deadline=None)
@given(
    title=st.none() | templates,
    body=templates,
    action_url=st.none() | templates,
    channel=st.sampled_from(_CHANNELS),
    count=st.integers(1, 3),
    overflow=st.integers(0, 3),
)
def test_rendering_arbitrary_templates_returns_a_message_or_a_failure(
    title: str | None, body: str, action_url: str | None, channel: Channel, count: int, overflow: int
) -> None:
    contents = {c: content(body, title, subject=title or "s", action_url=action_url or "") for c in _CHANNELS}
    items = [item(n, contents, data={"name": "Ann <x>"}) for n in range(1, count + 1)]
    try:
        outcome: Rendered | RenderFailure = render(delivery(*items, overflow=overflow), channel, max_sms_segments=2)
    except RenderFailure as failed:
        outcome = failed
    if isinstance(outcome, RenderFailure):
        assert outcome.reason in set(Reason)
        assert outcome.item_id in {i.id for i in items} or outcome.reason is Reason.PAYLOAD_TOO_LARGE
    elif isinstance(outcome, SmsMessage):
        assert outcome.segments.count <= 2
