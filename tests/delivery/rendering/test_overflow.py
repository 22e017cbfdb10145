"""The "and 3 more" line of a digest, in the customer's language."""

from __future__ import annotations

import pytest

from metaconnect_delivery.rendering.digest import overflow_line


@pytest.mark.parametrize(
    ("overflow", "locale", "line"),
    [
        (3, "en", "and 3 more"),
        (1, "en-GB", "and 1 more"),
        (3, "de", "und 3 weitere"),
        (1, "de-AT", "und 1 weitere"),
        (12, "de_CH", "und 12 weitere"),
        (3, "fr", "and 3 more"),
        (3, "", "and 3 more"),
        (0, "de", None),
    ],
)
def test_overflow_line(overflow: int, locale: str, line: str | None) -> None:
    assert overflow_line(overflow, locale) == line


def test_overflow_line_refuses_a_negative_count() -> None:
    with pytest.raises(ValueError, match="negative"):
        overflow_line(-1, "en")
