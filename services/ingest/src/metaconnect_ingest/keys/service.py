"""API keys: creation, revocation and verification of channel apps' bearer keys.

A key reads `mck_<32 hex id><64 hex secret>`. Only SHA-256(secret) is stored: the
secret carries 256 random bits, so a slow password hash would add latency to every
request without adding safety.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from metaconnect_common.db import unit_of_work
from metaconnect_ingest.keys import repository
from metaconnect_ingest.keys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut
from metaconnect_ingest.models import ApiKey

PREFIX = "mck_"
_KEY_LEN = len(PREFIX) + 32 + 64


@dataclass(frozen=True)
class Principal:
    """A verified channel app: what its key lets it post."""

    key_id: str
    channels: frozenset[str]
    event_types: tuple[str, ...]
    scopes: frozenset[str]
    rate_per_s: float
    burst: int

    def allows_channel(self, channel: str) -> bool:
        return not self.channels or channel in self.channels

    def allows_type(self, event_type: str) -> bool:
        return not self.event_types or any(fnmatch.fnmatchcase(event_type, p) for p in self.event_types)


def _hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def _split(key: str) -> tuple[uuid.UUID, str] | None:
    if len(key) != _KEY_LEN or not key.startswith(PREFIX):
        return None
    body = key[len(PREFIX) :]
    try:
        return uuid.UUID(hex=body[:32]), body[32:]
    except ValueError:
        return None


def _out(key: ApiKey) -> ApiKeyOut:
    return ApiKeyOut(
        id=key.id,
        name=key.name,
        prefix=f"{PREFIX}{key.id.hex[:8]}",
        channels=list(key.channels),
        event_types=list(key.event_types),
        scopes=list(key.scopes),
        rate_per_s=key.rate_per_s,
        burst=key.burst,
        created_at=key.created_at,
        created_by=key.created_by,
        revoked_at=key.revoked_at,
    )


class KeyService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        cache_ttl_s: float,
        default_rate_per_s: float,
        default_burst: int,
    ) -> None:
        self._sessions = sessions
        self._ttl = cache_ttl_s
        self._default_rate = default_rate_per_s
        self._default_burst = default_burst
        # key id -> (secret hash, principal or None when unknown/revoked, expiry)
        self._cache: dict[uuid.UUID, tuple[bytes | None, Principal | None, float]] = {}

    async def create(self, request: ApiKeyCreate, *, by: str) -> ApiKeyCreated:
        key_id = uuid.uuid4()
        secret = secrets.token_hex(32)
        row = ApiKey(
            id=key_id,
            name=request.name,
            secret_hash=_hash(secret),
            channels=sorted({c.value for c in request.channels}),
            event_types=sorted(set(request.event_types)),
            scopes=sorted({s.value for s in request.scopes}),
            rate_per_s=request.rate_per_s or self._default_rate,
            burst=request.burst or self._default_burst,
            created_by=by,
            created_at=datetime.now(UTC),
        )
        async with unit_of_work(self._sessions) as session:
            await repository.add(session, row)
        return ApiKeyCreated(**_out(row).model_dump(), key=f"{PREFIX}{key_id.hex}{secret}")

    async def list(
        self, *, include_revoked: bool = False, after: uuid.UUID | None = None, limit: int | None = None
    ) -> list[ApiKeyOut] | None:
        """Keys oldest first, a page after the key `after`; None when `after` is no key."""
        async with self._sessions() as session:
            last = await repository.get(session, after) if after is not None else None
            if after is not None and last is None:
                return None
            rows = await repository.list_all(session, include_revoked=include_revoked, after=last, limit=limit)
            return [_out(k) for k in rows]

    async def get(self, key_id: uuid.UUID) -> ApiKeyOut | None:
        async with self._sessions() as session:
            row = await repository.get(session, key_id)
            return _out(row) if row else None

    async def revoke(self, key_id: uuid.UUID, *, by: str) -> bool:
        async with unit_of_work(self._sessions) as session:
            revoked = await repository.revoke(session, key_id, by=by, at=datetime.now(UTC))
        self._cache.pop(key_id, None)
        return revoked

    async def verify(self, key: str) -> Principal | None:
        """The principal a presented key stands for, or None (unknown, malformed, revoked)."""
        parts = _split(key)
        if parts is None:
            return None
        key_id, secret = parts
        now = time.monotonic()
        cached = self._cache.get(key_id)
        if cached is None or cached[2] < now:
            async with self._sessions() as session:
                row = await repository.get(session, key_id)
            if row is None or row.revoked_at is not None:
                cached = (None, None, now + self._ttl)
            else:
                principal = Principal(
                    key_id=str(row.id),
                    channels=frozenset(row.channels),
                    event_types=tuple(row.event_types),
                    scopes=frozenset(row.scopes),
                    rate_per_s=row.rate_per_s,
                    burst=row.burst,
                )
                cached = (row.secret_hash, principal, now + self._ttl)
            self._cache[key_id] = cached
        stored_hash, known, _ = cached
        if stored_hash is None or not hmac.compare_digest(stored_hash, _hash(secret)):
            return None
        return known
