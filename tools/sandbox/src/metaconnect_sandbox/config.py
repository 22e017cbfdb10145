"""What the fake providers expect (credentials, ids) and where they call back to."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class SandboxConfig(BaseModel):
    """Credentials and ids the fake providers check, with working defaults for `metaconnect dev`.

    Secrets are `SecretStr`: they never show in reprs, logs, the JSON listing or the page.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    fcm_project_id: str = "metaconnect-dev"
    fcm_access_token: SecretStr = SecretStr("sandbox-fcm-access-token")
    # Device tokens answered with 404 UNREGISTERED (more can be added at runtime).
    fcm_unregistered_tokens: frozenset[str] = frozenset()

    twilio_account_sid: str = Field("AC00000000000000000000000000000001", pattern=r"^AC[0-9a-fA-F]{32}$")
    twilio_auth_token: SecretStr = SecretStr("sandbox-twilio-auth-token")
    # The number a Messaging Service "picks" when a message names no From.
    twilio_service_number: str = "+15005550006"

    whatsapp_access_token: SecretStr = SecretStr("sandbox-whatsapp-access-token")
    whatsapp_phone_number_id: str = "106540352242922"
    whatsapp_display_phone_number: str = "15550783881"
    whatsapp_business_account_id: str = "102290129340398"
    # Status webhooks (sent, delivered) are posted here when set, signed with the app secret.
    whatsapp_webhook_url: str | None = Field(None, pattern=r"^https?://")
    whatsapp_app_secret: SecretStr = SecretStr("sandbox-whatsapp-app-secret")

    # `POST /webhook/{name}` checks `X-Metaconnect-Signature` for the names listed here.
    webhook_secrets: dict[str, SecretStr] = Field(default_factory=dict)
    webhook_tolerance_s: int = Field(300, gt=0)

    # When both are set, SMTP clients must AUTH (PLAIN or LOGIN) with them before MAIL.
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None

    # Outbound status callbacks and webhooks: per-request timeout, pause between `sent` and `delivered`.
    callback_timeout_s: float = Field(2.0, gt=0)
    callback_delay_s: float = Field(0.05, ge=0)

    # Kept in memory, oldest dropped first.
    max_recorded: int = Field(10_000, gt=0)

    @property
    def smtp_auth_required(self) -> bool:
        return self.smtp_username is not None and self.smtp_password is not None
