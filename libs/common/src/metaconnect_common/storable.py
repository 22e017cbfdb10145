"""Values PostgreSQL cannot store, found in decoded JSON, paths and query strings.

PostgreSQL refuses U+0000 in `text` and in `jsonb` strings, and JSON numbers that are not
finite (`NaN`, `Infinity`, `1e400`) would be stored as null. Every edge refuses both with a
field error (rules `null_character`, `finite_number`) instead of passing them on to a
database that fails on them later, or to a consumer that retries them.

A JSON text can hold U+0000 only as the escape `\\u0000` (a raw control character is invalid
JSON), and a number that is not finite only as `NaN`, `Infinity` or a large exponent or long
run of digits: `unstorable_json` looks for those bytes first and decodes the body only when
one is there, so a clean body costs one regular-expression scan.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from typing import Any, Final

from metaconnect_common.errors import FieldError

NULL_CHARACTER: Final = "null_character"
FINITE_NUMBER: Final = "finite_number"

# A superset of what can decode to U+0000 or a non-finite float (1e309 overflows; 1e100 is a
# harmless false alarm, as is "NaN" inside a string): a hit only means "look closer".
_SUSPECT = re.compile(rb"\\u0000|NaN|Infinity|[0-9][eE]\+?0*[1-9][0-9]{2}|[0-9]{300}")


def _shown(name: str) -> str:
    # A field name may itself hold U+0000; show it escaped, never raw.
    return name.replace("\x00", "\\u0000")


def null_character(field: str) -> FieldError:
    """The error for U+0000 in `field`."""
    return FieldError(field=_shown(field), rule=NULL_CHARACTER, message="must not contain U+0000 (null character)")


def not_finite(field: str) -> FieldError:
    """The error for a number in `field` that is not finite."""
    return FieldError(field=_shown(field), rule=FINITE_NUMBER, message="must be a finite number")


def _join(path: str, name: object) -> str:
    return f"{path}.{name}" if path else str(name)


def unstorable(value: Any, path: str = "") -> list[FieldError]:
    """Every string (or object key) holding U+0000 and every float that is not finite in a decoded
    JSON document, named by its dotted path below `path`, in document order."""
    errors: list[FieldError] = []
    pending: list[tuple[str, Any]] = [(path, value)]
    while pending:
        where, item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                errors.append(null_character(where or "body"))
        elif isinstance(item, float):
            if not math.isfinite(item):
                errors.append(not_finite(where or "body"))
        elif isinstance(item, dict):
            children = []
            for key, inner in item.items():
                child = _join(where, key)
                if isinstance(key, str) and "\x00" in key:
                    errors.append(null_character(child))
                else:
                    children.append((child, inner))
            pending.extend(reversed(children))
        elif isinstance(item, list | tuple):
            pending.extend(reversed([(_join(where, i), inner) for i, inner in enumerate(item)]))
    return errors


NUL_ESCAPE: Final = b"\\u0000"
"""The only spelling of U+0000 in valid JSON: a body without it holds no U+0000."""


def suspect(body: bytes) -> bool:
    """True when the JSON text `body` may hold U+0000 or a non-finite number (one regular
    expression scan, about 5 us for a 300-byte body; false alarms possible)."""
    return _SUSPECT.search(body) is not None


def suspect_serialized(data: bytes) -> bool:
    """`suspect` for JSON that pydantic-core wrote with `inf_nan_mode="constants"` (numbers
    already parsed, so an overflow is `Infinity`): three substring checks, for hot paths."""
    return NUL_ESCAPE in data or b"NaN" in data or b"Infinity" in data


def unstorable_json(body: bytes, path: str = "") -> list[FieldError]:
    """`unstorable` of the JSON document `body`; empty for a clean body or one that is not JSON
    (its parser reports that)."""
    if not suspect(body):
        return []
    try:
        document = json.loads(body)
    except ValueError:
        return []
    return unstorable(document, path)


def unstorable_params(section: str, params: Iterable[tuple[str, str]]) -> list[FieldError]:
    """Path or query parameters (decoded) holding U+0000, named `<section>.<name>`."""
    return [null_character(f"{section}.{name}") for name, value in params if "\x00" in name or "\x00" in value]
