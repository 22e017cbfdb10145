"""Migration 0006: the lifecycle's version 1 comes from the old settings (or the old defaults),
and existing customers keep their stage, entered at `created_at`, with one history row each."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from metaconnect_common.migrations import alembic_config
from metaconnect_profile.lifecycles.spec import DEFAULT_LIFECYCLE, LifecycleSpec, spec_document

CREATED = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)


def test_existing_customers_keep_their_stage_and_get_a_history(empty_database_url: str) -> None:
    cfg = alembic_config("metaconnect_profile", empty_database_url)
    command.upgrade(cfg, "0005")  # before lifecycles
    live, old_stage, merged, erased = (uuid.uuid4() for _ in range(4))
    stages = {live: "customer", old_stage: "prospect", merged: "lead", erased: "erased"}
    asyncio.run(_store(empty_database_url, stages, merged=merged, erased=erased))

    command.upgrade(cfg, "head")

    spec, customers, history = asyncio.run(_read(empty_database_url))
    assert LifecycleSpec.model_validate(spec) == DEFAULT_LIFECYCLE.model_copy(
        update={"description": spec["description"]}
    )
    assert customers == {
        live: ("customer", CREATED),
        old_stage: ("prospect", CREATED),  # a stage no longer configured is kept
        merged: ("lead", None),
        erased: ("erased", None),
    }
    assert history == [(c, None, stages[c], 1, "lifecycle.migrated", CREATED) for c in sorted([live, old_stage])]
    command.downgrade(cfg, "0005")
    command.upgrade(cfg, "head")


def test_version_1_comes_from_the_old_settings_when_they_are_set(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MC_PROFILE_STAGES", json.dumps(["visitor", "buyer"]))
    monkeypatch.setenv("MC_PROFILE_STAGE_RULES", json.dumps({"order.paid": "buyer", "cart.checked_out": "buyer"}))
    cfg = alembic_config("metaconnect_profile", empty_database_url)
    command.upgrade(cfg, "head")
    spec = LifecycleSpec.model_validate(asyncio.run(_read(empty_database_url))[0])
    assert [s.name for s in spec.stages] == ["visitor", "buyer"]
    assert spec.stages[1].enter_on[0].event_types == ["cart.checked_out", "order.paid"]
    assert spec_document(spec)["stages"][0]["enter_on"] == []


async def _store(url: str, stages: dict[uuid.UUID, str], *, merged: uuid.UUID, erased: uuid.UUID) -> None:
    engine = create_async_engine(url)
    survivor = next(iter(stages))
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO profile.customers (id, created_at, updated_at, erased_at, lifecycle_stage, holdout,"
                    " traits, consent, engagement, active_hours, personality)"
                    " VALUES (:id, :at, :at, :erased_at, :stage, false, '{}', '{}', '{}', '[]', '{}')"
                ),
                [
                    {"id": c, "at": CREATED, "erased_at": CREATED if c == erased else None, "stage": stage}
                    for c, stage in stages.items()
                ],
            )
            await conn.execute(
                text("UPDATE profile.customers SET merged_into = :s WHERE id = :m"), {"s": survivor, "m": merged}
            )
    finally:
        await engine.dispose()


async def _read(url: str) -> tuple[dict[str, Any], dict[uuid.UUID, tuple[str, datetime | None]], list[Any]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            spec = await conn.scalar(text("SELECT spec FROM profile.lifecycle_versions WHERE version = 1"))
            customers = {
                r.id: (r.lifecycle_stage, r.stage_entered_at)
                for r in await conn.execute(text("SELECT id, lifecycle_stage, stage_entered_at FROM profile.customers"))
            }
            history = [
                tuple(r)
                for r in await conn.execute(
                    text(
                        "SELECT customer_id, from_stage, to_stage, lifecycle_version, event_type, changed_at"
                        " FROM profile.stage_changes ORDER BY customer_id"
                    )
                )
            ]
    finally:
        await engine.dispose()
    return spec, customers, history
