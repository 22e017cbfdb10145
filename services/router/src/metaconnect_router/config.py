"""Router settings (`MC_ROUTER_*`) plus the shared Kafka/DB/auth/telemetry blocks."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from metaconnect_common.settings import CommonSettings


class RouterSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MC_ROUTER_", extra="ignore")

    host: str = "0.0.0.0"  # a service listens on its pod's interfaces
    port: int = 8003
    group_id: str = "mc-router"
    max_records: int = Field(default=500, ge=1)
    flush_interval_s: float = Field(default=1.0, gt=0, description="How often due bundles are looked for.")
    flush_batch: int = Field(default=200, ge=1, le=5000, description="Due bundles flushed per transaction.")
    timer_interval_s: float = Field(
        default=0.25, gt=0, le=10, description="At most this long between two looks for due journey waits."
    )
    timer_batch: int = Field(default=200, ge=1, le=5000, description="Due journey waits moved on per transaction.")
    # The personality prior on each tone's engagement (`decisions.ranking.TonePrior`).
    tone_prior_base_rate: float = Field(default=0.05, gt=0, lt=0.5, description="Expected engagement of any tone.")
    tone_prior_matched_lift: float = Field(
        default=1.3, ge=1.0, le=2.0, description="How much more the tone written for the customer's colour engages."
    )
    tone_prior_strength: float = Field(
        default=20.0, gt=0, le=1000, description="The prior's weight in receipts (pseudo-observations)."
    )
    read_weight: float = Field(
        default=0.5, ge=0, le=1, description="A message read in the inbox counts as this much of an engagement."
    )
    common: CommonSettings = Field(default_factory=CommonSettings)
