"""Rows of `router.items` and `router.bundles` as a ledger holds them in memory, and the changes
it makes to them.

Plain slotted dataclasses rather than ORM instances: a batch inserts and updates thousands of
rows with one statement per table and kind (`repository.insert_rows`, `update_rows`), which the
ORM's unit of work would not. Their fields are the tables' columns, checked at import: a column
added to `models.py` and not here fails at once instead of being silently left out of inserts.
"""

from __future__ import annotations

import types
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar, Union, get_args, get_origin, get_type_hints

from sqlalchemy import RowMapping, Table

from metaconnect_router.bundles import bundling
from metaconnect_router.bundles.repository import BUNDLES, ITEMS
from metaconnect_router.bundles.schemas import ErasedPayload, ItemPayload, stored_payload
from metaconnect_router.models import BundleStatus, ItemState
from metaconnect_router.routes.spec import Category


@dataclass(slots=True, eq=False)
class ItemRow:
    """A row of `router.items`: one message for one customer."""

    id: uuid.UUID
    decision_id: uuid.UUID
    customer_id: uuid.UUID
    bundle_id: uuid.UUID | None
    state: ItemState
    route: str
    message_id: str
    priority: int
    category: Category
    collapse_key: str | None
    created_at: datetime
    expires_at: datetime | None
    not_before: datetime | None
    payload: ItemPayload | ErasedPayload
    delivery_id: uuid.UUID | None = None
    delivered_at: datetime | None = None
    engaged_at: datetime | None = None

    @classmethod
    def loaded(cls, row: Mapping[str, Any] | RowMapping) -> ItemRow:
        return cls(
            **{
                **row,
                "state": ItemState(row["state"]),
                "category": Category(row["category"]),
                "payload": stored_payload(row["payload"]),
            }
        )

    def values(self, columns: Iterable[str]) -> dict[str, Any]:
        out = {c: getattr(self, c) for c in columns}
        if "payload" in out:
            out["payload"] = self.payload.stored()
        return out

    @property
    def content(self) -> ItemPayload:
        """What the item carries; an erased customer's item carries nothing and is never sent."""
        if isinstance(self.payload, ErasedPayload):
            raise ValueError(f"item {self.id} was erased")
        return self.payload

    def pending(self) -> bundling.PendingItem:
        """The item as the bundling rules see it."""
        return bundling.PendingItem(
            id=self.id,
            route=self.route,
            message_id=self.message_id,
            priority=self.priority,
            category=self.category,
            collapse_key=self.collapse_key,
            created_at=self.created_at,
            expires_at=self.expires_at,
            not_before=self.not_before,
        )


@dataclass(slots=True, eq=False)
class BundleRow:
    """A row of `router.bundles`: a customer's bundle, open until it flushes."""

    id: uuid.UUID
    customer_id: uuid.UUID
    status: BundleStatus
    opened_at: datetime
    due_at: datetime
    max_items: int
    policy: dict[str, Any]  # of the route whose item opened it: channel order, caps
    flushed_at: datetime | None = None
    delivery_id: uuid.UUID | None = None

    @classmethod
    def loaded(cls, row: Mapping[str, Any] | RowMapping) -> BundleRow:
        return cls(**{**row, "status": BundleStatus(row["status"])})

    def values(self, columns: Iterable[str]) -> dict[str, Any]:
        return {c: getattr(self, c) for c in columns}


def check_columns(row_type: type, table: Table) -> None:
    """Raise unless `row_type`'s fields are `table`'s columns, optional exactly where nullable."""
    hints = get_type_hints(row_type)
    names = [f.name for f in fields(row_type)]
    if set(names) != set(table.columns.keys()):
        missing, extra = set(table.columns.keys()) - set(names), set(names) - set(table.columns.keys())
        raise TypeError(
            f"{row_type.__name__} and {table.name} differ: missing {sorted(missing)}, extra {sorted(extra)}"
        )
    for column in table.columns:
        hint = hints[column.name]
        optional = get_origin(hint) in (Union, types.UnionType) and type(None) in get_args(hint)
        if optional != bool(column.nullable):
            raise TypeError(f"{row_type.__name__}.{column.name}: optional must match the column's nullability")


check_columns(ItemRow, ITEMS)
check_columns(BundleRow, BUNDLES)


class _Row(Protocol):
    @property
    def id(self) -> uuid.UUID: ...

    def values(self, columns: Iterable[str]) -> dict[str, Any]: ...


R = TypeVar("R", bound=_Row)


class Changes(Generic[R]):
    """New rows of one table and the columns changed on loaded ones, for one statement per kind."""

    def __init__(self, table: Table) -> None:
        self._columns = tuple(table.columns.keys())
        self.new: dict[uuid.UUID, R] = {}
        self.changed: dict[uuid.UUID, tuple[R, set[str]]] = {}

    def add(self, row: R) -> None:
        self.new[row.id] = row

    def set(self, row: R, **values: Any) -> None:
        for name, value in values.items():
            setattr(row, name, value)
        if row.id not in self.new:
            self.changed.setdefault(row.id, (row, set()))[1].update(values)

    def inserts(self) -> list[dict[str, Any]]:
        return [row.values(self._columns) for row in self.new.values()]

    def updates(self) -> list[tuple[uuid.UUID, dict[str, Any]]]:
        return [(i, row.values(changed)) for i, (row, changed) in self.changed.items()]
