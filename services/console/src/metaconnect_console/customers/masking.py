"""Identifiers as support sees them: enough to recognise a customer, too little to contact them (pure).

The profile service already masks what it answers (`a***@example.com`); the console masks again
whatever it shows, so a value reaches the page masked whoever answered it, and a masked value
masked twice stays as it was (`*` and `•` count as hidden, never as characters to show)."""

from __future__ import annotations

import uuid
from typing import Final

HIDDEN: Final = "•"
_HIDDEN_ALREADY: Final = frozenset("*•")
# Nothing to hide: a Metaconnect id names a customer but reaches no one.
_SHOWN_AS_IS: Final = frozenset({"mc", "id"})
_REF_KINDS: Final = frozenset({"cid", "email", "phone", "device", "ext", "id", "mc"})


def _shown(text: str) -> str:
    """Only characters that are really there: hidden marks stay hidden."""
    return "".join(c for c in text if c not in _HIDDEN_ALREADY)


def mask(kind: str, value: str) -> str:
    """`a•••@example.com`, `+44•••••0123`, `c-•••42`: the kind decides what stays readable.

    * e-mail: the local part's first character and the domain;
    * phone: the first three characters (`+` and the country code) and the last four digits,
      of a number of at least ten characters (fewer: the first three only);
    * anything else (customer id, external id, device token): its first and last two characters
      if it has more than eight, else its first character only."""
    if kind in _SHOWN_AS_IS:
        return value
    if kind == "email" and "@" in value:
        local, _, domain = value.rpartition("@")
        return f"{_shown(local[:1])}{HIDDEN * 3}@{domain}"
    if kind == "phone":
        tail = _shown(value[-4:]) if len(value) >= 10 else ""
        return f"{_shown(value[:3])}{HIDDEN * 5}{tail}"
    if len(value) > 8:
        return f"{_shown(value[:2])}{HIDDEN * 3}{_shown(value[-2:])}"
    return f"{_shown(value[:1])}{HIDDEN * 3}"


def mask_ref(ref: str) -> str:
    """A ref as typed (`email:ada@example.com`, `ext:crm:C-7`, a UUID) with its value masked."""
    if _is_uuid(ref):
        return ref
    kind, sep, value = ref.partition(":")
    if not sep or kind not in _REF_KINDS:
        return mask("", ref)
    if kind == "ext":
        system, sep, value = value.partition(":")
        if sep:
            return f"ext:{system}:{mask('ext', value)}"
        return f"ext:{mask('ext', system)}"
    return f"{kind}:{mask(kind, value)}"


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True
