"""Inbox tokens, minted by ref for a channel app's signed-in customer.

The customer must be known: ingest reads which customer each ref names from
`mc.customers.v1`, which the profile service writes (`handlers`). A ref profile has not reported
yet (a sign-up posted a moment ago, a typo, an erased customer) mints nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from metaconnect_common.auth import INBOX_TOKEN_TTL_S, issue_inbox_token
from metaconnect_common.refs import CustomerId, CustomerLookup, invalid, stored_ref
from metaconnect_common.settings import AuthSettings
from metaconnect_ingest.customers import repository


@dataclass(frozen=True)
class MintedToken:
    customer_id: uuid.UUID
    token: str
    expires_in: int


class InboxTokens:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], auth: AuthSettings) -> None:
        self._sessions = sessions
        self._auth = auth

    async def mint(self, lookup: CustomerLookup, *, field: str) -> MintedToken | None:
        """A token for the customer `lookup` names, or None when no live customer has that ref;
        a device token is refused (422 naming `field`): it is a credential, never a customer's name."""
        if not isinstance(lookup, CustomerId) and lookup.kind == "device":
            raise invalid(field, "device_ref", "a device token names no customer here: use an id or another identifier")
        async with self._sessions() as session:
            customer = await repository.customer_of(session, stored_ref(lookup))
        if customer is None:
            return None
        token = issue_inbox_token(self._auth, customer, ttl_s=INBOX_TOKEN_TTL_S)
        return MintedToken(customer_id=customer, token=token, expires_in=INBOX_TOKEN_TTL_S)
