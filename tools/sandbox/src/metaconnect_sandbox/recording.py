"""What the fake providers received, in order, in memory; and the callbacks they sent out."""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel

from metaconnect_sandbox.faults import Fault, Provider

# Never stored: whatever a client authenticates with.
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key", "x-auth-token"})


class ReceivedMessage(BaseModel):
    """One request a fake provider received (or one mail the SMTP server accepted or refused)."""

    id: int
    provider: Provider
    received_at: datetime
    path: str
    # Recipients: the FCM token (or topic), the Twilio/WhatsApp number, the webhook name, the mail RCPTs.
    to: list[str]
    # The parsed body: JSON as sent, Twilio's form as a dict, a mail's parsed parts.
    payload: Any
    headers: dict[str, str]
    auth_ok: bool
    # `None` while the answer waits on a scripted delay.
    status: int | None = None
    fault: Fault | None = None
    # Why the request was refused, as told to the client.
    error: str | None = None
    # The id the provider answered with (FCM name, Twilio SID, WhatsApp wamid).
    message_id: str | None = None
    # Webhook receiver only: whether `X-Metaconnect-Signature` verified (`None`: no secret configured).
    signature: str | None = None
    # For people: a title and a text, as a phone or inbox would show them.
    title: str | None = None
    text: str | None = None


class CallbackAttempt(BaseModel):
    """One status callback or webhook the sandbox posted (best-effort, recorded either way)."""

    id: int
    provider: Provider
    url: str
    event: str
    message_id: str
    sent_at: datetime
    status_code: int | None = None
    error: str | None = None


class Recorder:
    """Received messages in arrival order, with a way to wait for them (oldest dropped past `limit`)."""

    def __init__(self, limit: int) -> None:
        self._messages: deque[ReceivedMessage] = deque(maxlen=limit)
        self._callbacks: deque[CallbackAttempt] = deque(maxlen=limit)
        self._ids = itertools.count(1)
        self._arrived = asyncio.Event()

    def add(
        self,
        provider: Provider,
        *,
        path: str,
        to: Iterable[str],
        payload: Any,
        auth_ok: bool,
        headers: Mapping[str, str] | None = None,
    ) -> ReceivedMessage:
        """Store a message; the caller fills in the rest (status, error, title...) as it answers."""
        message = ReceivedMessage(
            id=next(self._ids),
            provider=provider,
            received_at=datetime.now(UTC),
            path=path,
            to=list(to),
            payload=payload,
            headers=safe_headers(headers or {}),
            auth_ok=auth_ok,
        )
        self._messages.append(message)
        # Wake every waiter; later waiters wait on a fresh event.
        self._arrived.set()
        self._arrived = asyncio.Event()
        return message

    def messages(self, provider: Provider | None = None, to: str | None = None) -> list[ReceivedMessage]:
        return [
            m for m in self._messages if (provider is None or m.provider == provider) and (to is None or to in m.to)
        ]

    async def wait(
        self, count: int, *, provider: Provider | None = None, to: str | None = None, timeout_s: float
    ) -> list[ReceivedMessage]:
        """The matching messages once there are at least `count`; `TimeoutError` after `timeout_s`."""
        async with asyncio.timeout(timeout_s):
            while len(found := self.messages(provider, to)) < count:
                await self._arrived.wait()
        return found

    def add_callback(
        self,
        provider: Provider,
        *,
        url: str,
        event: str,
        message_id: str,
        status_code: int | None,
        error: str | None,
    ) -> CallbackAttempt:
        attempt = CallbackAttempt(
            id=next(self._ids),
            provider=provider,
            url=_without_userinfo(url),
            event=event,
            message_id=message_id,
            sent_at=datetime.now(UTC),
            status_code=status_code,
            error=error,
        )
        self._callbacks.append(attempt)
        return attempt

    def callbacks(self, provider: Provider | None = None) -> list[CallbackAttempt]:
        return [c for c in self._callbacks if provider is None or c.provider == provider]

    def clear(self) -> None:
        self._messages.clear()
        self._callbacks.clear()


def safe_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers worth showing: everything but credentials."""
    return {name.lower(): value for name, value in headers.items() if name.lower() not in _SECRET_HEADERS}


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()
