"""Delivery settings (`MC_DELIVERY_*`) plus the shared Kafka/DB/auth/telemetry blocks.

Providers come from `MC_DELIVERY_PROVIDERS`, a JSON list, one object per provider account;
their secrets are `SecretStr`: never logged, never returned by the API.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict

from metaconnect_common.schemas import Channel
from metaconnect_common.settings import CommonSettings

ProviderKind = Literal["fcm", "twilio", "whatsapp", "smtp", "webhook"]
Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]


def provider_url(value: str, schemes: frozenset[str]) -> str:
    """`value` if it is an absolute URL with one of `schemes` and a host, and without userinfo:
    credentials belong in `username` and `secret` (kept encrypted, never returned), not in a URL
    that settings and logs show. Raises PydanticCustomError (rules `url_scheme`, `url_host`,
    `url_userinfo`)."""
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018  # raises ValueError for a port that is no number
    except ValueError:
        raise PydanticCustomError("url_parsing", "not a URL") from None
    if parts.scheme.lower() not in schemes:
        raise PydanticCustomError("url_scheme", "must be a {schemes} URL", {"schemes": " or ".join(sorted(schemes))})
    if "@" in parts.netloc:
        raise PydanticCustomError(
            "url_userinfo", "must not hold a user name or password: set username and secret instead"
        )
    if not host:
        raise PydanticCustomError("url_host", "must name a host")
    return value


_HTTP: frozenset[str] = frozenset({"http", "https"})
_SMTP: frozenset[str] = frozenset({"smtp", "smtps"})


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

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str, info: ValidationInfo) -> str:
        return provider_url(value, _SMTP if info.data.get("kind") == "smtp" else _HTTP)

    @field_validator("status_callback_url")
    @classmethod
    def _callback_url(cls, value: str | None) -> str | None:
        return None if value is None else provider_url(value, _HTTP)


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
    deadline_s: float = Field(
        default=900.0, gt=0, description="A delivery not sent this long after it was accepted fails (`deadline`)."
    )
    concurrency: int = Field(default=64, ge=1, le=1000, description="Attempts in flight per replica.")
    channel_concurrency: int = Field(
        default=32,
        ge=1,
        le=1000,
        description="Attempts in flight per channel and replica: a slow provider holds no more.",
    )
    lease_s: float = Field(
        default=120.0,
        ge=10,
        description="A claimed delivery is its worker's this long; after a crash another worker takes it over then.",
    )
    poll_s: float = Field(default=0.5, gt=0, le=10, description="How often workers look for retries that fell due.")
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
