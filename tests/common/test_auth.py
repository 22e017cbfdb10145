from __future__ import annotations

import jwt
import pytest
from pydantic import SecretStr, ValidationError

from metaconnect_common.auth import (
    InvalidToken,
    Role,
    issue_sign_in_link_token,
    issue_token,
    sign_in_link_grant,
    verify_token,
)
from metaconnect_common.settings import AuthSettings, CommonSettings


def test_token_round_trip_carries_role_and_subject() -> None:
    settings = AuthSettings()
    operator = verify_token(settings, issue_token(settings, subject="ops", role=Role.EDITOR))
    assert (operator.subject, operator.role) == ("ops", Role.EDITOR)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda s: issue_token(
            AuthSettings(jwt_secret=SecretStr("another-secret-of-at-least-32-chars!")), subject="x", role=Role.ADMIN
        ),
        lambda s: issue_token(s, subject="x", role=Role.ADMIN, ttl_s=-120),
        lambda s: jwt.encode({"sub": "x", "role": "admin", "exp": 9e9, "iat": 0}, s.jwt_secret.get_secret_value()),
        lambda s: jwt.encode(
            {"sub": "x", "role": "root", "exp": 9e9, "iat": 0, "aud": s.jwt_audience, "iss": s.jwt_issuer},
            s.jwt_secret.get_secret_value(),
        ),
        lambda s: "not-a-token",
    ],
    ids=["other key", "expired", "no audience", "unknown role", "garbage"],
)
def test_tokens_not_ours_are_refused(tamper: object) -> None:
    settings = AuthSettings()
    with pytest.raises(InvalidToken):
        verify_token(settings, tamper(settings))  # type: ignore[operator]


def test_production_refuses_the_development_secret() -> None:
    with pytest.raises(ValidationError, match="MC_AUTH_JWT_SECRET"):
        CommonSettings(env="production")
    CommonSettings(env="production", auth=AuthSettings(jwt_secret=SecretStr("s" * 40)))
    CommonSettings(env="development")


def test_a_sign_in_link_names_its_person_and_role_and_is_no_operator_token() -> None:
    settings = AuthSettings()
    link = issue_sign_in_link_token(settings, subject="metaconnect-dev", role=Role.ADMIN)
    grant = sign_in_link_grant(settings, link)
    assert (grant.subject, grant.role) == ("metaconnect-dev", Role.ADMIN)
    assert len(grant.token_id) == 32
    with pytest.raises(InvalidToken):
        verify_token(settings, link)  # another audience: never an operator token
    with pytest.raises(InvalidToken):
        sign_in_link_grant(settings, issue_token(settings, subject="x", role=Role.ADMIN))
    with pytest.raises(InvalidToken):
        sign_in_link_grant(settings, issue_sign_in_link_token(settings, subject="x", role=Role.ADMIN, ttl_s=-60))
