"""E-mail over SMTP (aiosmtplib): a multipart text + HTML message, STARTTLS or TLS from the URL."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import urlsplit

import aiosmtplib

from metaconnect_common.schemas import Channel
from metaconnect_delivery.config import ProviderSettings
from metaconnect_delivery.providers.base import Outgoing, SendResult, Verdict, no_address

# 4yz: the server may take it later; 5yz: never (RFC 5321 4.2.1).
TRANSIENT = range(400, 500)


class Smtp:
    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings
        self.name = settings.name
        self.channel = settings.channel
        url = urlsplit(settings.base_url)
        self._host = url.hostname or "127.0.0.1"
        self._tls = url.scheme == "smtps"
        self._port = url.port or (465 if self._tls else 25)

    async def send(self, outgoing: Outgoing) -> SendResult:
        to = list(outgoing.recipients) or ([outgoing.contact.email] if outgoing.contact.email else [])
        if not to:
            return no_address(Channel.EMAIL)
        mail = outgoing.message
        message = EmailMessage()
        message["From"] = self.settings.sender or "metaconnect@localhost"
        message["To"] = ", ".join(to)  # one transaction, a RCPT per address
        message["Subject"] = mail.subject
        message["Date"] = formatdate(localtime=False)
        message_id = make_msgid(idstring=outgoing.delivery_id.replace("-", ""), domain="metaconnect")
        message["Message-ID"] = message_id
        message["X-Metaconnect-Delivery"] = outgoing.delivery_id
        message.set_content(mail.text)
        if mail.html:
            message.add_alternative(mail.html, subtype="html")
        secret = self.settings.secret.get_secret_value() if self.settings.secret else None
        try:
            await aiosmtplib.send(
                message,
                hostname=self._host,
                port=self._port,
                use_tls=self._tls,
                start_tls=None,  # STARTTLS when the server offers it
                username=self.settings.username if secret else None,
                password=secret,
                timeout=self.settings.timeout_s,
            )
        except aiosmtplib.SMTPResponseException as exc:
            transient = exc.code in TRANSIENT
            return SendResult(
                Verdict.RETRY if transient else Verdict.PERMANENT,
                f"smtp_{exc.code}",
                exc.code,
                response={"code": exc.code},
                counts_against_provider=transient or exc.code in (530, 535),  # auth failures break every send
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            # 550/551/553 at RCPT: no such mailbox. A 4yz there is the server's trouble, not the address's.
            invalid = any(r.code in (550, 551, 553) for r in exc.recipients)
            return SendResult(Verdict.PERMANENT, "smtp_recipient_refused", address_invalid=invalid)
        except TimeoutError:
            return SendResult(Verdict.RETRY, "timeout", counts_against_provider=True)
        except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPServerDisconnected, OSError):
            return SendResult(Verdict.RETRY, "connection_refused", counts_against_provider=True)
        except aiosmtplib.SMTPException as exc:
            return SendResult(Verdict.RETRY, f"smtp_{type(exc).__name__}"[:63], counts_against_provider=True)
        return SendResult(Verdict.SENT, "accepted", 250, message_id, response={"message_id": message_id})
