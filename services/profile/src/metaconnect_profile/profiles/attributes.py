"""What a customer says about themselves in `profile.updated`: locale, time zone and traits.

* `locale`: a BCP 47 tag of language[-Script][-REGION][-variant...] (e.g. `de-DE`, `zh-Hant-TW`,
  `es-419`), stored in canonical case; at most 35 characters (the column). `null` clears it.
* `time_zone`: an IANA zone name zoneinfo knows (e.g. `Europe/Berlin`, `UTC`). `null` clears it.
* `traits`: an object merged shallowly into the stored traits (RFC 7386 at one level: a key
  with `null` is deleted, any other JSON value replaces the stored one). Keys are
  lower_snake_case; the merged result holds at most `MAX_TRAITS` keys and `MAX_TRAITS_BYTES`
  bytes as compact JSON.

Any other key, and any invalid part, is a `Problem`; one problem refuses the whole update.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import JsonValue

from metaconnect_profile.profiles.consent import Problem

MAX_TRAITS: Final = 64
MAX_TRAITS_BYTES: Final = 8 * 1024
MAX_LOCALE: Final = 35  # the `locale` column
MAX_TIME_ZONE: Final = 64  # the `time_zone` column
TRAIT_KEY: Final = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# language[-Script][-REGION][-variant...]: the BCP 47 subtags a profile locale needs.
LOCALE: Final = re.compile(r"^[a-z]{2,3}(-[a-z]{4})?(-(?:[a-z]{2}|[0-9]{3}))?(-(?:[a-z0-9]{5,8}|[0-9][a-z0-9]{3}))*$")
PROFILE_FIELDS: Final = ("locale", "time_zone", "traits")


def parse_profile_update(traits: Mapping[str, JsonValue], props: Mapping[str, Any]) -> dict[str, Any] | list[Problem]:
    """The column values `profile.updated` properties set, or every problem with them (then nothing is set)."""
    problems = [
        Problem(f"properties.{key}", "unexpected_field", f"`{key}` cannot be updated; expected {PROFILE_FIELDS}")
        for key in props
        if key not in PROFILE_FIELDS
    ]
    update: dict[str, Any] = {}
    if "locale" in props:
        update["locale"] = _locale(props["locale"], problems)
    if "time_zone" in props:
        update["time_zone"] = _time_zone(props["time_zone"], problems)
    if "traits" in props:
        update["traits"] = _traits(traits, props["traits"], problems)
    return problems or update


def _locale(value: object, problems: list[Problem]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        problems.append(Problem("properties.locale", "type", "locale must be a string or null"))
        return None
    if len(value) > MAX_LOCALE or not LOCALE.match(value.lower()):
        problems.append(
            Problem("properties.locale", "locale_format", "locale must be a BCP 47 tag such as de-DE or zh-Hant-TW")
        )
        return None
    # Canonical case: language and variants lower, Script title, REGION upper (the shapes cannot be confused).
    language, *subtags = value.lower().split("-")
    shaped = [t.title() if len(t) == 4 and t.isalpha() else t.upper() if len(t) == 2 else t for t in subtags]
    return "-".join([language, *shaped])


def _time_zone(value: object, problems: list[Problem]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        problems.append(Problem("properties.time_zone", "type", "time_zone must be a string or null"))
        return None
    if len(value) > MAX_TIME_ZONE:
        problems.append(Problem("properties.time_zone", "max_length", f"time_zone has at most {MAX_TIME_ZONE} chars"))
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # "America" is a directory, not a zone
        problems.append(
            Problem("properties.time_zone", "time_zone_unknown", f"{value!r} is not an IANA zone, e.g. Europe/Berlin")
        )
        return None
    return value


def _traits(current: Mapping[str, JsonValue], value: object, problems: list[Problem]) -> dict[str, JsonValue]:
    if not isinstance(value, dict):
        problems.append(Problem("properties.traits", "type", "traits must be an object"))
        return dict(current)
    merged = dict(current)
    for key, item in value.items():
        if not TRAIT_KEY.match(key):
            problems.append(
                Problem(f"properties.traits.{key}", "trait_key", "trait keys are lower_snake_case, at most 64 chars")
            )
        elif item is None:
            merged.pop(key, None)
        else:
            merged[key] = item
    if len(merged) > MAX_TRAITS:
        problems.append(Problem("properties.traits", "max_traits", f"a profile holds at most {MAX_TRAITS} traits"))
    size = len(json.dumps(merged, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_TRAITS_BYTES:
        problems.append(
            Problem("properties.traits", "max_bytes", f"traits would take {size} bytes; at most {MAX_TRAITS_BYTES}")
        )
    return merged
