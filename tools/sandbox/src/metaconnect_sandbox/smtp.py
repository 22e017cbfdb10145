"""The fake mail server: aiosmtpd on its own port, recording every message, refusing as scripted."""

from __future__ import annotations

import asyncio
import socket
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from metaconnect_sandbox.providers.common import same_secret
from metaconnect_sandbox.state import SandboxState

HOSTNAME = "sandbox.localhost"

# Enhanced status codes (RFC 3463) for the usual scripted SMTP replies.
_REPLIES = {
    421: "4.3.2 Service not available, closing transmission channel",
    450: "4.2.1 Mailbox busy, try again later",
    451: "4.3.0 Requested action aborted: local error in processing",
    452: "4.3.1 Insufficient system storage",
    550: "5.1.1 Mailbox unavailable",
    552: "5.3.4 Message size exceeds fixed limit",
    554: "5.7.1 Transaction failed",
}


def parse_mail(content: bytes) -> dict[str, Any]:
    """What a reader of `content` (an RFC 5322 message) sees: addresses, subject, text and HTML parts."""
    mail = BytesParser(_class=EmailMessage, policy=policy.default).parsebytes(content)
    text = mail.get_body(preferencelist=("plain",))
    html = mail.get_body(preferencelist=("html",))
    return {
        "from": _header(mail, "From"),
        "to": _header(mail, "To"),
        "cc": _header(mail, "Cc"),
        "subject": _header(mail, "Subject"),
        "message_id": _header(mail, "Message-ID"),
        "text": _content(text),
        "html": _content(html),
        "attachments": [part.get_filename() or "(unnamed)" for part in mail.iter_attachments()],
        "headers": {name: str(value) for name, value in mail.items()},
    }


class MailHandler:
    """aiosmtpd hooks: MAIL checks AUTH when credentials are configured; DATA records and answers."""

    def __init__(self, state: SandboxState) -> None:
        self._state = state

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        username, password = self._state.config.smtp_username, self._state.config.smtp_password
        if username is None or password is None:
            return AuthResult(success=True)  # an open sandbox takes any credentials
        ok = same_secret(auth_data.login.decode(errors="replace"), username) and same_secret(
            auth_data.password.decode(errors="replace"), password.get_secret_value()
        )
        return AuthResult(success=ok, handled=False)

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        if self._state.config.smtp_auth_required and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        state = self._state
        fault = state.faults.take("smtp")
        content = envelope.original_content or b""
        parsed = parse_mail(content)
        message = state.recorder.add(
            "smtp",
            path="smtp",
            to=envelope.rcpt_tos,
            payload={"mail_from": envelope.mail_from, "rcpt_tos": list(envelope.rcpt_tos), **parsed},
            auth_ok=bool(session.authenticated) or not state.config.smtp_auth_required,
        )
        message.fault = fault
        message.title = parsed["subject"]
        message.text = parsed["text"] or parsed["html"]
        if fault is not None and fault.delay_s is not None:
            await asyncio.sleep(fault.delay_s)
        if fault is not None and fault.smtp_code is not None:
            code = fault.smtp_code
            reply = fault.message or _REPLIES.get(code, f"{code // 100}.0.0 Scripted sandbox fault")
            message.status, message.error = code, reply
            return f"{code} {reply}"
        message.status = 250
        message.message_id = parsed["message_id"]
        return "250 Message accepted for delivery"


async def start_smtp(state: SandboxState, sock: socket.socket) -> asyncio.Server:
    """Serve SMTP on the bound `sock` in the running loop (the caller closes the server)."""
    loop = asyncio.get_running_loop()
    handler = MailHandler(state)

    def connection() -> SMTP:
        # AUTH over plain text: this is a loopback test server, there is no TLS to require.
        return SMTP(
            handler,
            hostname=HOSTNAME,
            enable_SMTPUTF8=True,
            auth_require_tls=False,
            authenticator=handler.authenticate,
            timeout=60,
            loop=loop,
        )

    return await loop.create_server(connection, sock=sock)


def _header(mail: EmailMessage, name: str) -> str | None:
    value = mail.get(name)
    return None if value is None else str(value)


def _content(part: Any) -> str | None:
    if part is None:
        return None
    content = part.get_content()
    # As sent over SMTP, lines end in CRLF; people and tests read them as plain new lines.
    return content.replace("\r\n", "\n") if isinstance(content, str) else None
