"""What the journeys API answers."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from metaconnect_common.schemas.interaction import EventType
from metaconnect_common.schemas.profiled import ProfileSnapshot
from metaconnect_router.journeys.spec import JourneySpec
from metaconnect_router.versioning import Answers, SpecOut, SpecPlan, SpecVersionOut


class JourneyOut(SpecOut[JourneySpec]):
    """A journey's current version."""


class JourneyVersionOut(SpecVersionOut[JourneySpec]):
    """One version in a journey's history."""


class JourneyPlan(SpecPlan[JourneySpec]):
    """What applying a journey would do, computed without writing (`metaconnect journeys plan`)."""


JOURNEY_ANSWERS = Answers(spec=JourneySpec, out=JourneyOut, version_out=JourneyVersionOut, plan=JourneyPlan)


class StepRunOut(BaseModel):
    """One entry of a walk's history."""

    model_config = ConfigDict(frozen=True)

    step_id: str = Field(description="The step, or `entry`, a goal's name.")
    kind: str = Field(description="entry, send, notify, wait, branch, split, update, exit, goal or end.")
    outcome: str = Field(description="What came of it: sent, bundled, dropped, held_out, waiting, event, timeout, ...")
    detail: dict[str, Any]
    at: datetime


class Waiting(BaseModel):
    """What a walk waits for at its current step."""

    model_config = ConfigDict(frozen=True)

    kind: str = Field(description="duration, until (a local time) or event.")
    until: datetime | None = Field(description="When the wait is over (or times out).")
    event_types: list[str] | None = None
    on_timeout: str | None = None


class WalkOut(BaseModel):
    """A customer's walk through a journey: where they are, what they wait for, how they got there."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    journey: str
    version: int
    status: str = Field(description="active, completed, converted or exited.")
    step_id: str | None = Field(description="Where the walk rests (or ended).")
    waiting: Waiting | None
    holdout: bool = Field(description="In the journey's control group: it walks, and is sent nothing.")
    arms: dict[str, str] = Field(description="The arm drawn at each split step it passed.")
    entered_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    history: list[StepRunOut]


class CustomerJourneys(BaseModel):
    """Every journey a customer is in or was in, newest first."""

    model_config = ConfigDict(frozen=True)

    customer_id: uuid.UUID
    walks: list[WalkOut]


class SimulatedEvent(BaseModel):
    """An event the simulated customer sends, `after` they entered."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    after: timedelta = Field(default=timedelta(0), description="After the entry (ISO 8601 duration or seconds).")
    type: EventType
    properties: dict[str, Any] = Field(default_factory=dict)
    stage: str | None = Field(default=None, description="The lifecycle stage this event moves the customer into.")

    @field_validator("after")
    @classmethod
    def _not_negative(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            raise PydanticCustomError("duration_not_negative", "must not be negative")
        return value


class JourneySimulateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, description="An existing journey (its current version)...")
    journey: JourneySpec | None = Field(default=None, description="...or a draft, as it would run if it were active.")
    profile: ProfileSnapshot = Field(description="The customer as the router would see them (`snapshot_of`).")
    customer_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    entry: SimulatedEvent = Field(description="The event the customer enters on (`after` is ignored).")
    events: list[SimulatedEvent] = Field(default_factory=list, max_length=50)
    horizon: timedelta = Field(default=timedelta(days=366), description="Stop a walk still waiting after this long.")

    @model_validator(mode="after")
    def _one_journey(self) -> JourneySimulateIn:
        if (self.name is None) == (self.journey is None):
            raise PydanticCustomError("journey_kind", "name an existing journey or post a draft `journey`, one of them")
        return self


class SimulatedStepOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    at: datetime = Field(description="On the simulated clock: waits are compressed.")
    step_id: str
    kind: str
    outcome: str
    detail: dict[str, Any] = Field(description="For a send: the tone, the channels and the decision's explanation.")


class JourneySimulateOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    journey: str
    version: int
    enters: bool = Field(description="Whether the entry event (and stage) is the journey's entry for this profile.")
    status: str = Field(description="How the walk ended (completed, converted, exited), or active: still waiting.")
    end_reason: str | None
    step_id: str | None
    holdout: bool
    steps: list[SimulatedStepOut]
