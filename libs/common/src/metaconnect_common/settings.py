"""Settings building blocks shared by every service.

Each service has one `Settings(BaseSettings)` with its own prefix (`MC_INGEST_`, ...)
and holds these as sub-models, read from the shared `MC_KAFKA_*`, `MC_DATABASE_*`,
`MC_AUTH_*` variables and the standard `OTEL_*` ones.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "metaconnect-development-only-secret-change-me"


class KafkaSettings(BaseSettings):
    """How to reach Kafka (`MC_KAFKA_*`)."""

    model_config = SettingsConfigDict(env_prefix="MC_KAFKA_", extra="ignore")

    bootstrap: str = "127.0.0.1:9092"
    client_id: str = "metaconnect"
    # Tansu (the dev broker) has no InitProducerId: the dev mode turns this off.
    idempotence: bool = True
    compression: Literal["none", "gzip", "lz4", "zstd"] = "lz4"
    linger_ms: int = Field(default=5, ge=0, le=1000)
    request_timeout_ms: int = Field(default=15_000, ge=1000)
    consumer_linger_ms: int = Field(
        default=0,
        ge=0,
        le=1000,
        description=(
            "After a fetch short of a full batch, wait this long and take what arrived meanwhile into the "
            "same batch: fewer, larger transactions under load, for up to this much latency per hop. 0: off."
        ),
    )
    # How long an HTTP request waits for the broker's acknowledgement before 503.
    publish_timeout_s: float = Field(default=5.0, gt=0)
    topic_partitions: int = Field(default=12, ge=1)
    topic_replication: int = Field(default=1, ge=1)
    create_topics: bool = True
    topic_prefix: str = Field(
        default="",
        max_length=100,
        pattern=r"^[A-Za-z0-9._-]*$",
        description=(
            "Put before every topic name (`staging.` makes `staging.mc.interactions.v1`), so several "
            "deployments or test runs share one cluster. The code names topics without it."
        ),
    )

    def topic(self, name: str) -> str:
        """The name on the broker of the topic the code calls `name`."""
        return self.topic_prefix + name


class DatabaseSettings(BaseSettings):
    """How to reach PostgreSQL (`MC_DATABASE_URL`, `MC_DATABASE_*`)."""

    model_config = SettingsConfigDict(env_prefix="MC_DATABASE_", extra="ignore")

    url: SecretStr = SecretStr("postgresql+asyncpg://postgres@127.0.0.1:5432/metaconnect")
    pool_size: int = Field(default=10, ge=1)
    max_overflow: int = Field(default=10, ge=0)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    statement_timeout_ms: int = Field(default=10_000, ge=100)
    pool_timeout_s: float = Field(default=5.0, gt=0)


class AuthSettings(BaseSettings):
    """Operator tokens (`MC_AUTH_*`): one shared signing key for every service."""

    model_config = SettingsConfigDict(env_prefix="MC_AUTH_", extra="ignore")

    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    jwt_issuer: str = "metaconnect"
    jwt_audience: str = "metaconnect-operators"
    token_ttl_s: int = Field(default=12 * 3600, ge=60)


class TelemetrySettings(BaseSettings):
    """Logs, traces, metrics (`MC_LOG_*` plus the standard `OTEL_*`)."""

    model_config = SettingsConfigDict(extra="ignore")

    otel_exporter_otlp_endpoint: str | None = None
    otel_service_name: str | None = None
    mc_log_level: str = "INFO"
    mc_log_json: bool = True


class CommonSettings(BaseSettings):
    """The sub-models every service carries, and the environment it runs in."""

    model_config = SettingsConfigDict(env_prefix="MC_", extra="ignore")

    env: Literal["development", "test", "production"] = "production"
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)
    gc_gen0_threshold: int = Field(
        default=50_000,
        ge=0,
        description=(
            "Allocations between young-generation collections once the service has started "
            "(Python's default is 700, which makes collections a large share of a busy service's CPU); "
            "0 keeps Python's setting."
        ),
    )

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> CommonSettings:
        if self.env == "production" and self.auth.jwt_secret.get_secret_value() == DEV_JWT_SECRET:
            raise ValueError("MC_AUTH_JWT_SECRET must be set outside development and test")
        if len(self.auth.jwt_secret.get_secret_value()) < 32:
            raise ValueError("MC_AUTH_JWT_SECRET must be at least 32 characters")
        return self
