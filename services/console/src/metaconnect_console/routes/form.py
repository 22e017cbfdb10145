"""A route as a form: the spec's fields as named inputs, and back (pure, no I/O).

Each input is named by its path in the spec (`messages.0.variants.red.push.en.body`), the same
path the router names in a 422's `errors[].field`, so each error lands at its input. Which tones,
channels and locales a message has decides which text inputs exist; changing them re-renders the
form from what was posted (nothing is lost: `spec_of(form_of(s).values) == s` for what the form shows).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

TONES: Final = ("neutral", "red", "yellow", "green", "blue")
CHANNELS: Final = ("in_app", "push", "whatsapp", "sms", "email", "webhook")
STATUSES: Final = ("draft", "active", "paused")
CATEGORIES: Final = ("marketing", "transactional")
TEXT_FIELDS: Final = ("title", "subject", "body", "action_url")
CHANNEL_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "in_app": ("title", "body", "action_url"),
    "push": ("title", "body", "action_url"),
    "whatsapp": ("title", "body"),
    "sms": ("body",),
    "email": ("subject", "body", "action_url"),
    "webhook": ("title", "body"),
}
"""The texts each channel shows; a field the spec has beyond these is shown too."""
DEFAULT_LOCALE: Final = "en"

Fields = Mapping[str, Sequence[str]]
"""A posted form: every name with its values (checkboxes send several)."""


@dataclass(frozen=True)
class MessageForm:
    index: int
    channels: tuple[str, ...]
    tones: tuple[str, ...]
    locales: tuple[str, ...]
    text_fields: dict[tuple[str, str, str], tuple[str, ...]]
    """(tone, channel, locale) -> the text inputs shown for it."""

    @property
    def prefix(self) -> str:
        return f"messages.{self.index}"


@dataclass(frozen=True)
class RouteForm:
    values: dict[str, str]
    messages: tuple[MessageForm, ...]
    hidden: dict[str, str] = field(default_factory=dict)
    """Parts of the spec the form carries unseen (fallback texts, per-channel caps) so a save keeps them."""

    def paths(self) -> set[str]:
        """Every path an error can be shown at: each input and each group of inputs."""
        found = set(self.values) | {"", "trigger", "policy", "policy.quiet_hours", "policy.cap_overall", "messages"}
        for m in self.messages:
            found |= {m.prefix, f"{m.prefix}.variants", f"{m.prefix}.channels"}
            for tone, channel, locale in m.text_fields:
                found |= {
                    f"{m.prefix}.variants.{tone}",
                    f"{m.prefix}.variants.{tone}.{channel}",
                    f"{m.prefix}.variants.{tone}.{channel}.{locale}",
                }
        return found


def new_spec() -> dict[str, Any]:
    """What a new route starts as: a draft with one message, neutral on push in English."""
    return {
        "name": "",
        "status": "draft",
        "trigger": {"event_types": []},
        "messages": [new_message(1)],
    }


def new_message(number: int) -> dict[str, Any]:
    return {"id": f"message-{number}", "channels": ["push"], "variants": {"neutral": {"push": {"en": {}}}}}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def form_of(spec: Mapping[str, Any]) -> RouteForm:
    """The inputs for a spec (as the router stores it, or as `spec_of` read it from a form)."""
    trigger = _mapping(spec.get("trigger"))
    policy = _mapping(spec.get("policy"))
    quiet, cap = _mapping(policy.get("quiet_hours")), _mapping(policy.get("cap_overall"))
    values = {
        "name": _text(spec.get("name")),
        "description": _text(spec.get("description")),
        "status": _text(spec.get("status") or "draft"),
        "trigger.event_types": "\n".join(map(str, _list(trigger.get("event_types")))),
        "trigger.condition": _text(trigger.get("condition")),
        "policy.channel_order": ", ".join(map(str, _list(policy.get("channel_order")))),
        "policy.bundle_window": _text(policy.get("bundle_window")),
        "policy.bundle_max_items": _text(policy.get("bundle_max_items")),
        "policy.cap_overall.count": _text(cap.get("count")),
        "policy.cap_overall.per": _text(cap.get("per")),
        "policy.quiet_hours.start": _text(quiet.get("start"))[:5],
        "policy.quiet_hours.end": _text(quiet.get("end"))[:5],
        "policy.default_time_zone": _text(policy.get("default_time_zone")),
        "policy.holdout_share": _text(policy.get("holdout_share")),
        "policy.exploration_share": _text(policy.get("exploration_share")),
        "policy.template_traits": ", ".join(map(str, _list(policy.get("template_traits")))),
    }
    hidden: dict[str, str] = {}
    if policy.get("caps_per_channel"):
        hidden["policy.caps_per_channel"] = json.dumps(policy["caps_per_channel"])
    messages = []
    for index, raw in enumerate(_list(spec.get("messages"))):
        message = _mapping(raw)
        prefix = f"messages.{index}"
        variants = _mapping(message.get("variants"))
        channels = tuple(str(c) for c in _list(message.get("channels")))
        tones = tuple(t for t in TONES if t in variants) + tuple(str(t) for t in variants if t not in TONES)
        locales = _locales(variants)
        values |= {
            f"{prefix}.id": _text(message.get("id")),
            f"{prefix}.priority": _text(message.get("priority")),
            f"{prefix}.category": _text(message.get("category") or "marketing"),
            f"{prefix}.collapse_key": _text(message.get("collapse_key")),
            f"{prefix}.expires_after": _text(message.get("expires_after")),
            f"{prefix}.locales": ", ".join(locales),
        }
        text_fields: dict[tuple[str, str, str], tuple[str, ...]] = {}
        for tone in tones:
            by_channel = _mapping(variants.get(tone))
            for channel in _ordered(channels, by_channel):
                for locale in locales:
                    content = _mapping(_mapping(by_channel.get(channel)).get(locale))
                    shown = CHANNEL_FIELDS.get(channel, TEXT_FIELDS)
                    names = tuple(f for f in TEXT_FIELDS if f in shown or content.get(f))
                    text_fields[tone, channel, locale] = names
                    path = f"{prefix}.variants.{tone}.{channel}.{locale}"
                    values |= {f"{path}.{name}": _text(content.get(name)) for name in names}
                    if content.get("fallback"):
                        hidden[f"{path}.fallback"] = json.dumps(content["fallback"])
        messages.append(MessageForm(index, channels, tones, locales, text_fields))
    return RouteForm(values=values, messages=tuple(messages), hidden=hidden)


def spec_of(fields: Fields) -> dict[str, Any]:
    """The spec a posted form describes, as the router takes it (blank inputs are left out, so the
    router's defaults apply; numbers stay text for the router to check and name)."""

    def one(name: str) -> str:
        given = fields.get(name) or [""]
        return given[0].strip()

    spec: dict[str, Any] = {"name": one("name"), "status": one("status") or "draft"}
    _put(spec, "description", one("description"))
    trigger: dict[str, Any] = {"event_types": _split(one("trigger.event_types"))}
    _put(trigger, "condition", one("trigger.condition"))
    spec["trigger"] = trigger
    spec["messages"] = [_message_of(fields, index, one) for index in message_indices(fields)]
    policy: dict[str, Any] = {}
    if order := _split(one("policy.channel_order")):
        policy["channel_order"] = order
    for name in ("bundle_window", "bundle_max_items", "default_time_zone", "holdout_share", "exploration_share"):
        _put(policy, name, one(f"policy.{name}"))
    if (count := one("policy.cap_overall.count")) or one("policy.cap_overall.per"):
        policy["cap_overall"] = {"count": count, "per": one("policy.cap_overall.per")}
    if (start := one("policy.quiet_hours.start")) or one("policy.quiet_hours.end"):
        policy["quiet_hours"] = {"start": start, "end": one("policy.quiet_hours.end")}
    if traits := _split(one("policy.template_traits")):
        policy["template_traits"] = traits
    if caps := _json(one("policy.caps_per_channel")):
        policy["caps_per_channel"] = caps
    if policy:
        spec["policy"] = policy
    return spec


def message_indices(fields: Fields) -> list[int]:
    found = set()
    for name in fields:
        parts = name.split(".")
        if len(parts) == 3 and parts[0] == "messages" and parts[2] == "id" and parts[1].isdigit():
            found.add(int(parts[1]))
    return sorted(found)


def _message_of(fields: Fields, index: int, one: Any) -> dict[str, Any]:
    prefix = f"messages.{index}"
    channels = [c for c in fields.get(f"{prefix}.channels", []) if c]
    tones = [t for t in fields.get(f"{prefix}.tones", []) if t]
    locales = _split(one(f"{prefix}.locales")) or [DEFAULT_LOCALE]
    message: dict[str, Any] = {"id": one(f"{prefix}.id"), "channels": channels}
    for name in ("priority", "category", "collapse_key", "expires_after"):
        _put(message, name, one(f"{prefix}.{name}"))
    variants: dict[str, Any] = {}
    for tone in tones:
        by_channel: dict[str, Any] = {}
        for channel in channels:
            by_locale: dict[str, Any] = {}
            for locale in locales:
                path = f"{prefix}.variants.{tone}.{channel}.{locale}"
                # Texts are sent as written (a leading space may be meant); blank means absent.
                content = {
                    name: text for name in TEXT_FIELDS if (text := (fields.get(f"{path}.{name}") or [""])[0]).strip()
                }
                if fallback := _json(one(f"{path}.fallback")):
                    content["fallback"] = fallback
                # Kept when blank: its inputs stay on the page, and the router names the missing body there.
                by_locale[locale] = content
            by_channel[channel] = by_locale
        variants[tone] = by_channel
    message["variants"] = variants
    return message


def with_message_added(fields: Fields) -> dict[str, Any]:
    spec = spec_of(fields)
    taken = {m.get("id") for m in spec["messages"]}
    number = next(n for n in range(1, len(taken) + 2) if f"message-{n}" not in taken)
    spec["messages"].append(new_message(number))
    return spec


def with_message_removed(fields: Fields, index: int) -> dict[str, Any]:
    spec = spec_of(fields)
    if 0 <= index < len(spec["messages"]):
        del spec["messages"][index]
    return spec


@dataclass(frozen=True)
class Problem:
    """One error the router named, as the page shows it."""

    field: str
    rule: str
    message: str


def refusal_errors(body: object, message: str) -> list[Mapping[str, Any]]:
    """The field errors of a service's refusal (its JSON `body`); one error naming no field
    (the refusal's own code and `message`) when it names none."""
    found = body if isinstance(body, dict) else {}
    errors: list[Mapping[str, Any]] = found.get("errors") or [
        {"field": "", "rule": found.get("error", "refused"), "message": message}
    ]
    return errors


def placed_by(errors: Iterable[Mapping[str, Any]], place: Callable[[str], str]) -> dict[str, list[Problem]]:
    """Each error under the input `place` names for its field path."""
    placed: dict[str, list[Problem]] = {}
    for error in errors:
        path = str(error.get("field", ""))
        placed.setdefault(place(path), []).append(Problem(path, str(error.get("rule")), str(error.get("message"))))
    return placed


def place_errors(errors: Iterable[Mapping[str, Any]], paths: set[str]) -> dict[str, list[Problem]]:
    """Each error at the deepest shown path its field lies in (its input, else the group of inputs
    around it, else "": the top of the form). Every error is placed exactly once."""
    placed: dict[str, list[Problem]] = {}
    for error in errors:
        problem = Problem(str(error.get("field", "")), str(error.get("rule", "invalid")), str(error.get("message", "")))
        parts = problem.field.split(".") if problem.field else []
        at = ""
        for end in range(len(parts), 0, -1):
            candidate = ".".join(parts[:end])
            if candidate in paths:
                at = candidate
                break
        placed.setdefault(at, []).append(problem)
    return placed


def field_id(path: str) -> str:
    """An HTML id for an input's path (ids may hold dots, but CSS selectors then need escapes):
    a dash doubled, then each dot a dash. Distinct paths get distinct ids, since no part of a
    path starts or ends with a dash (`en-GB` is one part)."""
    return "f-" + path.replace("-", "--").replace(".", "-") if path else "f-top"


def _put(target: dict[str, Any], key: str, value: str) -> None:
    if value:
        target[key] = value


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]


def _json(text: str) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _locales(variants: Mapping[str, Any]) -> tuple[str, ...]:
    found: list[str] = [DEFAULT_LOCALE]
    for by_channel in variants.values():
        for by_locale in _mapping(by_channel).values():
            found += [str(locale) for locale in _mapping(by_locale) if str(locale) not in found]
    return tuple(found)


def _ordered(channels: tuple[str, ...], given: Mapping[str, Any]) -> tuple[str, ...]:
    # The message's channels, then any a variant has beyond them (the router names those as errors).
    return channels + tuple(str(c) for c in given if str(c) not in channels)
