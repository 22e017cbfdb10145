"""OpenID Connect sign-in: authorization code flow with PKCE (authlib builds the request and
the S256 challenge), ID token checked against the provider's keys (joserfc): issuer,
audience, expiry, nonce. The token request goes over the console's own httpx client."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from metaconnect_console.config import ConsoleSettings

DISCOVERY_TTL_S = 600.0
# Asymmetric only: a provider's keys are public, an HS256 ID token would be signed with the client secret.
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]


class SignInFailed(Exception):
    """The provider refused, or what came back does not hold (shown to the person as is)."""


@dataclass(frozen=True)
class Identity:
    """Who the provider says signed in."""

    subject: str
    email: str
    name: str
    claims: dict[str, Any]


@dataclass
class _Provider:
    metadata: dict[str, Any]
    keys: KeySet
    fetched_at: float


class OidcClient:
    def __init__(self, settings: ConsoleSettings, http: httpx.AsyncClient) -> None:
        assert settings.oidc_issuer is not None
        self.issuer = settings.oidc_issuer
        self.settings = settings
        self.http = http
        self._provider: _Provider | None = None

    async def _discover(self, *, refresh: bool = False) -> _Provider:
        now = time.monotonic()
        if self._provider is not None and not refresh and now - self._provider.fetched_at < DISCOVERY_TTL_S:
            return self._provider
        try:
            response = await self.http.get(f"{self.issuer}/.well-known/openid-configuration")
            response.raise_for_status()
            metadata: dict[str, Any] = response.json()
            keys = await self.http.get(metadata["jwks_uri"])
            keys.raise_for_status()
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            raise SignInFailed(
                f"the identity provider at {self.issuer} did not answer ({type(exc).__name__})"
            ) from None
        if metadata.get("issuer") != self.issuer:
            raise SignInFailed(f"the identity provider names itself {metadata.get('issuer')!r}, not {self.issuer!r}")
        self._provider = _Provider(metadata, KeySet.import_key_set(keys.json()), now)
        return self._provider

    async def authorization_url(self, *, state: str, nonce: str, code_verifier: str) -> str:
        provider = await self._discover()
        params = [
            ("response_type", "code"),
            ("client_id", self.settings.oidc_client_id),
            ("redirect_uri", self.settings.redirect_uri),
            ("scope", self.settings.oidc_scopes),
            ("state", state),
            ("nonce", nonce),
            ("code_challenge", create_s256_code_challenge(code_verifier)),
            ("code_challenge_method", "S256"),
        ]
        return str(add_params_to_uri(provider.metadata["authorization_endpoint"], params))

    async def identity(self, *, code: str, code_verifier: str, nonce: str) -> Identity:
        """Trade the code for tokens and check the ID token."""
        provider = await self._discover()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.settings.redirect_uri,
            "code_verifier": code_verifier,
        }
        secret = self.settings.oidc_client_secret
        auth = httpx.BasicAuth(self.settings.oidc_client_id, secret.get_secret_value()) if secret else None
        if auth is None:
            form["client_id"] = self.settings.oidc_client_id  # a public client names itself
        try:
            response = await self.http.post(
                provider.metadata["token_endpoint"], data=form, auth=auth or httpx.USE_CLIENT_DEFAULT
            )
        except httpx.HTTPError as exc:
            raise SignInFailed(f"the identity provider did not answer ({type(exc).__name__})") from None
        if response.status_code != 200:
            raise SignInFailed(f"the identity provider refused the sign-in ({response.status_code})")
        try:
            id_token = response.json().get("id_token")
        except ValueError:
            id_token = None
        if not isinstance(id_token, str):
            raise SignInFailed("the identity provider sent no ID token")
        claims = await self._verified_claims(id_token, nonce)
        email = str(claims.get("email") or "")
        subject = str(claims["sub"])
        name = str(claims.get("name") or email or subject)
        return Identity(subject=subject, email=email.lower(), name=name, claims=claims)

    async def _verified_claims(self, id_token: str, nonce: str) -> dict[str, Any]:
        provider = await self._discover()
        try:
            try:
                decoded = jwt.decode(id_token, provider.keys, algorithms=ALGORITHMS)
            except JoseError:  # a key rotated since discovery: fetch the keys once more
                provider = await self._discover(refresh=True)
                decoded = jwt.decode(id_token, provider.keys, algorithms=ALGORITHMS)
            registry = jwt.JWTClaimsRegistry(
                leeway=30,
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": self.settings.oidc_client_id},
                sub={"essential": True},
                exp={"essential": True},
                nonce={"essential": True, "value": nonce},
            )
            registry.validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            raise SignInFailed(f"the ID token does not hold ({type(exc).__name__})") from None
        return dict(decoded.claims)

    async def end_session_url(self) -> str | None:
        try:
            provider = await self._discover()
        except SignInFailed:
            return None
        endpoint = provider.metadata.get("end_session_endpoint")
        return str(endpoint) if endpoint else None
