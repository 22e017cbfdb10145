"""`GET /`: the page people watch in `metaconnect dev`."""

from __future__ import annotations

from html.parser import HTMLParser

import aiosmtplib
import httpx
import pytest

from metaconnect_sandbox import Sandbox
from metaconnect_sandbox.faults import PROVIDERS
from tests.sandbox.conftest import FCM_TOKEN, TWILIO_SID, TWILIO_TOKEN

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_an_empty_page_refreshes_itself(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<meta http-equiv="refresh"' in response.text
    assert response.text.count("Nothing received yet.") == 5


async def test_shows_each_providers_messages_newest_first(client: httpx.AsyncClient, sandbox: Sandbox) -> None:
    for text in ("first", "second"):
        await client.post(
            f"/twilio/2010-04-01/Accounts/{TWILIO_SID}/Messages.json",
            auth=(TWILIO_SID, TWILIO_TOKEN),
            data={"To": "+447700900123", "From": "+15005550006", "Body": f"{text} text"},
        )
    message = "From: a@example.com\r\nTo: b@example.org\r\nSubject: Welcome aboard\r\n\r\nHello\r\n"
    await aiosmtplib.send(
        message, sender="a@example.com", recipients=["b@example.org"], hostname="127.0.0.1", port=sandbox.smtp_port
    )
    page = (await client.get("/")).text
    assert page.index("second text") < page.index("first text")
    assert "to +447700900123" in page
    assert "Welcome aboard" in page
    assert "SMS (Twilio) <small>2</small>" in page


async def test_escapes_everything_received(client: httpx.AsyncClient) -> None:
    await client.post(
        "/fcm/v1/projects/proj-1/messages:send",
        headers={"Authorization": f"Bearer {FCM_TOKEN}"},
        json={
            "message": {
                "token": "<i>t</i>",
                "notification": {"title": '<script>alert("x")</script>', "body": "<b>b</b> & c"},
            }
        },
    )
    await client.post("/webhook/%3Cimg%20src%3Dx%3E", json={"type": "<u>kind</u>"})
    page = (await client.get("/")).text
    for raw in ("<script>alert", "<b>b</b>", "<i>t</i>", "<img src=x>", "<u>kind</u>"):
        assert raw not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "&lt;b&gt;b&lt;/b&gt; &amp; c" in page
    assert "to &lt;i&gt;t&lt;/i&gt;" in page
    assert "to &lt;img src=x&gt;" in page


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hrefs += [value for name, value in attrs if tag == "a" and name == "href" and value]


async def test_every_link_on_the_page_is_a_json_endpoint(client: httpx.AsyncClient) -> None:
    await client.post(
        f"/twilio/2010-04-01/Accounts/{TWILIO_SID}/Messages.json",
        auth=(TWILIO_SID, TWILIO_TOKEN),
        data={"To": "+447700900123", "From": "+15005550006", "Body": "linked"},
    )
    links = _Links()
    links.feed((await client.get("/")).text)

    assert {"/_sandbox/messages", "/_sandbox/callbacks"} <= set(links.hrefs)
    assert {f"/_sandbox/messages?provider={p}" for p in PROVIDERS} <= set(links.hrefs)
    for href in links.hrefs:
        response = await client.get(href)
        assert response.status_code == 200, href
        assert response.headers["content-type"] == "application/json", href
        assert isinstance(response.json(), dict), href
    twilio = (await client.get("/_sandbox/messages?provider=twilio")).json()["messages"]
    assert [m["text"] for m in twilio] == ["linked"]
