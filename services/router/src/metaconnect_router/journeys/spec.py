"""What marketing ops write: a journey's entry, goals and graph of steps (pure data).

A journey is posted as JSON or applied from YAML (`metaconnect journeys apply`), versioned as
routes are. Steps run in list order unless one names its `next` (a step id, or `end`):

* `send` a message (tone variants, channels) through the router's own eligibility, ranking,
  channel choice and meta-connect bundle, under the journey's `policy`;
* `wait` a `duration`, `until` a local time of day (and weekdays) in the customer's time zone,
  or for an `event` with a `timeout` that continues at `on_timeout`;
* `branch` on conditions over the event and the profile (never personality), first match wins;
* `split` at random by percentages, the arm drawn once per customer and stored;
* `update` a trait or move the lifecycle stage (an interaction the profile service applies);
* `notify` a system (the webhook provider: a CRM, a member of staff's channel);
* `exit` with a reason.

Reaching a goal (an event, or entering a stage) ends the journey as converted, wherever the
customer is in it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import time, timedelta
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

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
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from metaconnect_common.conditions import ConditionError, parse_condition
from metaconnect_common.schemas import Channel
from metaconnect_router.journeys.graph import END, graph_problems, written_problems
from metaconnect_router.routes.spec import (
    EVENT_PATTERN,
    SLUG_PATTERN,
    STORED,
    TRAIT_PATTERN,
    Category,
    Content,
    Message,
    Policy,
    RouteStatus,
    Slug,
    Tone,
    every_problem,
)

MAX_STEPS: Final = 100
MAX_WAIT: Final = timedelta(days=366)

JourneyStatus = RouteStatus
EventPattern = Annotated[str, StringConstraints(pattern=EVENT_PATTERN, max_length=128)]
ConditionText = Annotated[str, StringConstraints(max_length=2000)]
StepId = Slug
Target = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]
"""A step id, or `end`."""


def _condition(condition: str | None) -> str | None:
    if condition is not None:
        try:
            parse_condition(condition)
        except ConditionError as exc:
            raise PydanticCustomError(exc.rule, exc.message) from None
    return condition


def _duration(value: timedelta) -> timedelta:
    if not timedelta(0) < value <= MAX_WAIT:
        raise PydanticCustomError("wait_duration", "a wait lies between 1 second and 366 days")
    return value


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


WEEKDAYS: Final = tuple(Weekday)


class EventMatch(BaseModel):
    """Events of these types for which the condition holds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_types: list[EventPattern] = Field(min_length=1, max_length=50)
    condition: ConditionText | None = None

    _parses = field_validator("condition")(_condition)


class Entry(BaseModel):
    """Who enters: on an event (`event_types`), or on entering a lifecycle `stage`; either with a condition."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_types: list[EventPattern] | None = Field(default=None, min_length=1, max_length=50)
    stage: Slug | None = Field(default=None, description="Enter when the customer enters this lifecycle stage.")
    condition: ConditionText | None = None

    _parses = field_validator("condition")(_condition)

    @model_validator(mode="after")
    def _one_kind(self) -> Entry:
        if (self.event_types is None) == (self.stage is None):
            raise PydanticCustomError("entry_kind", "an entry names either event_types or a stage")
        return self


class ReEntry(StrEnum):
    NEVER = "never"  # once per customer, ever
    AFTER_EXIT = "after_exit"  # again once the last time has ended


class Goal(BaseModel):
    """Reaching it ends the journey as converted: an event (`event_types`) or entering a `stage`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Slug
    event_types: list[EventPattern] | None = Field(default=None, min_length=1, max_length=50)
    stage: Slug | None = None
    condition: ConditionText | None = None

    _parses = field_validator("condition")(_condition)

    @model_validator(mode="after")
    def _one_kind(self) -> Goal:
        if (self.event_types is None) == (self.stage is None):
            raise PydanticCustomError("goal_kind", "a goal names either event_types or a stage")
        return self


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: StepId
    next: Target | None = Field(default=None, description="The step after this one; the next in the list if unset.")


class SendStep(_Step):
    type: Literal["send"]
    message: Message


class LocalTime(BaseModel):
    """The next time it is `at` on one of `weekdays` in the customer's time zone (the policy's default if unknown)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    at: time
    weekdays: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS), min_length=1, max_length=7)

    @field_validator("at")
    @classmethod
    def _local(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise PydanticCustomError("local_time", "a local time of day, without an offset")
        return value


class WaitForEvent(EventMatch):
    timeout: timedelta
    on_timeout: Target = Field(description="Where the journey goes when the event did not come in time.")

    _bounded = field_validator("timeout")(_duration)


class WaitStep(_Step):
    type: Literal["wait"]
    duration: timedelta | None = None
    until: LocalTime | None = None
    event: WaitForEvent | None = None

    @field_validator("duration")
    @classmethod
    def _bounded(cls, value: timedelta | None) -> timedelta | None:
        return value if value is None else _duration(value)

    @model_validator(mode="after")
    def _one_kind(self) -> WaitStep:
        if sum(x is not None for x in (self.duration, self.until, self.event)) != 1:
            raise PydanticCustomError("wait_kind", "a wait has exactly one of duration, until or event")
        return self


class BranchCase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    condition: ConditionText
    next: Target

    _parses = field_validator("condition")(_condition)


class BranchStep(_Step):
    type: Literal["branch"]
    cases: list[BranchCase] = Field(min_length=1, max_length=20, description="The first whose condition holds.")
    otherwise: Target | None = Field(default=None, description="When none holds; the step's `next` if unset.")


class SplitArm(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Slug
    percent: float = Field(gt=0, le=100)
    next: Target


class SplitStep(_Step):
    type: Literal["split"]
    arms: list[SplitArm] = Field(min_length=2, max_length=10)

    @field_validator("arms")
    @classmethod
    def _whole(cls, arms: list[SplitArm]) -> list[SplitArm]:
        if abs(sum(a.percent for a in arms) - 100) > 1e-9:
            raise PydanticCustomError("split_total", "the arms' percentages add up to 100")
        if len({a.name for a in arms}) != len(arms):
            raise PydanticCustomError("duplicate_arm", "each arm name at most once")
        return arms


class UpdateStep(_Step):
    type: Literal["update"]
    traits: dict[Annotated[str, StringConstraints(pattern=TRAIT_PATTERN)], Any] | None = Field(
        default=None, max_length=20, description="Traits to set (null deletes one)."
    )
    stage: Slug | None = Field(default=None, description="Move the customer to this lifecycle stage.")

    @model_validator(mode="after")
    def _something(self) -> UpdateStep:
        if not self.traits and self.stage is None:
            raise PydanticCustomError("update_empty", "an update sets traits or a stage")
        return self


class NotifyStep(_Step):
    type: Literal["notify"]
    title: Annotated[str, StringConstraints(max_length=200)] | None = None
    body: Annotated[str, StringConstraints(min_length=1, max_length=4000)] = Field(
        description="A template, like a message's (e.g. `Hot lead: call {{ customer.first_name }} within 24 h`)."
    )

    def message(self) -> Message:
        """The webhook message the step sends: to a system, at once, whatever the customer's caps."""
        content = Content(title=self.title, body=self.body)
        return Message(
            id=self.id,
            priority=100,
            category=Category.TRANSACTIONAL,
            channels=[Channel.WEBHOOK],
            variants={Tone.NEUTRAL: {Channel.WEBHOOK: {"en": content}}},
        )


class ExitStep(_Step):
    type: Literal["exit"]
    reason: Slug = "exited"


Step = Annotated[
    SendStep | WaitStep | BranchStep | SplitStep | UpdateStep | NotifyStep | ExitStep, Field(discriminator="type")
]


class JourneySpec(BaseModel):
    """A journey as marketing ops write it (the versioned part)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Slug
    description: Annotated[str, StringConstraints(max_length=2000)] = ""
    status: JourneyStatus = JourneyStatus.DRAFT
    entry: Entry
    re_entry: ReEntry = ReEntry.AFTER_EXIT
    re_entry_after: timedelta | None = Field(
        default=None, description="At least this long between two entries of one customer."
    )
    goals: list[Goal] = Field(default_factory=list, max_length=10)
    holdout_share: float = Field(
        default=0.0,
        ge=0.0,
        le=0.5,
        description="Share of entering customers who walk the journey but are sent none of its messages: "
        "the control group its conversion is compared with.",
    )
    policy: Policy = Field(default_factory=Policy, description="Channels, bundle window, caps, quiet hours.")
    steps: list[Step] = Field(min_length=1, max_length=MAX_STEPS)

    @model_validator(mode="wrap")
    @classmethod
    def _graph(cls, data: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        stored = isinstance(info.context, Mapping) and info.context.get(STORED)
        try:
            spec: JourneySpec = every_problem(data, handler, graph_problems if stored else written_problems)
        except ValidationError as exc:
            raise ValidationError.from_exception_data("JourneySpec", [_untagged(e) for e in exc.errors()]) from None
        return spec

    def step(self, step_id: str) -> Step | None:
        return next((s for s in self.steps if s.id == step_id), None)

    def after(self, step_id: str) -> str:
        """Where the step goes when it names no `next`: the next in the list, or the end."""
        index = next(i for i, s in enumerate(self.steps) if s.id == step_id)
        step = self.steps[index]
        if step.next is not None:
            return step.next
        return self.steps[index + 1].id if index + 1 < len(self.steps) else END


_STEP_TYPES: Final = frozenset({"send", "wait", "branch", "split", "update", "notify", "exit"})


def _untagged(error: ErrorDetails) -> InitErrorDetails:
    """The error at the field as written: `steps.3.duration`, without the step type pydantic's
    tagged union puts in its path (`steps.3.wait.duration`)."""
    loc = error["loc"]
    if len(loc) > 2 and loc[0] == "steps" and loc[2] in _STEP_TYPES:
        loc = (*loc[:2], *loc[3:])
    return {"type": PydanticCustomError(error["type"], error["msg"]), "loc": loc, "input": error["input"]}


def journey_document(spec: JourneySpec) -> dict[str, Any]:
    """The spec as stored and exported: JSON-ready, defaults included, durations ISO 8601."""
    return spec.model_dump(mode="json")
