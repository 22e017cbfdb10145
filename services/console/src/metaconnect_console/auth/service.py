"""Sign-in: OIDC and one-time links start a session; a session cookie names the person."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from authlib.common.security import generate_token
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from metaconnect_common.auth import InvalidToken, Role, sign_in_link_grant
from metaconnect_console.auth import repository
from metaconnect_console.auth.oidc import OidcClient, SignInFailed
from metaconnect_console.auth.roles import role_for, safe_return_to
from metaconnect_console.config import ConsoleSettings
from metaconnect_console.models import PendingSignIn


@dataclass(frozen=True)
class Person:
    """Who is signed in, and the session's CSRF token for their forms."""

    subject: str
    email: str
    name: str
    role: Role
    csrf_token: str

    def may(self, role: Role) -> bool:
        return self.role.rank >= role.rank


@dataclass(frozen=True)
class Started:
    """A new session: the cookie's value and where to go next."""

    cookie: str
    return_to: str


def _hash(cookie: str) -> bytes:
    return hashlib.sha256(cookie.encode()).digest()


class SignIns:
    def __init__(
        self, settings: ConsoleSettings, sessions: async_sessionmaker[AsyncSession], oidc: OidcClient | None
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.oidc = oidc

    async def begin(self, return_to: str | None) -> str:
        """The identity provider's URL to send the browser to."""
        if self.oidc is None:
            raise SignInFailed("no identity provider is configured (MC_CONSOLE_OIDC_ISSUER)")
        pending = PendingSignIn(
            state=generate_token(43),
            nonce=generate_token(43),
            code_verifier=generate_token(64),
            return_to=safe_return_to(return_to),
        )
        url = await self.oidc.authorization_url(
            state=pending.state, nonce=pending.nonce, code_verifier=pending.code_verifier
        )
        async with self.sessions.begin() as db:
            await repository.forget_expired(db)
            await repository.add_pending(db, pending)
        return url

    async def complete(self, *, state: str, code: str) -> Started:
        """Back from the provider: check everything, then start a session."""
        if self.oidc is None:
            raise SignInFailed("no identity provider is configured (MC_CONSOLE_OIDC_ISSUER)")
        async with self.sessions.begin() as db:
            pending = await repository.take_pending(db, state)
        if pending is None:
            raise SignInFailed("this sign-in is unknown or older than 10 minutes: start again")
        identity = await self.oidc.identity(code=code, code_verifier=pending.code_verifier, nonce=pending.nonce)
        async with self.sessions.begin() as db:
            role = role_for(
                identity.email,
                identity.claims,
                role_claim=self.settings.oidc_role_claim,
                members=await repository.member_roles(db, identity.email),
                admins=self.settings.admins,
            )
            if role is None:
                raise SignInFailed(
                    f"{identity.email or identity.subject} may not use this console: an admin adds you on "
                    "the access page, or your identity provider grants a role"
                )
            cookie = await self._start(db, identity.subject, identity.email, identity.name, role)
        return Started(cookie, pending.return_to)

    async def with_link(self, token: str) -> Started:
        """A one-time link `metaconnect dev` printed (only when dev sign-in is on)."""
        if not self.settings.dev_sign_in:
            raise SignInFailed("sign-in links are switched off here (MC_CONSOLE_DEV_SIGN_IN)")
        try:
            grant = sign_in_link_grant(self.settings.common.auth, token)
        except InvalidToken:
            raise SignInFailed("this sign-in link is not valid or has expired") from None
        async with self.sessions.begin() as db:
            if not await repository.use_link(db, grant.token_id):
                raise SignInFailed("this sign-in link was used already: `metaconnect dev` prints a new one")
            cookie = await self._start(db, grant.subject, grant.subject, grant.subject, grant.role)
        return Started(cookie, "/")

    async def _start(self, db: AsyncSession, subject: str, email: str, name: str, role: Role) -> str:
        cookie = secrets.token_urlsafe(32)
        expires = datetime.now(UTC) + timedelta(seconds=self.settings.session_ttl_s)
        row = repository.session_row(
            id_hash=_hash(cookie),
            subject=subject,
            email=email,
            name=name[:200],
            role=role,
            csrf_token=secrets.token_urlsafe(32),
            expires_at=expires,
        )
        await repository.add_session(db, row)
        return cookie

    async def person(self, cookie: str | None) -> Person | None:
        if not cookie:
            return None
        async with self.sessions() as db:
            row = await repository.live_session(db, _hash(cookie))
        if row is None:
            return None
        return Person(
            subject=row.subject, email=row.email, name=row.name, role=Role(row.role), csrf_token=row.csrf_token
        )

    async def sign_out(self, cookie: str | None) -> None:
        if cookie:
            async with self.sessions.begin() as db:
                await repository.end_session(db, _hash(cookie))


def csrf_ok(person: Person, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(person.csrf_token.encode(), presented.encode())
