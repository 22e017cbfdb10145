"""Ingest settings (`MC_INGEST_*`) plus the shared Kafka/DB/auth/telemetry blocks."""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr, field_validator
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
    # The consumer of `mc.customers.v1` (which customer each ref names, for inbox tokens).
    group_id: str = "mc-ingest"
    max_records: int = Field(default=500, ge=1)

    # Provider webhooks. A provider whose secret is unset has its webhook switched off (404).
    public_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^/?#\s]+(/[^?#\s]*)?$",
        description=(
            "The base URL providers call (scheme, host, any path prefix a proxy strips), e.g. "
            "`https://hooks.example.com/ingest`. Twilio signs the URL it calls, so behind a proxy "
            "the request's own URL would not match; unset, the request's own URL is used."
        ),
    )
    twilio_auth_token: SecretStr | None = Field(
        default=None, description="Checks `X-Twilio-Signature` on Twilio's status and inbound webhooks."
    )
    whatsapp_app_secret: SecretStr | None = Field(
        default=None, description="The Meta app secret: checks `X-Hub-Signature-256` on WhatsApp webhooks."
    )
    whatsapp_verify_token: SecretStr | None = Field(
        default=None, description="Answers Meta's `GET` verification handshake (`hub.verify_token`)."
    )

    common: CommonSettings = Field(default_factory=CommonSettings)

    @field_validator("twilio_auth_token", "whatsapp_app_secret", "whatsapp_verify_token", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        # `MC_INGEST_TWILIO_AUTH_TOKEN=` must switch the webhook off, not sign with an empty key.
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        return None if isinstance(raw, str) and not raw.strip() else value

    @field_validator("public_url", mode="before")
    @classmethod
    def _no_trailing_slash(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().rstrip("/")
            return value or None
        return value
