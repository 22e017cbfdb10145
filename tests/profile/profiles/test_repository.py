"""The SQL of applying interactions, against the real PostgreSQL: what a batch reads (owners of
identifiers, locked profiles), and the conflicts it reports so the consumer runner retries."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from metaconnect_common.db import session_factory, unit_of_work
from metaconnect_profile.identity.resolution import IdentityConflict
from metaconnect_profile.profiles import repository
from metaconnect_profile.profiles.batch import Changes, TracedInteraction
from metaconnect_profile.profiles.service import ProfileService
from metaconnect_profile.profiles.state import ProfilePolicy
from tests.profile.conftest import interaction, profile_settings

NOW = datetime.now(UTC)


@pytest.fixture
def service(database_url: str, kafka_bootstrap: str, engine: AsyncEngine) -> ProfileService:
    return ProfileService(
        session_factory(engine), ProfilePolicy.from_settings(profile_settings(database_url, kafka_bootstrap))
    )


async def test_applied_and_owners_answers_for_the_events_and_identifiers_asked_about_only(
    service: ProfileService, engine: AsyncEngine
) -> None:
    tag = uuid.uuid4().hex[:8]
    known = {"customer_id": f"owners-{tag}", "email": f"owners-{tag}@example.com"}
    first = interaction(known)
    await service.apply([TracedInteraction(first)], now=NOW)
    async with unit_of_work(session_factory(engine)) as session:
        applied, owners = await repository.applied_and_owners(
            session,
            [first.event_id, uuid.uuid4()],
            {("cid", known["customer_id"]), ("email", known["email"]), ("cid", f"nobody-{tag}")},
        )
        assert applied == {first.event_id}
        assert await repository.applied_and_owners(session, [], set()) == (set(), {})
        assert await repository.applied_and_owners(session, [uuid.uuid4()], set()) == (set(), {})
    assert set(owners) == {("cid", known["customer_id"]), ("email", known["email"])}
    [customer] = set(owners.values())
    async with unit_of_work(session_factory(engine)) as session:
        [profile] = (await repository.lock_profiles(session, {customer})).values()
        assert profile.id == customer
        assert ("email", known["email"]) in profile.valid
        assert profile.evidence is None  # read only when a step needs it


async def test_a_merged_owner_is_a_conflict_to_retry(service: ProfileService, engine: AsyncEngine) -> None:
    tag = uuid.uuid4().hex[:8]
    a, b = {"customer_id": f"gone-{tag}"}, {"email": f"gone-{tag}@example.com"}
    await service.apply([TracedInteraction(interaction(a)), TracedInteraction(interaction(b))], now=NOW)
    async with unit_of_work(session_factory(engine)) as session:
        _, owners = await repository.applied_and_owners(session, [], {("cid", a["customer_id"]), ("email", b["email"])})
    await service.apply([TracedInteraction(interaction({**a, **b}))], now=NOW)  # merges them
    async with unit_of_work(session_factory(engine)) as session:
        with pytest.raises(IdentityConflict):
            await repository.lock_profiles(session, set(owners.values()))


async def test_an_identifier_claimed_meanwhile_is_a_conflict_to_retry(
    service: ProfileService, engine: AsyncEngine
) -> None:
    claimed = {"email": f"claimed-{uuid.uuid4().hex[:8]}@example.com"}
    await service.apply([TracedInteraction(interaction(claimed))], now=NOW)
    changes = Changes(
        identities=[{"kind": "email", "value": claimed["email"], "customer_id": uuid.uuid4(), "created_at": NOW}]
    )
    async with unit_of_work(session_factory(engine)) as session:
        with pytest.raises(IdentityConflict):
            await repository.write(session, changes)
