"""What the lifecycle API answers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from metaconnect_profile.lifecycles.spec import LifecycleSpec


class LifecycleOut(BaseModel):
    """One version of the lifecycle (the current one for `GET /v1/lifecycle`)."""

    model_config = ConfigDict(frozen=True)

    version: int
    spec: LifecycleSpec
    change: str = Field(description="created | updated")
    author: str
    created_at: datetime


class LifecyclePlan(BaseModel):
    """What putting a spec would do, computed without writing (`metaconnect lifecycle plan`)."""

    model_config = ConfigDict(frozen=True)

    action: Literal["create", "update", "none"]
    current_version: int | None
    current: LifecycleSpec | None
    proposed: LifecycleSpec
    customers_in_removed_stages: dict[str, int] = Field(
        default_factory=dict,
        description="Live customers per stage the proposal no longer has: they keep it, ranked below every stage.",
    )


# --- GET /v1/reports/funnel ---------------------------------------------------------------------------------


class Interval(BaseModel):
    low: float
    high: float


class TimeInStage(BaseModel):
    """Kaplan-Meier over the stays that began in the window; an open stay is censored at now."""

    stays: int
    open_stays: int = Field(description="Stays not ended yet (censored at now).")
    median_s: float | None = Field(description="Seconds by which half have left; null when not reached yet.")
    p90_s: float | None = Field(description="Seconds by which 90% have left; null when not reached yet.")


class FunnelStageOut(BaseModel):
    stage: str
    customers_now: int = Field(description="Live customers in this stage now.")
    entered: int = Field(description="Customers who entered it in the window.")
    converted: int = Field(description="Of those, who later reached any later stage.")
    conversion: float | None = Field(description="converted / entered; null when nobody entered.")
    conversion_interval: Interval | None = Field(description="95% Wilson score interval of `conversion`.")
    drop_off: float | None = Field(description="1 - conversion.")
    time_in_stage: TimeInStage


class CohortOut(BaseModel):
    week: date = Field(description="Monday of the ISO week the customers entered their first stage.")
    customers: int
    reached: dict[str, int] = Field(description="Per stage, how many reached it or a later stage.")


class PeriodOut(BaseModel):
    start: date = Field(description="The day, or the Monday of the ISO week.")
    entered: dict[str, int] = Field(description="Entries per stage.")


class FunnelReport(BaseModel):
    since: datetime
    until: datetime
    lifecycle_version: int
    interval: Literal["day", "week"]
    stages: list[FunnelStageOut] = Field(description="In lifecycle order.")
    cohorts: list[CohortOut] | None = Field(description="With `cohort=week` only.")
    over_time: list[PeriodOut]
