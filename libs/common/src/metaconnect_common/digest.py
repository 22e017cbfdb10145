"""Digest wording shared by the services that build and render meta-connect bundles.

The router counts the items a bundle summarises; the delivery service says so in the
customer's language ("and 3 more").
"""

from __future__ import annotations

from typing import Final

# "and 3 more" per language; `weitere` agrees with `Nachricht` in singular and plural alike.
OVERFLOW_LINES: Final[dict[str, str]] = {"en": "and {n} more", "de": "und {n} weitere"}
FALLBACK_LANGUAGE: Final = "en"


def overflow_line(overflow: int, locale: str) -> str | None:
    """ "and 3 more" in the customer's language (`de`, `de-AT`, ...); English otherwise; None for 0."""
    if overflow < 0:
        raise ValueError(f"overflow cannot be negative, not {overflow}")
    if overflow == 0:
        return None
    language = locale.replace("_", "-").split("-", 1)[0].lower()
    template = OVERFLOW_LINES.get(language, OVERFLOW_LINES[FALLBACK_LANGUAGE])
    return template.format(n=overflow)
