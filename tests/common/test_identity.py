"""Identifier normalisation: one spelling per identifier, checked once per spelling."""

from __future__ import annotations

import pytest
from pydantic_core import PydanticCustomError

from metaconnect_common.identity import normalize_email, normalize_phone


def test_an_address_and_a_number_get_one_spelling() -> None:
    assert normalize_email("Ada.Lovelace@Example.COM") == "ada.lovelace@example.com"
    assert normalize_phone("+49 151 1234 5678") == "+4915112345678"


def test_a_spelling_seen_before_is_not_checked_again() -> None:
    normalize_email.cache_clear()
    for _ in range(3):
        normalize_email("grace@example.com")
    assert normalize_email.cache_info().hits == 2


def test_an_invalid_spelling_is_refused_every_time_never_remembered_as_valid() -> None:
    for _ in range(2):
        with pytest.raises(PydanticCustomError, match="not a valid email address"):
            normalize_email("grace@@example")
        with pytest.raises(PydanticCustomError, match="international format"):
            normalize_phone("0151 1234")
