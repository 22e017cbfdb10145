"""What marketing ops write: a route's trigger, its messages and its policy (pure data).

A route is posted as JSON or applied from YAML (`metaconnect routes apply`); the same
models validate both, so a route file that applies is a route the API accepts.
Durations are ISO 8601 (`PT30M`, `P1D`) or seconds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import time, timedelta
from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from metaconnect_common.conditions import ConditionError, parse_condition
from metaconnect_common.schemas import Channel
from metaconnect_common.templates import template_problems, traits_used

SLUG_PATTERN: Final = r"^[a-z0-9][a-z0-9\-]{0,62}$"
# Glob patterns over dotted event types: `purchase.completed`, `message.*`.
EVENT_PATTERN: Final = r"^[a-z*][a-z0-9_*]*(\.[a-z*][a-z0-9_*]*)*$"
LOCALE_PATTERN: Final = r"^[a-z]{2,3}(-[A-Z]{2})?$"
DEFAULT_LOCALE: Final = "en"
# Mobile first; e-mail last (the product's channel doctrine).
DEFAULT_CHANNEL_ORDER: Final = (Channel.IN_APP, Channel.PUSH, Channel.WHATSAPP, Channel.SMS, Channel.EMAIL)
DELIVERABLE: Final = frozenset(DEFAULT_CHANNEL_ORDER)
# A message on the webhook notifies a system (a CRM, a member of staff), not the customer: it
# goes there alone, at once, without the customer's consent, caps, quiet hours or address.
SYSTEM_CHANNELS: Final = frozenset({Channel.WEBHOOK})

TRAIT_PATTERN: Final = r"^[a-z][a-z0-9_]{0,63}$"
TEMPLATE_FIELDS: Final = ("title", "body", "subject", "action_url")

Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]
TraitName = Annotated[str, StringConstraints(pattern=TRAIT_PATTERN)]
Locale = Annotated[str, StringConstraints(pattern=LOCALE_PATTERN)]


class RouteStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    PAUSED = "paused"


class Category(StrEnum):
    """Transactional items go out at once and ignore marketing consent and caps; marketing items bundle."""

    TRANSACTIONAL = "transactional"
    MARKETING = "marketing"


class Tone(StrEnum):
    """A message variant's tone: one per colour, and the neutral one holdout customers get."""

    NEUTRAL = "neutral"
    RED = "red"
    YELLOW = "yellow"
    GREEN = "green"
    BLUE = "blue"


class Fallback(BaseModel):
    """Plain text sent as it is when the content's templates cannot render (never a template)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: Annotated[str, StringConstraints(max_length=200)] | None = None
    body: Annotated[str, StringConstraints(min_length=1, max_length=4000)]
    subject: Annotated[str, StringConstraints(max_length=200)] | None = None
    action_url: Annotated[str, StringConstraints(max_length=2000)] | None = None


class Content(BaseModel):
    """One message text for one channel and locale; the delivery service renders it (sandboxed)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: Annotated[str, StringConstraints(max_length=200)] | None = None
    body: Annotated[str, StringConstraints(min_length=1, max_length=4000)]
    subject: Annotated[str, StringConstraints(max_length=200)] | None = None
    action_url: Annotated[str, StringConstraints(max_length=2000)] | None = None
    fallback: Fallback | None = Field(
        default=None,
        description="Sent instead when a template here cannot render (a missing `data` key, say): the item "
        "goes out with this text rather than being dropped from its delivery.",
    )


# Per channel, per locale.
VariantContent = dict[Channel, dict[Locale, Content]]


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Slug
    priority: int = Field(default=50, ge=1, le=100, description="Higher goes first.")
    category: Category = Category.MARKETING
    collapse_key: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = Field(
        default=None, description="A newer item with the same key supersedes an older one still pending."
    )
    expires_after: timedelta | None = Field(default=None, description="Not sent later than this after its event.")
    channels: list[Channel] = Field(min_length=1, description="Channels this message may go out on.")
    variants: dict[Tone, VariantContent] = Field(description="One per colour tone plus `neutral` (required).")

    @property
    def to_system(self) -> bool:
        """It notifies a system (the webhook), not the customer."""
        return bool(SYSTEM_CHANNELS.intersection(self.channels))

    @field_validator("channels")
    @classmethod
    def _deliverable(cls, channels: list[Channel]) -> list[Channel]:
        undeliverable = [c.value for c in channels if c not in DELIVERABLE | SYSTEM_CHANNELS]
        if undeliverable:
            raise PydanticCustomError(
                "channel_not_deliverable",
                "messages go out on in_app, push, whatsapp, sms, email or webhook, not {channels}",
                {"channels": ", ".join(undeliverable)},
            )
        if Channel.WEBHOOK in channels and len(channels) > 1:
            raise PydanticCustomError(
                "webhook_alone", "a webhook message notifies a system: webhook is its only channel"
            )
        if len(set(channels)) != len(channels):
            raise PydanticCustomError("duplicate_channel", "each channel at most once")
        return channels

    @field_validator("expires_after")
    @classmethod
    def _positive(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise PydanticCustomError("duration_positive", "must be a positive duration")
        return value

    @model_validator(mode="wrap")
    @classmethod
    def _variants_cover_channels(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Message:
        message: Message = every_problem(data, handler, _variant_problems)
        return message


class Cap(BaseModel):
    """At most `count` deliveries per `per` (a rolling window)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    count: int = Field(ge=1, le=1000)
    per: timedelta

    @field_validator("per")
    @classmethod
    def _window(cls, value: timedelta) -> timedelta:
        if not timedelta(minutes=1) <= value <= timedelta(days=31):
            raise PydanticCustomError("cap_window", "a cap's window lies between 1 minute and 31 days")
        return value


class QuietHours(BaseModel):
    """Local time in the customer's time zone during which marketing waits (`start` > `end` spans midnight)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: time
    end: time

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise PydanticCustomError("quiet_hours_empty", "start and end must differ")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise PydanticCustomError("quiet_hours_local", "quiet hours are local times, without an offset")
        return self


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    channel_order: list[Channel] = Field(default_factory=lambda: list(DEFAULT_CHANNEL_ORDER))
    bundle_window: timedelta = Field(default=timedelta(minutes=30))
    bundle_max_items: int = Field(default=5, ge=1, le=50)
    cap_overall: Cap | None = None
    caps_per_channel: dict[Channel, Cap] = Field(default_factory=dict)
    quiet_hours: QuietHours | None = None
    default_time_zone: str = Field(default="UTC", description="For customers whose time zone is unknown.")
    holdout_share: float = Field(
        default=0.0,
        ge=0.0,
        le=0.5,
        description="Share held out of this route's personalisation (on top of the profile's).",
    )
    exploration_share: float = Field(
        default=0.2,
        ge=0.0,
        le=0.2,
        description="At most this share of decisions tries a tone other than the best known, to keep "
        "learning; 0 always sends the best known.",
    )
    template_traits: list[TraitName] = Field(
        default_factory=list,
        max_length=50,
        description="Profile traits this route's templates may read as `customer.traits.<name>`; none by default.",
    )

    @field_validator("channel_order")
    @classmethod
    def _order(cls, channels: list[Channel]) -> list[Channel]:
        if len(set(channels)) != len(channels):
            raise PydanticCustomError("duplicate_channel", "each channel at most once")
        undeliverable = [c.value for c in channels if c not in DELIVERABLE]
        if undeliverable:
            raise PydanticCustomError(
                "channel_not_deliverable", "not a delivery channel: {channels}", {"channels": ", ".join(undeliverable)}
            )
        return channels

    @field_validator("template_traits")
    @classmethod
    def _distinct(cls, traits: list[str]) -> list[str]:
        if len(set(traits)) != len(traits):
            raise PydanticCustomError("duplicate_trait", "each trait at most once")
        return traits

    @field_validator("bundle_window")
    @classmethod
    def _window(cls, value: timedelta) -> timedelta:
        if not timedelta(0) <= value <= timedelta(days=7):
            raise PydanticCustomError("bundle_window", "a bundle window lies between 0 and 7 days")
        return value

    @field_validator("default_time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # "America" is a directory, not a zone
            raise PydanticCustomError("time_zone", "not an IANA time zone: {zone}", {"zone": value}) from None
        return value


class Trigger(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    event_types: list[Annotated[str, StringConstraints(pattern=EVENT_PATTERN, max_length=128)]] = Field(
        min_length=1, max_length=50, description="Dotted event types; `*` matches within one segment or more."
    )
    condition: Annotated[str, StringConstraints(max_length=2000)] | None = Field(
        default=None, description="A condition in the route condition language (docs/router.md)."
    )

    @field_validator("condition")
    @classmethod
    def _parses(cls, condition: str | None) -> str | None:
        if condition is not None:
            try:
                parse_condition(condition)
            except ConditionError as exc:
                raise PydanticCustomError(exc.rule, exc.message) from None
        return condition


class RouteSpec(BaseModel):
    """A route as marketing ops write it (the versioned part)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Slug = Field(description="Stable identity across versions and route files.")
    description: Annotated[str, StringConstraints(max_length=2000)] = ""
    status: RouteStatus = RouteStatus.DRAFT
    trigger: Trigger
    messages: list[Message] = Field(min_length=1, max_length=50)
    policy: Policy = Field(default_factory=Policy)

    @model_validator(mode="wrap")
    @classmethod
    def _unique_messages(cls, data: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        # `-> Any`: with an `info` argument, pydantic's stubs cannot solve `-> RouteSpec` here (mypy infers Never).
        # A stored version was checked when it was written; it is read as it is, so a route written
        # before a check existed keeps loading (its items fail one by one at delivery if they must).
        stored = isinstance(info.context, Mapping) and info.context.get(STORED)
        spec: RouteSpec = every_problem(data, handler, _duplicate_messages if stored else _written_problems)
        return spec


STORED: Final = "stored"
"""Validation context key: `RouteSpec.model_validate(doc, context=STORED_SPEC)` reads a stored version."""
STORED_SPEC: Final = {STORED: True}


Problem = tuple[tuple[str | int, ...], PydanticCustomError]
"""Where in the raw input (relative to the model), and what is wrong there."""


def every_problem(
    data: Any, handler: ValidatorFunctionWrapHandler, check: Callable[[Mapping[str, Any]], list[Problem]]
) -> Any:
    """Validate with `handler` and report the field errors and `check`'s problems together, so a
    route with several mistakes is refused once with all of them, not in rounds. `check` reads the
    raw input defensively: what it cannot read is a field error already."""
    errors: list[InitErrorDetails] = []
    model = None
    try:
        model = handler(data)
    except ValidationError as exc:
        # Re-raised as custom errors with the message already written (no context: braces stay as they are).
        errors = [
            {"type": PydanticCustomError(e["type"], e["msg"]), "loc": e["loc"], "input": e["input"]}
            for e in exc.errors()
        ]
    if isinstance(data, Mapping):
        errors += [{"type": error, "loc": loc, "input": data} for loc, error in check(data)]
    if errors:
        raise ValidationError.from_exception_data("RouteSpec", errors)
    return model


def _variant_problems(message: Mapping[str, Any]) -> list[Problem]:
    """Every variant covers exactly the message's channels, each with `en` content; `neutral` exists."""
    channels, variants = message.get("channels"), message.get("variants")
    if not isinstance(variants, Mapping):
        return []
    problems: list[Problem] = []
    if Tone.NEUTRAL.value not in variants:
        problems.append(
            (("variants",), PydanticCustomError("neutral_variant_required", "every message needs a `neutral` variant"))
        )
    allowed = [str(c) for c in channels] if isinstance(channels, list) else None
    for tone, content in variants.items():
        if not isinstance(content, Mapping):
            continue
        given = [str(c) for c, texts in content.items() if texts]
        missing = [c for c in allowed or [] if c not in given]
        if missing:
            problems.append(
                (
                    ("variants", tone),
                    PydanticCustomError(
                        "variant_missing_channel",
                        "variant {tone} has no content for {channels}",
                        {"tone": str(tone), "channels": ", ".join(missing)},
                    ),
                )
            )
        extra = [str(c) for c in content if allowed is not None and str(c) not in allowed]
        if extra:
            problems.append(
                (
                    ("variants", tone),
                    PydanticCustomError(
                        "variant_extra_channel",
                        "variant {tone} has content for {channels}, which the message does not allow",
                        {"tone": str(tone), "channels": ", ".join(extra)},
                    ),
                )
            )
        for channel, by_locale in content.items():
            if isinstance(by_locale, Mapping) and DEFAULT_LOCALE not in by_locale:
                problems.append(
                    (
                        ("variants", tone, channel),
                        PydanticCustomError(
                            "default_locale_required",
                            "variant {tone} on {channel} needs `en` content (the fallback locale)",
                            {"tone": str(tone), "channel": str(channel)},
                        ),
                    )
                )
    return problems


def _duplicate_messages(spec: Mapping[str, Any]) -> list[Problem]:
    messages = spec.get("messages")
    if not isinstance(messages, list):
        return []
    seen: set[str] = set()
    problems: list[Problem] = []
    for index, message in enumerate(messages):
        message_id = message.get("id") if isinstance(message, Mapping) else None
        if not isinstance(message_id, str):
            continue
        if message_id in seen:
            error = PydanticCustomError("duplicate_message_id", "message id {id} appears twice", {"id": message_id})
            problems.append((("messages", index, "id"), error))
        seen.add(message_id)
    return problems


def _written_problems(spec: Mapping[str, Any]) -> list[Problem]:
    return _duplicate_messages(spec) + _templates(spec)


def _templates(spec: Mapping[str, Any]) -> list[Problem]:
    """Every template compiles in the delivery service's sandbox and reads only the template context
    (and of the customer's traits only those `policy.template_traits` lists); fallbacks are plain text."""
    messages = spec.get("messages")
    if not isinstance(messages, list):
        return []
    allowed = template_traits_of(spec)
    problems: list[Problem] = []
    for index, message in enumerate(messages):
        problems += message_template_problems(message, f"route {spec.get('name')}", ("messages", index), allowed)
    return problems


def template_traits_of(spec: Mapping[str, Any]) -> set[str]:
    """The traits a raw spec's `policy.template_traits` lets templates read."""
    policy = spec.get("policy")
    listed = policy.get("template_traits", []) if isinstance(policy, Mapping) else []
    return {t for t in listed if isinstance(t, str)} if isinstance(listed, list) else set()


def message_template_problems(message: Any, owner: str, loc: tuple[str | int, ...], allowed: set[str]) -> list[Problem]:
    """The template problems of one raw message at `loc`, named as `owner`'s (a route or a journey's step)."""
    variants = message.get("variants") if isinstance(message, Mapping) else None
    if not isinstance(variants, Mapping):
        return []
    problems: list[Problem] = []
    for tone, content in variants.items():
        for channel, by_locale in content.items() if isinstance(content, Mapping) else ():
            for locale, texts in by_locale.items() if isinstance(by_locale, Mapping) else ():
                if not isinstance(texts, Mapping):
                    continue
                where = f"{owner}, message {message.get('id')}, tone {tone}, channel {channel}, locale {locale}"
                problems += _content_problems(texts, where, (*loc, "variants", tone, channel, locale), allowed)
    return problems


def _content_problems(
    texts: Mapping[str, Any], where: str, loc: tuple[str | int, ...], allowed: set[str]
) -> list[Problem]:
    problems: list[Problem] = []
    for field in TEMPLATE_FIELDS:
        source = texts.get(field)
        if not isinstance(source, str):
            continue
        for failure in template_problems(source):
            error = PydanticCustomError(
                failure.reason.value,
                "{where}, {field}: {problem}",
                {"where": where, "field": field, "problem": failure.message},
            )
            problems.append(((*loc, field), error))
        refused = sorted(traits_used(source) - allowed)
        if refused:
            error = PydanticCustomError(
                "template_trait_not_allowed",
                "{where}, {field}: customer.traits.{traits} not in policy.template_traits",
                {"where": where, "field": field, "traits": ", ".join(refused)},
            )
            problems.append(((*loc, field), error))
    fallback = texts.get("fallback")
    for field, text in fallback.items() if isinstance(fallback, Mapping) else ():
        if isinstance(text, str) and ("{{" in text or "{%" in text):
            error = PydanticCustomError(
                "fallback_plain_text",
                "{where}, fallback {field}: a fallback is sent as it is, never rendered: no template tags",
                {"where": where, "field": str(field)},
            )
            problems.append(((*loc, "fallback", field), error))
    return problems


def event_type_matches(pattern: str, event_type: str) -> bool:
    """Whether a trigger pattern names this event type: `*` matches within one segment
    (`message.*` matches `message.opened`, not `message.sent.late`)."""
    regex = "^" + re.escape(pattern).replace(r"\*", "[a-z0-9_]*") + "$"
    return re.match(regex, event_type) is not None


def spec_document(spec: RouteSpec) -> dict[str, Any]:
    """The spec as stored and exported: JSON-ready, defaults included, durations ISO 8601."""
    return spec.model_dump(mode="json")
