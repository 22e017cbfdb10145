"""Evidence records: everything the estimate is computed from, as plain rows.

The profile service stores each record as it arrives and recomputes the estimate with
`estimate(evidence, now)`; nothing else is state. So an objection to behavioural
profiling is "delete every `BehaviourEvidence` row and recompute", and erasure is
"delete every row".

* `QuestionnaireEvidence` - one completed questionnaire, already scored: per dimension
  the observed z score and the instrument's reliability for it. Purpose: questionnaire.
* `BehaviourEvidence` - a customer engaged with, or ignored, a message variant written in
  one colour tone, and the customer's baseline engagement rate on that channel at the time
  (`base_rate`), which the evidence is weighed against. Purpose: behavioural profiling (a
  separate consent). Rows stored before `base_rate` existed load with `None` and are read
  at the population rate (`ModelParameters.population_base_rate`).
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from metaconnect_profile.personality.dimensions import Colour, Dimension


class Observation(BaseModel):
    """An observed z score on one dimension and the reliability of the scale that produced it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    z: float
    reliability: Annotated[float, Field(gt=0.0, lt=1.0)]

    @field_validator("z")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("z must be finite")
        return v

    @property
    def precision(self) -> float:
        """Precision alpha / (1 - alpha): the observation noise variance is (1 - alpha) / alpha."""
        return self.reliability / (1.0 - self.reliability)

    @property
    def true_score(self) -> float:
        """z / sqrt(alpha): what z says of the true score T when z = sqrt(alpha) T + e, e ~ N(0, 1 - alpha)."""
        return self.z / math.sqrt(self.reliability)


class QuestionnaireEvidence(BaseModel):
    """One scored questionnaire (see `scoring`); `observations` hold a z score per dimension."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["questionnaire"] = "questionnaire"
    instrument: Annotated[str, Field(min_length=1)]
    instrument_version: Annotated[str, Field(min_length=1)]
    observed_at: AwareDatetime
    observations: dict[Dimension, Observation] = Field(min_length=1)


class Outcome(StrEnum):
    """What a customer did with a message written in a colour tone."""

    ENGAGED = "engaged"
    IGNORED = "ignored"


class BehaviourEvidence(BaseModel):
    """A customer engaged with, or ignored, a message variant written in `tone`.

    `base_rate` is P(engage | baseline): the customer's share of engagements among their
    outcomes on the channel when this one happened (see `profiles.engagement.base_rate`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["behaviour"] = "behaviour"
    tone: Colour
    outcome: Outcome
    observed_at: AwareDatetime
    base_rate: Annotated[float, Field(gt=0.0, lt=1.0)] | None = None


Evidence = Annotated[QuestionnaireEvidence | BehaviourEvidence, Field(discriminator="kind")]
