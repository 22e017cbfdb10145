"""The sandbox's configuration."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from metaconnect_sandbox import SandboxConfig


def test_defaults_work_and_hide_their_secrets() -> None:
    config = SandboxConfig()
    token = config.twilio_auth_token.get_secret_value()
    assert token
    assert token not in repr(config)
    assert token not in config.model_dump_json()
    assert not config.smtp_auth_required


def test_reads_plain_strings_from_json() -> None:
    config = SandboxConfig.model_validate_json('{"fcm_access_token": "t", "webhook_secrets": {"crm": "s"}}')
    assert config.fcm_access_token.get_secret_value() == "t"
    assert config.webhook_secrets["crm"].get_secret_value() == "s"


def test_smtp_auth_needs_both_credentials() -> None:
    assert not SandboxConfig(smtp_username="u").smtp_auth_required
    assert SandboxConfig(smtp_username="u", smtp_password=SecretStr("p")).smtp_auth_required


@pytest.mark.parametrize(
    "fields",
    [
        {"twilio_account_sid": "AC123"},
        {"whatsapp_webhook_url": "ftp://example.com/hook"},
        {"callback_timeout_s": 0},
        {"twilio_auth_tokn": "typo"},
    ],
)
def test_refuses_invalid_settings(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        SandboxConfig.model_validate(fields)
