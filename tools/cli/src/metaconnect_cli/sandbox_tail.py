"""`metaconnect sandbox tail`: what the provider sandbox's fake providers received, for people.

Reads the sandbox's control API: `GET /_sandbox/messages`, and to follow, long polls on
`GET /_sandbox/messages/wait`. Shows when, which provider, to whom, the title and the text;
never headers or payloads (the sandbox stores no credentials, and nothing here prints them).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
from pydantic import ValidationError

from metaconnect_sandbox.control import MessageList
from metaconnect_sandbox.faults import Provider
from metaconnect_sandbox.recording import ReceivedMessage

# One long poll; the server allows up to 60 s.
WAIT_S = 25.0
MAX_TEXT_LINES = 4
MAX_LINE_CHARS = 160
MAX_RECIPIENT_CHARS = 32
INDENT = " " * 10


class SandboxProblem(Exception):
    """The sandbox could not be reached or answered something unexpected."""


class SandboxFeed:
    """The messages one sandbox received, optionally of one provider only."""

    def __init__(self, url: str, *, provider: Provider | None = None, timeout_s: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.provider = provider
        # Reads wait for the long poll; connecting must not.
        self._http = httpx.Client(timeout=httpx.Timeout(timeout_s, read=WAIT_S + timeout_s))

    def __enter__(self) -> SandboxFeed:
        return self

    def __exit__(self, *_: object) -> None:
        self._http.close()

    def received(self) -> list[ReceivedMessage]:
        """Everything received so far, oldest first."""
        return self._get("/_sandbox/messages", {})

    def follow(self, seen: list[ReceivedMessage]) -> Iterator[ReceivedMessage]:
        """Messages arriving after `seen`, as they arrive; never ends on its own."""
        last_id = max((m.id for m in seen), default=0)
        count = len(seen) + 1
        while True:
            found = self._get("/_sandbox/messages/wait", {"count": count, "timeout_s": WAIT_S})
            for message in found:
                # Ids only grow, also across a reset of the sandbox, which shrinks the list.
                if message.id > last_id:
                    last_id = message.id
                    yield message
            count = len(found) + 1

    def _get(self, path: str, params: dict[str, str | int | float]) -> list[ReceivedMessage]:
        if self.provider is not None:
            params = {**params, "provider": self.provider}
        try:
            response = self._http.get(f"{self.url}{path}", params=params)
        except httpx.TransportError as exc:
            raise SandboxProblem(
                f"cannot reach the provider sandbox at {self.url} ({type(exc).__name__}); "
                "is `metaconnect dev` running? (or pass --url)"
            ) from None
        # 408: the long poll timed out; its body still lists what did arrive.
        if response.status_code not in (200, 408):
            raise SandboxProblem(f"the sandbox at {self.url} answered {response.status_code}: {response.text[:200]}")
        try:
            return MessageList.model_validate_json(response.content).messages
        except ValidationError:
            raise SandboxProblem(f"{self.url} does not look like the provider sandbox") from None


def render(message: ReceivedMessage) -> str:
    """One header line (time, provider, recipients, title, outcome) and up to a few lines of text."""
    when = message.received_at.astimezone().strftime("%H:%M:%S")
    to = ", ".join(_shorten(recipient) for recipient in message.to) or "-"
    head = f"{when}  {message.provider:<8}  {to}"
    if message.title:
        head += f"  {_one_line(message.title)}"
    if message.status is None:
        head += "  [answer pending]"
    elif message.status >= 400:
        head += f"  [refused {message.status}: {_one_line(message.error or 'error')}]"
    return "\n".join([head, *(f"{INDENT}{line}" for line in _text_lines(message.text))])


def _shorten(recipient: str) -> str:
    # FCM device tokens run to ~150 characters; the ends are enough to tell them apart.
    if len(recipient) <= MAX_RECIPIENT_CHARS:
        return recipient
    return f"{recipient[:16]}…{recipient[-8:]}"


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_LINE_CHARS else flat[: MAX_LINE_CHARS - 1] + "…"


def _text_lines(text: str | None) -> list[str]:
    lines = [_one_line(line) for line in (text or "").splitlines() if line.strip()]
    if len(lines) > MAX_TEXT_LINES:
        lines = [*lines[: MAX_TEXT_LINES - 1], f"… ({len(lines) - MAX_TEXT_LINES + 1} more lines)"]
    return lines
