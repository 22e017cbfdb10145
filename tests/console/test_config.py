"""The console's settings: dev sign-in never in production, admins from a comma list."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from metaconnect_console.config import ConsoleSettings


def test_dev_sign_in_links_are_refused_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MC_ENV", "production")
    monkeypatch.setenv("MC_AUTH_JWT_SECRET", "x" * 40)
    monkeypatch.setenv("MC_CONSOLE_DEV_SIGN_IN", "true")
    with pytest.raises(ValidationError, match="MC_CONSOLE_DEV_SIGN_IN"):
        ConsoleSettings()


def test_admins_come_from_a_comma_list_in_lower_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MC_ENV", "test")
    monkeypatch.setenv("MC_CONSOLE_ADMINS", " Ada@Example.com, ops@example.com ,")
    monkeypatch.setenv("MC_CONSOLE_OIDC_ISSUER", "https://id.example.com/realms/x/")
    settings = ConsoleSettings()
    assert settings.admins == ["ada@example.com", "ops@example.com"]
    assert settings.oidc_issuer == "https://id.example.com/realms/x"
    assert settings.redirect_uri == "http://127.0.0.1:8000/auth/callback"
    assert not settings.secure_cookies


def test_a_public_url_with_a_path_or_trailing_slash_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MC_ENV", "test")
    for url in ("https://console.example.com/", "https://console.example.com/console", "console.example.com"):
        monkeypatch.setenv("MC_CONSOLE_PUBLIC_URL", url)
        with pytest.raises(ValidationError, match="public_url"):
            ConsoleSettings()
