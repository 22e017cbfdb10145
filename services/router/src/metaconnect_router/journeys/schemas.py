"""What the journeys API answers."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

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
