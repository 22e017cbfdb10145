"""The fake SMTP server: real SMTP sessions on loopback, AUTH, parsed messages, scripted refusals."""

from __future__ import annotations

from collections.abc import AsyncIterator
from email.message import EmailMessage

import aiosmtplib
import httpx
import pytest
import pytest_asyncio

from metaconnect_sandbox import Sandbox
from tests.sandbox.conftest import SMTP_PASSWORD, SMTP_USER, make_config

pytestmark = pytest.mark.asyncio(loop_scope="module")


def mail(subject: str = "Your receipt") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Shop <shop@example.com>"
    message["To"] = "ada@example.org"
    message["Subject"] = subject
    message["Message-ID"] = "<r-1@example.com>"
    message.set_content("Thanks for your order.\n")
    message.add_alternative("<p>Thanks for your <b>order</b>.</p>\n", subtype="html")
    message.add_attachment(b"%PDF-", maintype="application", subtype="pdf", filename="receipt.pdf")
    return message


async def send(sandbox: Sandbox, message: EmailMessage, **options: object) -> None:
    await aiosmtplib.send(message, hostname="127.0.0.1", port=sandbox.smtp_port, timeout=5, **options)  # type: ignore[arg-type]


async def test_records_a_parsed_message(sandbox: Sandbox, client: httpx.AsyncClient) -> None:
    await send(sandbox, mail(), recipients=["ada@example.org", "audit@example.com"], sender="bounces@example.com")
    listed = (await client.get("/_sandbox/messages", params={"provider": "smtp", "to": "audit@example.com"})).json()
    [received] = listed["messages"]
    payload = received["payload"]
    assert received["to"] == ["ada@example.org", "audit@example.com"]
    assert (payload["mail_from"], payload["from"], payload["to"]) == (
        "bounces@example.com",
        "Shop <shop@example.com>",
        "ada@example.org",
    )
    assert (payload["subject"], payload["message_id"]) == ("Your receipt", "<r-1@example.com>")
    assert payload["text"] == "Thanks for your order.\n"
    assert payload["html"] == "<p>Thanks for your <b>order</b>.</p>\n"
    assert payload["attachments"] == ["receipt.pdf"]
    assert payload["headers"]["Message-ID"] == "<r-1@example.com>"
    assert (received["title"], received["text"], received["status"]) == (
        "Your receipt",
        "Thanks for your order.\n",
        250,
    )
    assert received["message_id"] == "<r-1@example.com>"


async def test_an_open_sandbox_takes_any_credentials(sandbox: Sandbox) -> None:
    await send(sandbox, mail(), username="anyone", password="anything")
    assert sandbox.messages("smtp")[0].auth_ok is True


async def test_scripted_refusals_are_answered_at_data_in_order(sandbox: Sandbox, client: httpx.AsyncClient) -> None:
    script = {
        "provider": "smtp",
        "responses": [{"smtp_code": 451}, {"smtp_code": 550, "message": "5.1.1 No such user"}],
    }
    assert (await client.post("/_sandbox/faults", json=script)).status_code == 200

    with pytest.raises(aiosmtplib.SMTPDataError) as transient:
        await send(sandbox, mail("one"))
    with pytest.raises(aiosmtplib.SMTPDataError) as permanent:
        await send(sandbox, mail("two"))
    await send(sandbox, mail("three"))

    assert transient.value.code == 451
    assert permanent.value.code == 550
    assert "No such user" in permanent.value.message
    assert [(m.title, m.status) for m in sandbox.messages("smtp")] == [("one", 451), ("two", 550), ("three", 250)]


async def test_a_scripted_delay_makes_a_client_time_out(sandbox: Sandbox, client: httpx.AsyncClient) -> None:
    await client.post("/_sandbox/faults", json={"provider": "smtp", "responses": [{"delay_s": 0.5}]})
    with pytest.raises(aiosmtplib.SMTPTimeoutError):
        await aiosmtplib.send(mail(), hostname="127.0.0.1", port=sandbox.smtp_port, timeout=0.2)
    await send(sandbox, mail("after"))
    assert sandbox.messages("smtp")[-1].title == "after"


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def locked() -> AsyncIterator[Sandbox]:
    async with Sandbox(make_config(smtp_auth=True)) as sb:
        yield sb


async def test_mail_without_auth_is_refused_when_credentials_are_set(locked: Sandbox) -> None:
    with pytest.raises(aiosmtplib.SMTPSenderRefused) as refused:
        await send(locked, mail())
    assert refused.value.code == 530


async def test_wrong_credentials_are_refused(locked: Sandbox) -> None:
    with pytest.raises(aiosmtplib.SMTPAuthenticationError):
        await send(locked, mail(), username=SMTP_USER, password="wrong")


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
async def test_right_credentials_are_accepted(locked: Sandbox, mechanism: str) -> None:
    locked.reset()
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=locked.smtp_port, timeout=5) as smtp:
        login = smtp.auth_plain if mechanism == "PLAIN" else smtp.auth_login
        await login(SMTP_USER, SMTP_PASSWORD)
        await smtp.send_message(mail(mechanism))
    [received] = locked.messages("smtp")
    assert (received.title, received.auth_ok) == (mechanism, True)
