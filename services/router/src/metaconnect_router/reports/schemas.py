"""What the reports API answers."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from metaconnect_router.reports.repository import DecisionGroup, EngagementGroup


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class DecisionRow(_Out):
    group: str | None = Field(description="The group's value; null for decisions without one (e.g. dropped).")
    decisions: int
    sent: int = Field(description="Items of these decisions that went out in a delivery.")
    delivered: int = Field(description="Items delivered (a receipt, or an engagement, which proves delivery).")
    engaged: int = Field(description="Items engaged with.")
    engagement_rate: float | None = Field(description="engaged / delivered; null when nothing was delivered.")


class DecisionsReport(_Out):
    since: datetime
    until: datetime
    route: str | None
    group_by: DecisionGroup
    rows: list[DecisionRow] = Field(description="Most decisions first.")
    total: DecisionRow = Field(description="All rows together (group null).")


class EngagementRow(_Out):
    group: str | None = Field(description="The group's value; `channel` is the one the item went out on.")
    sent: int
    delivered: int
    engaged: int
    engagement_rate: float | None = Field(description="engaged / delivered; null when nothing was delivered.")


class EngagementReport(_Out):
    since: datetime
    until: datetime
    route: str | None
    group_by: EngagementGroup
    rows: list[EngagementRow] = Field(description="Most items sent first.")


class Cohort(_Out):
    delivered: int
    engaged: int
    rate: float | None = Field(description="engaged / delivered; null when nothing was delivered.")


class Interval(_Out):
    low: float
    high: float


class Uplift(_Out):
    route: str | None = Field(description="null for all routes together.")
    holdout: Cohort = Field(description="Items of holdout decisions: neutral tone, default channel.")
    treated: Cohort
    uplift: float | None = Field(description="treated rate - holdout rate.")
    relative_lift: float | None = Field(description="treated rate / holdout rate; null when the holdout rate is 0.")
    interval: Interval | None = Field(
        description="Wald confidence interval of the uplift; null without enough data (see `enough_data`)."
    )
    enough_data: bool = Field(description="Both cohorts have at least `min_delivered` delivered items.")


class UpliftReport(_Out):
    since: datetime
    until: datetime
    route: str | None
    confidence: float
    min_delivered: int
    overall: Uplift
    routes: list[Uplift] = Field(description="One per route, by name.")
