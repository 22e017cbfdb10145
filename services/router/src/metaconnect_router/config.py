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
    common: CommonSettings = Field(default_factory=CommonSettings)
