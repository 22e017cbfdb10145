"""Delivery settings (`MC_DELIVERY_*`) plus the shared Kafka/DB/auth/telemetry blocks.

Providers come from `MC_DELIVERY_PROVIDERS`, a JSON list, one object per provider account;
their secrets are `SecretStr`: never logged, never returned by the API.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from metaconnect_common.schemas import Channel
from metaconnect_common.settings import CommonSettings

ProviderKind = Literal["fcm", "twilio", "whatsapp", "smtp", "webhook"]
Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]


class ProviderSettings(BaseModel):
    """One provider account: which channel it serves, where it is and how to authenticate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    kind: ProviderKind
    channel: Channel
    base_url: str = Field(description="HTTP providers: the API root; smtp: smtp://host:port (smtps:// for TLS).")
    account: str | None = Field(default=None, description="FCM project, Twilio account SID, WhatsApp phone number id.")
    sender: str | None = Field(default=None, description="Twilio `From` / messaging service, e-mail `From`.")
    username: str | None = None
    secret: SecretStr | None = Field(default=None, description="Bearer token, Twilio auth token, SMTP or HMAC secret.")
    template: str | None = Field(default=None, description="WhatsApp: the approved template carrying the text.")
    language: str = "en"
    status_callback_url: str | None = Field(default=None, description="Where the provider reports delivery status.")
    timeout_s: float = Field(default=5.0, gt=0, le=120)
    rate_per_s: float = Field(default=50.0, gt=0)
    burst: int = Field(default=50, ge=1)
    priority: int = Field(default=100, ge=0, le=1000, description="Of several for one channel, the lowest serves.")
    enabled: bool = True


class DeliverySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MC_DELIVERY_", extra="ignore")

    host: str = "0.0.0.0"  # a service listens on its pod's interfaces
    port: int = 8004
    group_id: str = "mc-delivery"
    max_records: int = Field(default=200, ge=1)
    providers: list[ProviderSettings] = Field(default_factory=list)
    attempts: int = Field(default=4, ge=1, le=20, description="Attempts per channel before failing over.")
    backoff_base_s: float = Field(default=0.5, gt=0)
    backoff_cap_s: float = Field(default=10.0, gt=0)
    max_retry_after_s: float = Field(default=30.0, ge=0, description="A longer Retry-After fails over instead.")
    circuit_failures: int = Field(default=5, ge=1, description="Consecutive provider failures that open its circuit.")
    circuit_open_s: float = Field(default=30.0, gt=0)
    max_sms_segments: int = Field(default=6, ge=1, le=20)
    secrets_key: SecretStr | None = Field(
        default=None,
        description="Fernet key encrypting provider secrets stored over REST (`Fernet.generate_key()`); "
        "required in production, a fixed development key otherwise.",
    )
    providers_refresh_s: float = Field(default=5.0, gt=0, description="How often providers stored over REST are read.")
    common: CommonSettings = Field(default_factory=CommonSettings)

    @model_validator(mode="after")
    def _secrets_key_in_production(self) -> DeliverySettings:
        if self.common.env == "production" and self.secrets_key is None:
            raise ValueError("MC_DELIVERY_SECRETS_KEY must be set in production")
        return self
