"""Resolve an interaction's customer reference to one canonical, locked customer.

* No identifier known: a new customer owns them all, and its own id (`mc`). A reference that
  names only a Metaconnect id nobody has (an erased customer's late receipt) creates nobody.
* One customer known: it gains the identifiers it did not have yet.
* Several customers known (the event links them): they merge. The survivor is the
  oldest (then the smallest id), so every replica picks the same one; identities,
  timeline, evidence and rejections move to it, the others point at it, and the merge
  is recorded and reported downstream.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from metaconnect_common.schemas import CustomerRef
from metaconnect_profile.identity import repository
from metaconnect_profile.identity.keys import METACONNECT, identifiers
from metaconnect_profile.models import Customer


class IdentityConflict(Exception):
    """Another transaction claimed one of the identifiers meanwhile: retry the record
    (the next attempt sees the owner and links or merges)."""


class UnknownCustomer(Exception):
    """The reference names only a Metaconnect id no customer has (any more)."""


@dataclass
class Resolution:
    customer: Customer
    created: bool = False
    merged: list[Customer] = field(default_factory=list)


def survivor_of(customers: list[Customer]) -> Customer:
    """The deterministic survivor of a merge: oldest first, then smallest id."""
    return min(customers, key=lambda c: (c.created_at, c.id))


async def resolve(
    session: AsyncSession, ref: CustomerRef, *, event_id: uuid.UUID, now: datetime, new_customer: Customer
) -> Resolution:
    """The customer `ref` names, locked for update; `new_customer` is used when none is known."""
    ids = identifiers(ref)
    owners = await repository.owners(session, ids)
    owner_ids = set(owners.values())
    known = await repository.lock_customers(session, list(owner_ids))
    if len(known) < len(owner_ids):
        # An owner was erased or merged after we read the identities: start over.
        raise IdentityConflict
    # A Metaconnect id is the customer's own: it is resolved, never attached to anyone.
    attachable = [i for i in ids if i[0] != METACONNECT]
    if not known:
        if not attachable:
            raise UnknownCustomer
        session.add(new_customer)
        await session.flush()
        if await repository.attach(session, new_customer.id, [*attachable, (METACONNECT, str(new_customer.id))], now):
            raise IdentityConflict
        return Resolution(customer=new_customer, created=True)
    survivor = survivor_of(known)
    merged = [c for c in known if c.id != survivor.id]
    if merged:
        await repository.move_to_survivor(session, survivor.id, [c.id for c in merged], event_id=event_id, now=now)
    if await repository.attach(session, survivor.id, [i for i in attachable if i not in owners], now):
        raise IdentityConflict
    return Resolution(customer=survivor, merged=merged)
