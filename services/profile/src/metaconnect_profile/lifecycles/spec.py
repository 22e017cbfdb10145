"""What operators write: the deployment's lifecycle, its ordered stages and the events that move
customers into them (pure data), and its compiled form that `state.apply` moves customers by.

A lifecycle is put as JSON (`PUT /v1/lifecycle`) or applied from YAML (`metaconnect lifecycle
apply`); the same model validates both. Every problem is reported at once, each naming its
field path and rule (`duplicate_stage`, a condition's own rule such as `unknown_field`,
`string_pattern_mismatch` for an event pattern, `too_short` for no stages).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Final

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from metaconnect_common.conditions import Condition, ConditionError, parse_condition

SLUG_PATTERN: Final = r"^[a-z0-9][a-z0-9\-_]{0,62}$"
# Glob patterns over dotted event types, as a route's trigger takes them: `lead.*`.
EVENT_PATTERN: Final = r"^[a-z*][a-z0-9_*]*(\.[a-z*][a-z0-9_*]*)*$"
MOVED: Final = "lifecycle.moved"
"""The explicit move (journeys' `update` steps, CRMs): `{"stage": "<name>"}`."""
MAX_STAGES: Final = 30
MAX_TYPES_REMEMBERED: Final = 4096

Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]
EventPattern = Annotated[str, StringConstraints(pattern=EVENT_PATTERN, max_length=128)]


class EnterRule(BaseModel):
    """An interaction of one of `event_types` (for which `condition` holds) moves the customer into the stage."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_types: list[EventPattern] = Field(
        min_length=1, max_length=50, description="Dotted event types; `*` matches within one segment."
    )
    condition: Annotated[str, StringConstraints(max_length=2000)] | None = Field(
        default=None,
        description="The condition language (docs/router.md) over the event and the profile before the move.",
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


class StageSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Slug
    description: Annotated[str, StringConstraints(max_length=2000)] = ""
    enter_on: list[EnterRule] = Field(default_factory=list, max_length=50)
    allow_back: bool = Field(
        default=False, description="A customer in a later stage may be moved back into this one (a lead disqualified)."
    )


class LifecycleSpec(BaseModel):
    """The deployment's lifecycle as operators write it (the versioned part)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Slug
    description: Annotated[str, StringConstraints(max_length=2000)] = ""
    stages: list[StageSpec] = Field(
        min_length=1, max_length=MAX_STAGES, description="In order; new customers start in the first."
    )

    @model_validator(mode="wrap")
    @classmethod
    def _every_problem(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        # `-> Any`: pydantic's stubs cannot solve `-> LifecycleSpec` here (mypy infers Never).
        # Field errors and duplicate stages together: a file with several mistakes is refused once.
        errors: list[InitErrorDetails] = []
        spec: LifecycleSpec | None = None
        try:
            spec = handler(data)
        except ValidationError as exc:
            errors = [
                {"type": PydanticCustomError(e["type"], e["msg"]), "loc": e["loc"], "input": e["input"]}
                for e in exc.errors()
            ]
        stages = data.get("stages") if isinstance(data, Mapping) else None
        seen: set[str] = set()
        for index, stage in enumerate(stages if isinstance(stages, list) else ()):
            name = stage.get("name") if isinstance(stage, Mapping) else None
            if not isinstance(name, str):
                continue
            if name in seen:
                error = PydanticCustomError("duplicate_stage", "stage {name} appears twice", {"name": name})
                errors.append({"type": error, "loc": ("stages", index, "name"), "input": name})
            seen.add(name)
        if errors:
            raise ValidationError.from_exception_data("LifecycleSpec", errors)
        assert spec is not None
        return spec


def spec_document(spec: LifecycleSpec) -> dict[str, Any]:
    """The spec as stored and exported: JSON-ready, defaults included."""
    return spec.model_dump(mode="json")


def event_type_matches(pattern: str, event_type: str) -> bool:
    """Whether a pattern names this event type: `*` matches within one segment (as routes' triggers)."""
    regex = "^" + re.escape(pattern).replace(r"\*", "[a-z0-9_]*") + "$"
    return re.match(regex, event_type) is not None


# --- compiled ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rule:
    rank: int
    event_types: tuple[str, ...]
    condition: Condition | None


@dataclass(frozen=True)
class Lifecycle:
    """A lifecycle version ready to move customers: its conditions parsed once."""

    version: int
    spec: LifecycleSpec
    stages: tuple[str, ...]
    allow_back: frozenset[str]
    rules: tuple[_Rule, ...]
    # The rules naming each event type seen, so an interaction costs one lookup (bounded: cleared when full).
    _by_type: dict[str, tuple[_Rule, ...]] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def compile(cls, spec: LifecycleSpec, version: int) -> Lifecycle:
        rules = tuple(
            _Rule(rank, tuple(rule.event_types), parse_condition(rule.condition) if rule.condition else None)
            for rank, stage in enumerate(spec.stages)
            for rule in stage.enter_on
        )
        return cls(
            version=version,
            spec=spec,
            stages=tuple(s.name for s in spec.stages),
            allow_back=frozenset(s.name for s in spec.stages if s.allow_back),
            rules=rules,
        )

    def rank(self, stage: str) -> int:
        """The stage's place; a stage no longer configured ranks below every configured one."""
        return self.stages.index(stage) if stage in self.stages else -1

    def may_enter(self, current: str, target: str) -> bool:
        """Forward always; back only into an `allow_back` stage; staying is no move."""
        here, there = self.rank(current), self.rank(target)
        return there > here or (there < here and target in self.allow_back)

    def target(
        self, current: str, event_type: str, event: Mapping[str, Any], profile: Mapping[str, Any], now: datetime
    ) -> str | None:
        """The stage the interaction moves the customer into: of the stages whose rules match (pattern
        and condition) and that it may enter, the furthest; None when it moves nobody."""
        best = -1
        for rule in self.naming(event_type):
            if rule.rank <= best:
                continue
            stage = self.stages[rule.rank]
            if not self.may_enter(current, stage):
                continue
            if rule.condition is None or rule.condition.evaluate(event, profile, now):
                best = rule.rank
        return self.stages[best] if best >= 0 else None

    def needs_documents(self, event_type: str) -> bool:
        """Whether a rule with a condition names this event type (the documents are built only then)."""
        return any(r.condition is not None for r in self.naming(event_type))

    def naming(self, event_type: str) -> tuple[_Rule, ...]:
        """The rules whose patterns match this event type."""
        found = self._by_type.get(event_type)
        if found is None:
            found = tuple(r for r in self.rules if any(event_type_matches(p, event_type) for p in r.event_types))
            if len(self._by_type) >= MAX_TYPES_REMEMBERED:
                self._by_type.clear()
            self._by_type[event_type] = found
        return found


def default_spec(stages: Sequence[str], rules: Mapping[str, str]) -> LifecycleSpec:
    """A lifecycle from a stage list and `event type -> stage` rules (the settings before lifecycles)."""
    return LifecycleSpec.model_validate(
        {
            "name": "default",
            "description": "The default lifecycle.",
            "stages": [
                {"name": s, "enter_on": [{"event_types": sorted(t for t, to in rules.items() if to == s)}]}
                if any(to == s for to in rules.values())
                else {"name": s}
                for s in stages
            ],
        }
    )


# The lifecycle a deployment starts with (migration 0006 seeds it as version 1).
DEFAULT_STAGES: Final = ("lead", "qualified", "opportunity", "customer", "loyal")
DEFAULT_STAGE_RULES: Final = {
    "lead.qualified": "qualified",
    "opportunity.created": "opportunity",
    "purchase.completed": "customer",
    "loyalty.joined": "loyal",
}
DEFAULT_LIFECYCLE: Final = default_spec(DEFAULT_STAGES, DEFAULT_STAGE_RULES)
