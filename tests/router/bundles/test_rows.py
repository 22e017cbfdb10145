"""Item and bundle rows: their fields are the tables' columns; the payload keeps its stored shape."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from metaconnect_common.schemas import Channel
from metaconnect_router.bundles.repository import BUNDLES, ITEMS
from metaconnect_router.bundles.rows import BundleRow, ItemRow, check_columns
from metaconnect_router.bundles.schemas import ERASED, ErasedPayload, ItemPayload, stored_payload
from metaconnect_router.models import ItemState
from tests.router.bundles.rows_factory import item_row

NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)


def test_the_row_types_are_the_tables() -> None:
    check_columns(ItemRow, ITEMS)
    check_columns(BundleRow, BUNDLES)


def test_a_row_type_without_a_new_column_is_refused() -> None:
    @dataclass
    class Stale:
        id: uuid.UUID
        customer_id: uuid.UUID

    with pytest.raises(TypeError, match=r"missing \['delivery_id', 'due_at'"):
        check_columns(Stale, BUNDLES)


def test_a_row_type_must_allow_none_exactly_where_the_column_does() -> None:
    @dataclass
    class Strict:
        id: uuid.UUID
        customer_id: uuid.UUID
        status: str
        opened_at: datetime
        due_at: datetime
        max_items: int
        policy: dict[str, Any]
        flushed_at: datetime  # nullable in the table
        delivery_id: uuid.UUID | None

    with pytest.raises(TypeError, match="flushed_at"):
        check_columns(Strict, BUNDLES)


def _legacy_payload(row: ItemRow) -> dict[str, Any]:
    """The payload as the router wrote it before it had a model."""
    payload = row.content
    return {
        "item": payload.item.model_dump(mode="json"),
        "channels": [c.value for c in payload.channels],
        "arm": {"pattern": payload.arm.pattern, "tone": payload.arm.tone.value},
        "locale": payload.locale,
    }


def test_the_payload_is_stored_in_the_shape_it_always_had() -> None:
    row = item_row(uuid.uuid4(), NOW, cart_value=20)
    legacy = _legacy_payload(row)
    assert row.values(["payload"]) == {"payload": legacy}
    assert stored_payload(legacy) == row.payload
    sent = row.content.model_copy(update={"sent_channel": Channel.PUSH})
    assert sent.stored() == {**legacy, "sent_channel": "push"}
    assert stored_payload({**legacy, "sent_channel": "push"}) == sent


def test_an_erased_customers_payload_loads_and_carries_nothing() -> None:
    payload = stored_payload(dict(ERASED))
    assert isinstance(payload, ErasedPayload)
    assert payload.stored() == ERASED
    row = item_row(uuid.uuid4(), NOW)
    row.payload = payload
    with pytest.raises(ValueError, match="erased"):
        _ = row.content


def test_a_loaded_row_has_its_states_and_payload_typed() -> None:
    row = item_row(uuid.uuid4(), NOW)
    stored = {**row.values(ITEMS.columns.keys()), "state": "sent", "category": "marketing"}
    loaded = ItemRow.loaded(stored)
    assert loaded.state is ItemState.SENT
    assert isinstance(loaded.payload, ItemPayload)
    assert loaded.values(ITEMS.columns.keys()) == {**stored, "state": ItemState.SENT}
