"""All SQL of bundles: reading the open bundles, pending items, sends and profiles a batch needs,
and writing what it changed with one statement per table and kind."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Insert,
    RowMapping,
    Table,
    Update,
    any_,
    bindparam,
    delete,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession

from metaconnect_common.schemas import Channel
from metaconnect_router.bundles.schemas import ERASED
from metaconnect_router.models import Bundle, BundleStatus, CustomerProfile, Decision, Erased, Item, ItemState, Send

BUNDLES: Table = Bundle.__table__  # type: ignore[assignment]
ITEMS: Table = Item.__table__  # type: ignore[assignment]
SENDS: Table = Send.__table__  # type: ignore[assignment]
PROFILES: Table = CustomerProfile.__table__  # type: ignore[assignment]
ERASED_CUSTOMERS: Table = Erased.__table__  # type: ignore[assignment]


def any_of(column: Any, name: str) -> ColumnElement[bool]:
    """`column = ANY(:name)`, `name` a list: one statement text however many values it holds, where
    `IN` would render (and PostgreSQL prepare) one per count. Hot statements are built once below,
    so SQLAlchemy finds them compiled."""
    return column == any_(bindparam(name, type_=ARRAY(column.type)))  # type: ignore[no-any-return]


# Each open bundle with its pending items (oldest first), one row per item (one with no item
# columns for an empty bundle); the bundles locked, as the flusher's claim locks them.
_ITEM_LABEL = "item_"
_OPEN_BUNDLES = (
    select(BUNDLES, *[c.label(f"{_ITEM_LABEL}{c.name}") for c in ITEMS.c])
    .outerjoin(ITEMS, (ITEMS.c.bundle_id == BUNDLES.c.id) & (ITEMS.c.state == ItemState.PENDING))
    .where(any_of(BUNDLES.c.customer_id, "customers"), BUNDLES.c.status == BundleStatus.OPEN)
    .order_by(ITEMS.c.created_at)
    .with_for_update(of=BUNDLES)
)
_PENDING_ITEMS = (
    select(ITEMS)
    .where(any_of(ITEMS.c.bundle_id, "bundle_ids"), ITEMS.c.state == ItemState.PENDING)
    .order_by(ITEMS.c.created_at)
)
_DELIVERED_ITEMS = (
    select(ITEMS).where(any_of(ITEMS.c.delivery_id, "delivery_ids"), ITEMS.c.state == ItemState.SENT).with_for_update()
)
_RECENT_SENDS = (
    select(SENDS.c.customer_id, SENDS.c.channel, SENDS.c.sent_at)
    .where(any_of(SENDS.c.customer_id, "customers"), SENDS.c.sent_at >= bindparam("since", type_=DateTime(True)))
    .order_by(SENDS.c.sent_at)
)
_ERASE = insert(ERASED_CUSTOMERS).on_conflict_do_nothing()
_PROFILES = select(PROFILES.c.customer_id, PROFILES.c.profile).where(any_of(PROFILES.c.customer_id, "customers"))

_upsert_profile = insert(PROFILES)
# Executed for many rows: one statement text, compiled once (`.values([...])` compiles every batch).
_SAVE_PROFILES = _upsert_profile.on_conflict_do_update(
    index_elements=[PROFILES.c.customer_id],
    set_={"profile": _upsert_profile.excluded.profile, "updated_at": _upsert_profile.excluded.updated_at},
)


async def open_bundles(
    session: AsyncSession, customers: Sequence[uuid.UUID]
) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """The customers' open bundles, locked (the flusher skips them meanwhile), each with its
    pending items, oldest first: one statement for both."""
    found: dict[uuid.UUID, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
    for row in (await session.execute(_OPEN_BUNDLES, {"customers": list(customers)})).mappings():
        held = found.get(row["id"])
        if held is None:
            held = found[row["id"]] = ({c: row[c] for c in BUNDLES.c.keys()}, [])
        if row[f"{_ITEM_LABEL}id"] is not None:
            held[1].append({c: row[f"{_ITEM_LABEL}{c}"] for c in ITEMS.c.keys()})
    return list(found.values())


async def claim_due(session: AsyncSession, now: datetime, limit: int) -> Sequence[RowMapping]:
    """Due open bundles, locked; bundles another replica holds are skipped, never waited for."""
    rows = await session.execute(
        select(BUNDLES)
        .where(BUNDLES.c.status == BundleStatus.OPEN, BUNDLES.c.due_at <= now)
        .order_by(BUNDLES.c.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return rows.mappings().all()


async def pending_items(session: AsyncSession, bundle_ids: Sequence[uuid.UUID]) -> Sequence[RowMapping]:
    """The pending items of locked bundles, oldest first."""
    if not bundle_ids:
        return ()
    rows = await session.execute(_PENDING_ITEMS, {"bundle_ids": list(bundle_ids)})
    return rows.mappings().all()


async def delivered_items(session: AsyncSession, delivery_ids: Sequence[uuid.UUID]) -> Sequence[RowMapping]:
    """The items deliveries carried, locked: receipts of one delivery may arrive concurrently."""
    rows = await session.execute(_DELIVERED_ITEMS, {"delivery_ids": list(delivery_ids)})
    return rows.mappings().all()


async def recent_sends(
    session: AsyncSession, customers: Sequence[uuid.UUID], since: datetime
) -> dict[uuid.UUID, dict[Channel, list[datetime]]]:
    """What frequency caps count: each customer's sends per channel since `since`, oldest first."""
    rows = await session.execute(_RECENT_SENDS, {"customers": list(customers), "since": since})
    out: dict[uuid.UUID, dict[Channel, list[datetime]]] = {}
    for customer, channel, at in rows:
        out.setdefault(customer, {}).setdefault(Channel(channel), []).append(at)
    return out


async def profiles(session: AsyncSession, customers: Sequence[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    if not customers:
        return {}
    rows = await session.execute(_PROFILES, {"customers": list(customers)})
    return dict(rows.all())


async def save_profiles(session: AsyncSession, profiles: Mapping[uuid.UUID, dict[str, Any]], now: datetime) -> None:
    """The latest profile of each customer, in one statement."""
    if not profiles:
        return
    await session.execute(
        _SAVE_PROFILES, [{"customer_id": c, "profile": p, "updated_at": now} for c, p in profiles.items()]
    )


async def insert_rows(session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """New rows of one table in one statement."""
    if rows:
        await session.execute(_insert(table), list(rows))


async def update_rows(session: AsyncSession, table: Table, changes: Iterable[tuple[uuid.UUID, dict[str, Any]]]) -> None:
    """Rows changed by primary key `id`: one statement (executed for many) per set of changed columns."""
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row_id, values in changes:
        columns = tuple(sorted(values))
        by_columns.setdefault(columns, []).append({"_id": row_id, **{f"_{c}": values[c] for c in columns}})
    for columns, params in by_columns.items():
        await session.execute(_update(table, columns), params)


# The same statement object for the same table (and columns): SQLAlchemy then finds it compiled
# without building it and its cache key again.
@functools.cache
def _insert(table: Table) -> Insert:
    return table.insert()


@functools.cache
def _update(table: Table, columns: tuple[str, ...]) -> Update:
    return (
        update(table)
        .where(table.c.id == bindparam("_id", type_=table.c.id.type))
        .values({c: bindparam(f"_{c}", type_=table.c[c].type) for c in columns})
    )


async def erase(session: AsyncSession, customers: Sequence[uuid.UUID], now: datetime) -> None:
    """Forget what the router holds of the customers; remember only that they were erased.

    Their pending items were marked erased by the caller."""
    if not customers:
        return
    listed = list(dict.fromkeys(customers))
    await session.execute(_ERASE, [{"customer_id": c, "erased_at": now} for c in listed])
    await session.execute(delete(CustomerProfile).where(CustomerProfile.customer_id.in_(listed)))
    # The items' texts and template data may hold what the customer told a channel app.
    await session.execute(update(Item).where(Item.customer_id.in_(listed)).values(payload=ERASED))
    await session.execute(delete(Send).where(Send.customer_id.in_(listed)))


async def repoint(session: AsyncSession, merged: Sequence[uuid.UUID], survivor: uuid.UUID) -> None:
    """Everything of the merged customers now belongs to the survivor; their profiles are gone (the
    survivor's lists their ids, so a merged customer's id still finds it)."""
    for model in (Item, Send, Decision):
        await session.execute(update(model).where(model.customer_id.in_(list(merged))).values(customer_id=survivor))
    await session.execute(delete(CustomerProfile).where(CustomerProfile.customer_id.in_(list(merged))))
