"""Console settings (`MC_CONSOLE_*`) plus the shared database/auth/telemetry blocks."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from metaconnect_common.auth import Role
from metaconnect_common.settings import CommonSettings

_URL = r"^https?://[^/?#\s]+$"


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MC_CONSOLE_", extra="ignore")

    host: str = "0.0.0.0"
    port: int = 8000
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        pattern=_URL,
        description="Where people's browsers reach the console (scheme, host, port): the OIDC redirect "
        "URI is built from it, and cookies are `Secure` when it is https.",
    )

    # The four services' APIs, called with the signed-in person's operator token.
    ingest_url: str = Field(default="http://127.0.0.1:8001", pattern=_URL)
    profile_url: str = Field(default="http://127.0.0.1:8002", pattern=_URL)
    router_url: str = Field(default="http://127.0.0.1:8003", pattern=_URL)
    delivery_url: str = Field(default="http://127.0.0.1:8004", pattern=_URL)
    api_timeout_s: float = Field(default=10.0, gt=0)

    # Sign-in through OpenID Connect (authorization code with PKCE).
    oidc_issuer: str | None = Field(default=None, description="The provider's issuer URL (discovery below it).")
    oidc_client_id: str = "metaconnect-console"
    oidc_client_secret: SecretStr | None = None
    oidc_scopes: str = "openid email profile"
    oidc_role_claim: str = Field(
        default="metaconnect_role",
        description="The ID-token claim that carries the person's role (viewer, editor or admin).",
    )
    admins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="E-mail addresses that are always admins (the first admin of a new installation).",
    )
    dev_sign_in: bool = Field(
        default=False, description="Accept the one-time sign-in links `metaconnect dev` prints (development only)."
    )

    session_ttl_s: int = Field(default=8 * 3600, ge=60)
    operator_token_ttl_s: int = Field(default=300, ge=30, description="Each call's operator token lives this long.")
    trace_url_template: str | None = Field(
        default=None,
        description="A link per item to its trace, e.g. `http://jaeger:16686/trace/{trace_id}`.",
    )

    # The management digest's schedule (its recipients and cadence are set on the admin page).
    digest_poll_s: float = Field(
        default=60.0, gt=0, le=3600, description="How often each replica looks for a due digest."
    )
    digest_catch_up_s: float = Field(
        default=6 * 3600.0,
        gt=0,
        description="A digest whose send time is longer ago than this is skipped (the console was down).",
    )
    digest_lease_s: float = Field(
        default=300.0,
        ge=10,
        description="A replica's claim on a period's send; a claim not finished by then is taken over.",
    )

    common: CommonSettings = Field(default_factory=CommonSettings)

    @field_validator("admins", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.lstrip().startswith("["):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("admins")
    @classmethod
    def _lower(cls, value: list[str]) -> list[str]:
        return [email.lower() for email in value]

    @field_validator("oidc_issuer", "trace_url_template", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("oidc_issuer")
    @classmethod
    def _no_trailing_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _dev_sign_in_only_in_development(self) -> ConsoleSettings:
        if self.dev_sign_in and self.common.env == "production":
            raise ValueError("MC_CONSOLE_DEV_SIGN_IN is for development and tests only")
        return self

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")

    @property
    def redirect_uri(self) -> str:
        return f"{self.public_url}/auth/callback"


ROLES: tuple[Role, ...] = (Role.VIEWER, Role.EDITOR, Role.ADMIN)
