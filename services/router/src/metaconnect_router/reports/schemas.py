"""What the reports API answers."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from metaconnect_router.reports.repository import DecisionGroup, EngagementGroup, Period


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


_SENT = (
    "Items a provider accepted: a `message.sent` receipt (or `message.delivered`, or an engagement, "
    "which prove it). A failed item is not sent; one in a delivery with no receipt yet is neither."
)
_FAILED = "Items that never reached the customer: a `message.failed` receipt, or left out of a delivery."
_ENGAGED = "Sent items engaged with (opened, clicked, replied)."
_ENGAGEMENT_RATE = "engaged / sent; null when nothing was sent."


class DecisionRow(_Out):
    group: str | None = Field(description="The group's value; null for decisions without one (e.g. dropped).")
    decisions: int
    sent: int = Field(description=_SENT)
    failed: int = Field(description=_FAILED)
    engaged: int = Field(description=_ENGAGED)
    engagement_rate: float | None = Field(description=_ENGAGEMENT_RATE)


class DecisionsReport(_Out):
    since: datetime
    until: datetime
    route: str | None
    group_by: DecisionGroup
    rows: list[DecisionRow] = Field(description="Most decisions first.")
    total: DecisionRow = Field(description="All rows together (group null).")


class EngagementRow(_Out):
    group: str | None = Field(description="The group's value; `channel` is the one the item went out on.")
    sent: int = Field(description=_SENT)
    failed: int = Field(description=_FAILED)
    engaged: int = Field(description=_ENGAGED)
    engagement_rate: float | None = Field(description=_ENGAGEMENT_RATE)


class EngagementReport(_Out):
    since: datetime
    until: datetime
    route: str | None
    group_by: EngagementGroup
    rows: list[EngagementRow] = Field(description="Most items sent first.")


class Cohort(_Out):
    customers: int = Field(description="Customers of the cohort with at least one item of the route sent.")
    engaged: int = Field(description="Of them, customers who engaged with at least one of those items.")
    rate: float | None = Field(
        description="engaged / customers; in `overall`, standardised: the routes' rates weighted by their "
        "customers (treated + holdout). null without customers."
    )


class Interval(_Out):
    low: float
    high: float


class _Comparison(_Out):
    holdout: Cohort = Field(description="Customers held out: neutral tone, default channel.")
    treated: Cohort
    uplift: float | None = Field(description="treated rate - holdout rate; null unless both cohorts have customers.")
    relative_lift: float | None = Field(
        description="(treated rate - holdout rate) / holdout rate; null when the holdout rate is 0 or unknown."
    )
    interval: Interval | None = Field(
        description="Newcombe's hybrid score interval of the uplift at `confidence`; null when `uplift` is."
    )


class Uplift(_Comparison):
    route: str


class OverallUplift(_Comparison):
    """Every compared route together: customers summed, rates standardised, the uplift stratified."""

    since: datetime
    until: datetime
    route: str | None = Field(description="The `route` filter, as asked; null for every route.")
    routes_compared: int = Field(
        description="Routes with customers in both cohorts: the overall figure is stratified over these only."
    )


class UpliftReport(_Out):
    since: datetime
    until: datetime
    route: str | None
    confidence: float
    overall: OverallUplift = Field(
        description="Every compared route together, stratified by route (each weighted by its customers), never pooled."
    )
    routes: list[Uplift] = Field(description="One per route, by name.")


_PERIOD = "The UTC day, or the ISO week by its Monday (UTC), the decisions were made in."


class DecisionPeriodRow(DecisionRow):
    period: date = Field(description=_PERIOD)


class DecisionsOverTime(_Out):
    since: datetime
    until: datetime
    route: str | None
    group_by: DecisionGroup
    period: Period
    rows: list[DecisionPeriodRow] = Field(
        description="By period (oldest first), then most decisions first; periods without decisions are absent."
    )


class EngagementPeriodRow(EngagementRow):
    period: date = Field(description=_PERIOD)


class EngagementOverTime(_Out):
    since: datetime
    until: datetime
    route: str | None
    group_by: EngagementGroup
    period: Period
    rows: list[EngagementPeriodRow] = Field(
        description="By period (oldest first), then most items sent first; periods without items are absent."
    )


class SizeRow(_Out):
    size: int = Field(description="Items that went out in the bundle's delivery (0: nothing was left to send).")
    bundles: int


class TimeRow(_Out):
    at_least_seconds: int = Field(description="Bundles open at least this long ...")
    under_seconds: int | None = Field(description="... and less than this (null: no upper bound).")
    bundles: int


class BundlesReport(_Out):
    since: datetime
    until: datetime
    route: str | None = Field(description="The `route` filter: bundles holding at least one item of that route.")
    bundles: int = Field(description="Bundles flushed in [since, until).")
    items: int = Field(description="Items that went out in their deliveries.")
    mean_size: float | None = Field(description="items / bundles; null without bundles.")
    median_seconds: float | None = Field(description="Median time in bundle, opened to flushed; null without bundles.")
    p90_seconds: float | None = Field(description="90th percentile of the time in bundle; null without bundles.")
    sizes: list[SizeRow] = Field(description="Bundles by size, smallest first; sizes no bundle had are absent.")
    time_in_bundle: list[TimeRow] = Field(description="Bundles by time from opened to flushed, every bucket.")
