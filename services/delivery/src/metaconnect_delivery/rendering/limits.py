"""Per-channel limits: SMS segments, push and WhatsApp lengths, a header-safe email subject.

Texts are shortened, never split inside a user-perceived character, preferably at a word, and
end with an ellipsis. Lengths are in code points (what the providers document as "characters")
except for SMS, which counts GSM-7 septets or UTF-16 code units, and the FCM payload (bytes).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Literal

# SMS (3GPP TS 23.038 / 23.040). A part of a concatenated message gives 6 bytes to the UDH.
GSM7_BASIC: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION: Final = frozenset("\f^{}\\[~]|€")
"""Sent as ESC + char: two septets, and never split across two parts."""
GSM7_SINGLE: Final = 160
GSM7_PART: Final = 153
UCS2_SINGLE: Final = 70
UCS2_PART: Final = 67
GSM7_ELLIPSIS: Final = "..."
UCS2_ELLIPSIS: Final = "…"

# Push (FCM HTTP v1). FCM caps only the whole message (4096 bytes); the visible limits are what
# Android and iOS show before cutting: about 65 characters of title, 240 of expanded body.
PUSH_TITLE_MAX_CHARS: Final = 65
PUSH_BODY_MAX_CHARS: Final = 240
FCM_MAX_PAYLOAD_BYTES: Final = 4096

# WhatsApp Cloud API: a text message body, and a template's text parameter.
WHATSAPP_TEXT_MAX_CHARS: Final = 4096
WHATSAPP_PARAMETER_MAX_CHARS: Final = 1024
WHATSAPP_LINE_SEPARATOR: Final = " · "

# Email (RFC 5322 2.1.1): a header line is at most 998 characters; the subject stays one line.
EMAIL_SUBJECT_MAX_CHARS: Final = 998

ELLIPSIS: Final = "…"

Encoding = Literal["gsm7", "ucs2"]


@dataclass(frozen=True)
class Segments:
    encoding: Encoding
    count: int
    """Parts on the wire; an empty text still takes one."""
    units: int
    """Septets (GSM-7, extension characters count two) or UTF-16 code units (UCS-2)."""


def sms_encoding(text: str) -> Encoding:
    return "gsm7" if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text) else "ucs2"


def _costs(text: str, encoding: Encoding) -> list[int]:
    if encoding == "gsm7":
        return [2 if ch in GSM7_EXTENSION else 1 for ch in text]
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]  # astral: a surrogate pair


def split_sms(text: str) -> tuple[str, ...]:
    """The parts a carrier receives: no escape sequence and no surrogate pair split between two."""
    encoding = sms_encoding(text)
    costs = _costs(text, encoding)
    if sum(costs) <= (GSM7_SINGLE if encoding == "gsm7" else UCS2_SINGLE):
        return (text,)
    capacity = GSM7_PART if encoding == "gsm7" else UCS2_PART
    parts: list[str] = []
    start = used = 0
    for index, cost in enumerate(costs):
        if used + cost > capacity:
            parts.append(text[start:index])
            start, used = index, 0
        used += cost
    parts.append(text[start:])
    return tuple(parts)


def sms_segments(text: str) -> Segments:
    encoding = sms_encoding(text)
    return Segments(encoding=encoding, count=len(split_sms(text)), units=sum(_costs(text, encoding)))


def truncate_sms(text: str, max_segments: int) -> str:
    """`text` in at most `max_segments` parts, cut at a word with an ellipsis of its own encoding.

    A GSM-7 text ends in "..." and stays GSM-7 (a "…" would turn it into UCS-2 and shrink every
    part to 67); a UCS-2 text ends in "…".
    """
    if max_segments < 1:
        raise ValueError(f"max_segments must be >= 1, not {max_segments}")
    if sms_segments(text).count <= max_segments:
        return text
    ellipsis = GSM7_ELLIPSIS if sms_encoding(text) == "gsm7" else UCS2_ELLIPSIS
    return _cut(text, lambda candidate: sms_segments(candidate).count <= max_segments, ellipsis)


def truncate(text: str, max_chars: int, *, ellipsis: str = ELLIPSIS) -> str:
    """At most `max_chars` code points, cut between graphemes (at a word if one is near)."""
    if len(text) <= max_chars:
        return text
    if max_chars <= len(ellipsis):
        return ellipsis[:max_chars]
    return _cut(text, lambda candidate: len(candidate) <= max_chars, ellipsis)


def truncate_to_fit(text: str, fits: Callable[[str], bool], *, ellipsis: str = ELLIPSIS) -> str:
    """The longest cut of `text` (plus ellipsis) that `fits`; `fits` must be monotone in length."""
    return text if fits(text) else _cut(text, fits, ellipsis)


def fcm_payload_bytes(title: str | None, body: str, data: Mapping[str, str]) -> int:
    """UTF-8 size of the notification and data FCM counts against its 4096-byte limit."""
    notification = {"body": body} if title is None else {"title": title, "body": body}
    payload = {"notification": notification, "data": dict(data)}
    return len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode())


def whatsapp_parameter(text: str) -> str:
    """A template text parameter: one line, no tabs, no runs of spaces, at most 1024 characters.

    Meta rejects parameters with newlines, tabs or more than four consecutive spaces; lines are
    joined with " · " so a multi-line text still reads as separate statements.
    """
    lines = (_SPACES.sub(" ", line).strip() for line in text.splitlines())
    joined = WHATSAPP_LINE_SEPARATOR.join(line for line in lines if line)
    return truncate(joined, WHATSAPP_PARAMETER_MAX_CHARS)


def email_subject(text: str) -> str:
    """One header-safe line: CR, LF and every other control or line-breaking character become a
    space (a rendered subject must not inject headers), at most 998 characters."""
    single = _SPACES.sub(" ", _LINE_BREAKS_AND_CONTROLS.sub(" ", text)).strip()
    return truncate(single, EMAIL_SUBJECT_MAX_CHARS)


def one_line(text: str) -> str:
    """Line breaks and runs of whitespace as single spaces (a digest line)."""
    return " ".join(text.split())


_SPACES = re.compile(r"[ \t]+")
_LINE_BREAKS_AND_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def _cut(text: str, fits: Callable[[str], bool], ellipsis: str) -> str:
    # `fits` is monotone in the prefix, so binary-search the grapheme boundaries, then step back
    # to a word boundary when one lies in the last third.
    bounds = grapheme_boundaries(text)
    low, high = 0, len(bounds) - 1  # bounds[0] == 0
    while low < high:
        middle = (low + high + 1) // 2
        if fits(text[: bounds[middle]].rstrip() + ellipsis):
            low = middle
        else:
            high = middle - 1
    end = bounds[low]
    space = max((i for i in range(end) if text[i].isspace()), default=-1)
    if space >= end * 2 // 3 and space > 0:
        end = space
    prefix = text[:end].rstrip().rstrip(",;:-–—")  # noqa: RUF001 (dashes before an ellipsis read badly)
    return prefix + ellipsis


_ZWJ: Final = "\u200d"


def grapheme_boundaries(text: str) -> list[int]:
    """Offsets where a user-perceived character starts, plus len(text).

    An approximation of UAX #29 that covers what messages carry: combining marks, variation
    selectors, emoji modifiers, tags, ZWJ sequences, flag pairs and CR LF stay together.
    ASCII text has none of them but CR LF: every other character is a grapheme of its own.
    """
    if text.isascii():
        inner = (i for i in range(1, len(text)) if text[i - 1 : i + 1] != "\r\n")
        return [0, *inner, len(text)] if text else [0]
    return _boundaries(text)


def _boundaries(text: str) -> list[int]:
    bounds = [0]
    regional = 0
    for index in range(1, len(text)):
        previous, current = text[index - 1], text[index]
        regional = regional + 1 if _is_regional(previous) else 0
        joined = (
            _extends(current)
            or previous == _ZWJ
            or (previous == "\r" and current == "\n")
            or (_is_regional(current) and regional % 2 == 1)
        )
        if not joined:
            bounds.append(index)
    if text:
        bounds.append(len(text))
    return bounds


def _extends(ch: str) -> bool:
    code = ord(ch)
    return (
        ch == _ZWJ
        or unicodedata.category(ch) in ("Mn", "Me", "Mc")
        or 0xFE00 <= code <= 0xFE0F  # variation selectors
        or 0x1F3FB <= code <= 0x1F3FF  # emoji skin tone modifiers
        or 0xE0020 <= code <= 0xE007F  # tags (subdivision flags)
        or 0xE0100 <= code <= 0xE01EF
    )


def _is_regional(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF
