"""Provider accounts managed over REST: stored with their secret encrypted, never returned.

The secret is encrypted with Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) under
`MC_DELIVERY_SECRETS_KEY`; development and test use a fixed key derived from a constant, so
a production deployment without its own key refuses to start (`DeliverySettings`).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from metaconnect_delivery.config import DeliverySettings, ProviderSettings
from metaconnect_delivery.models import ProviderRow

_DEVELOPMENT_KEY: Final = base64.urlsafe_b64encode(hashlib.sha256(b"metaconnect-development-only").digest())


class SecretUnreadable(Exception):
    """A stored secret does not decrypt under the configured key (the key was changed)."""


def cipher(settings: DeliverySettings) -> Fernet:
    key = settings.secrets_key.get_secret_value().encode() if settings.secrets_key else _DEVELOPMENT_KEY
    return Fernet(key)


def to_row(provider: ProviderSettings, fernet: Fernet) -> dict[str, Any]:
    """What is stored: the settings without the secret, and the secret encrypted."""
    secret = provider.secret.get_secret_value() if provider.secret else None
    return {
        "name": provider.name,
        "settings": provider.model_dump(mode="json", exclude={"secret"}),
        "secret": fernet.encrypt(secret.encode()).decode() if secret is not None else None,
    }


def from_row(row: ProviderRow, fernet: Fernet) -> ProviderSettings:
    secret = None
    if row.secret is not None:
        try:
            secret = SecretStr(fernet.decrypt(row.secret.encode()).decode())
        except InvalidToken:
            raise SecretUnreadable(row.name) from None
    return ProviderSettings.model_validate({**row.settings, "secret": secret})


async def stored(session: AsyncSession) -> Sequence[ProviderRow]:
    return list(await session.scalars(select(ProviderRow).order_by(ProviderRow.name)))


async def one(session: AsyncSession, name: str, *, lock: bool = False) -> ProviderRow | None:
    statement = select(ProviderRow).where(ProviderRow.name == name)
    found: ProviderRow | None = await session.scalar(statement.with_for_update() if lock else statement)
    return found


async def put(
    session: AsyncSession, provider: ProviderSettings, fernet: Fernet, *, author: str, now: datetime, keep_secret: bool
) -> tuple[ProviderRow, bool]:
    """Create or replace; `keep_secret` keeps the stored secret when none is given. (row, created)."""
    values = to_row(provider, fernet)
    row = await one(session, provider.name, lock=True)
    if row is None:
        row = ProviderRow(**values, version=1, updated_by=author, created_at=now, updated_at=now)
        session.add(row)
        await session.flush()
        return row, True
    row.settings = values["settings"]
    if values["secret"] is not None or not keep_secret:
        row.secret = values["secret"]
    row.version += 1
    row.updated_by = author
    row.updated_at = now
    await session.flush()
    return row, False


async def remove(session: AsyncSession, name: str) -> bool:
    result = await session.execute(delete(ProviderRow).where(ProviderRow.name == name).returning(ProviderRow.name))
    return result.first() is not None
