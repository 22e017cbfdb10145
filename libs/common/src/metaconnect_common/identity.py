"""Normalisation of customer identifiers: one spelling per identifier, everywhere."""

from __future__ import annotations

import functools

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic_core import PydanticCustomError

# Every event of a customer carries the same address and number, and each service parses them
# again (ingest, then the profile's and the router's records): the checks are cached by spelling.
_CACHED = 65_536


@functools.lru_cache(maxsize=_CACHED)
def normalize_email(value: str) -> str:
    """Lower-cased, syntax-checked address (no DNS lookup: ingest never leaves the box)."""
    try:
        info = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise PydanticCustomError("email", "not a valid email address: {reason}", {"reason": str(exc)}) from None
    return info.normalized.lower()


@functools.lru_cache(maxsize=_CACHED)
def normalize_phone(value: str) -> str:
    """E.164 (`+4915112345678`); numbers must carry their country code."""
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise PydanticCustomError(
            "phone_e164", "phone number must be in international format, e.g. +4915112345678"
        ) from None
    if not phonenumbers.is_possible_number(number):
        raise PydanticCustomError("phone_e164", "not a possible phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
