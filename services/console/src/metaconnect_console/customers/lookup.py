"""What a search box entry may name (pure): the refs to try, in order.

Support types whatever they have: a ref as the APIs take it (`email:ada@example.com`,
`ext:crm:C-7`, the Metaconnect id), or a bare e-mail address, phone number or customer id.
A bare value is tried as each kind it could be; the profile service says which exist."""

from __future__ import annotations

import re
import uuid
from typing import Final

REF_KINDS: Final = ("cid", "email", "phone", "device", "ext")
MAX_QUERY: Final = 512
_PHONE: Final = re.compile(r"^\+?[0-9][0-9 ()./-]{5,}$")


def candidate_refs(query: str) -> list[str]:
    """The refs `query` may mean, most specific first; empty when there is nothing to look up."""
    text = query.strip()
    if not text or len(text) > MAX_QUERY:
        return []
    try:
        return [str(uuid.UUID(text))]
    except ValueError:
        pass
    kind, sep, _ = text.partition(":")
    if sep and kind in REF_KINDS:
        return [text]
    if "@" in text and " " not in text:
        return [f"email:{text}"]
    if _PHONE.match(text):
        digits = re.sub(r"[ ()./-]", "", text)
        # A number written without `+` may still be a customer id in the client's system.
        return [f"phone:{digits}", f"cid:{text}"] if digits.startswith("+") else [f"cid:{text}", f"phone:+{digits}"]
    return [f"cid:{text}"]
