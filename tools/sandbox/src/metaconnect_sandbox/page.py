"""`GET /`: what each fake provider received, newest first, for people (plain HTML, refreshes itself).

Every link on the page is a JSON endpoint of the control API (`control.py`) showing the same
thing: all messages, one provider's messages, the callbacks sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from metaconnect_sandbox.faults import PROVIDERS, Provider
from metaconnect_sandbox.recording import ReceivedMessage
from metaconnect_sandbox.state import StateDep

router = APIRouter(tags=["sandbox"])

MAX_TEXT_CHARS = 2000

MESSAGES_JSON = "/_sandbox/messages"
CALLBACKS_JSON = "/_sandbox/callbacks"

_HEADINGS: dict[Provider, str] = {
    "fcm": "Push notifications (FCM)",
    "twilio": "SMS (Twilio)",
    "whatsapp": "WhatsApp (Cloud API)",
    "webhook": "Webhooks",
    "smtp": "Email (SMTP)",
}

_STYLE = """
body { font: 15px/1.4 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #222; }
section { margin-bottom: 2rem; }
h2 small { color: #777; font-weight: normal; }
h2 a { font-size: .6em; font-weight: normal; margin-left: .5rem; }
article { border: 1px solid #ddd; border-left: 4px solid #3a7; border-radius: 4px;
          padding: .5rem .8rem; margin: .5rem 0; }
article.refused { border-left-color: #c33; }
article header { color: #666; font-size: .85em; display: flex; gap: 1rem; flex-wrap: wrap; }
article h3 { margin: .3rem 0 0; font-size: 1em; }
article p { margin: .3rem 0; white-space: pre-wrap; overflow-wrap: anywhere; }
.problem { color: #c33; }
.empty { color: #777; }
"""


def render_page(messages: Sequence[ReceivedMessage], *, refresh_s: int = 3) -> str:
    """The page listing `messages` per provider, newest first; every received value is HTML-escaped."""
    sections = "".join(
        _section(provider, [m for m in reversed(messages) if m.provider == provider]) for provider in PROVIDERS
    )
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="{refresh_s}">'
        "<title>Metaconnect provider sandbox</title>"
        f"<style>{_STYLE}</style></head><body>"
        "<h1>Metaconnect provider sandbox</h1>"
        f'<p>What the fake providers received. As JSON: <a href="{MESSAGES_JSON}">{MESSAGES_JSON}</a>; '
        f'callbacks sent: <a href="{CALLBACKS_JSON}">{CALLBACKS_JSON}</a>.</p>'
        f"{sections}</body></html>"
    )


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def page(state: StateDep) -> HTMLResponse:
    return HTMLResponse(render_page(state.recorder.messages()))


def _section(provider: Provider, messages: list[ReceivedMessage]) -> str:
    items = "".join(_card(m) for m in messages) or '<p class="empty">Nothing received yet.</p>'
    heading = f"{escape(_HEADINGS[provider])} <small>{len(messages)}</small>"
    link = f'<a href="{MESSAGES_JSON}?provider={provider}">JSON</a>'
    return f'<section id="{provider}"><h2>{heading}{link}</h2>{items}</section>'


def _card(message: ReceivedMessage) -> str:
    refused = message.status is not None and message.status >= 300  # SMTP's 250 is a success too
    status = "waiting (scripted delay)" if message.status is None else str(message.status)
    header = (
        f"<header><span>#{message.id}</span>"
        f"<time>{message.received_at:%Y-%m-%d %H:%M:%S} UTC</time>"
        f"<span>to {escape(', '.join(message.to) or '(nobody)')}</span>"
        f"<span>status {escape(status)}</span></header>"
    )
    title = f"<h3>{escape(message.title)}</h3>" if message.title else ""
    text = f"<p>{escape(_shorten(message.text))}</p>" if message.text else ""
    problems = [message.error] if message.error else []
    if not message.auth_ok:
        problems.append("credentials refused")
    if message.signature is not None:
        problems.append(f"signature {message.signature}")
    notes = f'<p class="problem">{escape("; ".join(problems))}</p>' if problems else ""
    return f'<article class="{"refused" if refused else "accepted"}">{header}{title}{text}{notes}</article>'


def _shorten(text: str) -> str:
    return text if len(text) <= MAX_TEXT_CHARS else text[: MAX_TEXT_CHARS - 1] + "…"
