"""Erasure (GDPR Art. 17): forget a customer, and everyone merged into it, in one transaction.

Under the customer's row lock (then those merged into it, in id order):

* delete their identities, timeline, personality evidence (raw answers included) and
  rejections, and their records still in the outbox (pending or published: both carry
  the interaction and the snapshot, or an identifier);
* empty the documents of their `customers` rows (traits, consent, engagement, active
  hours, personality), clear locale and time zone, reset the stage, set `erased_at`;
* keep what holds ids only: `processed_events` (so an old event redelivered later is
  still skipped, instead of re-creating the customer from it) and `merges`;
* enqueue a tombstone on `mc.profiled.v1` (`kind = "erased"`, the id derived from the
  customer id so a retry re-uses it) listing the merged ids in `merged_from`, so the
  router forgets state kept under any of them;
* enqueue a tombstone on `mc.customers.v1` for every identifier they owned (read before
  they are deleted, invalidated addresses included) and every one of their ids, so no
  identifier names them downstream. A tombstone has to name its identifier: it stays in
  the outbox until the relay prunes published rows.

The caller commits and then flushes the relay. Afterwards no identifier resolves to the
customer, and its id answers 404.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from metaconnect_common.outbox import enqueue
from metaconnect_common.refs import merged_ref
from metaconnect_common.schemas.customers import customer_ref_record
from metaconnect_common.schemas.profiled import Profiled
from metaconnect_profile.identity.keys import published_ref
from metaconnect_profile.models import OUTBOX
from metaconnect_profile.profiles import repository
from metaconnect_profile.profiles.queries import find_customer, merged_into
from metaconnect_profile.profiles.refs import CustomerLookup
from metaconnect_profile.profiles.reporting import PROFILED_NAMESPACE, profiled_record

ERASED_STAGE: Final = "erased"
# What an erased row keeps: its id, `created_at`, `holdout` (a hash of the id), `merged_into`.
ERASED_COLUMNS: Final[dict[str, Any]] = {
    "lifecycle_stage": ERASED_STAGE,
    "stage_entered_at": None,
    "locale": None,
    "time_zone": None,
    "traits": {},
    "consent": {},
    "engagement": {},
    "active_hours": [],
    "app_seen_at": None,
    "personality": {},
}


@dataclass(frozen=True)
class Erasure:
    customer_id: uuid.UUID
    merged_ids: list[uuid.UUID]
    erased_at: datetime


def tombstone_id(customer_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(PROFILED_NAMESPACE, f"erased:{customer_id}")


async def erase(session: AsyncSession, lookup: CustomerLookup, *, now: datetime) -> Erasure | None:
    """Erase the live customer `lookup` names; None when it names none (unknown or already erased)."""
    customer = await find_customer(session, lookup, lock=True)
    if customer is None:
        return None
    merged = [m.id for m in await merged_into(session, customer.id, lock=True)]
    ids = [customer.id, *merged]
    owned = await repository.identities(session, ids)
    refs = sorted({ref for kind, value in owned if (ref := published_ref(kind, value))} | {merged_ref(i) for i in ids})
    await repository.erase(session, ids, refs=refs, columns=ERASED_COLUMNS, now=now)
    tombstone = Profiled(
        id=tombstone_id(customer.id), kind="erased", customer_id=customer.id, merged_from=merged, profiled_at=now
    )
    await enqueue(session, OUTBOX, [profiled_record(tombstone), *(customer_ref_record(ref, None) for ref in refs)])
    return Erasure(customer_id=customer.id, merged_ids=merged, erased_at=now)
