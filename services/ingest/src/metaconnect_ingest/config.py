"""Ingest settings (`MC_INGEST_*`) plus the shared Kafka/DB/auth/telemetry blocks."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from metaconnect_common.settings import CommonSettings


class IngestSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MC_INGEST_", extra="ignore")

    host: str = "0.0.0.0"
    port: int = 8001
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    # How far `occurred_at` may lie from the time of receipt.
    max_future_skew_s: int = Field(default=300, ge=0)
    max_age_s: int = Field(default=30 * 24 * 3600, ge=60)
    # Verified API keys are cached this long; a revocation reaches other replicas within it.
    key_cache_ttl_s: float = Field(default=5.0, ge=0)
    default_rate_per_s: float = Field(default=200.0, gt=0)
    default_burst: int = Field(default=2000, ge=1)
    broker_retry_after_s: int = Field(default=5, ge=1)
    common: CommonSettings = Field(default_factory=CommonSettings)
