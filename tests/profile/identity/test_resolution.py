"""Which customer a reference names (pure): owners, identifiers to attach, the survivor of a merge."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from metaconnect_common.schemas.interaction import CustomerRef
from metaconnect_profile.identity.keys import METACONNECT, identifiers
from metaconnect_profile.identity.resolution import resolve, survivor_of

T0 = datetime(2025, 6, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Dated:
    id: uuid.UUID
    created_at: datetime


REFS = st.fixed_dictionaries(
    {},
    optional={
        "metaconnect_id": st.sampled_from([uuid.UUID(int=1), uuid.UUID(int=2)]),
        "customer_id": st.sampled_from(["c-1", "c-2"]),
        "email": st.sampled_from(["a@example.com", "b@example.com"]),
    },
).filter(bool)


@given(ref=REFS, owned=st.dictionaries(st.integers(0, 5), st.sampled_from([uuid.UUID(int=7), uuid.UUID(int=8)])))
def test_owners_and_unowned_identifiers(ref: dict[str, object], owned: dict[int, uuid.UUID]) -> None:
    ids = identifiers(CustomerRef.model_validate(ref))
    owner_of = {ids[i]: o for i, o in owned.items() if i < len(ids)}
    resolution = resolve(CustomerRef.model_validate(ref), owner_of)
    assert list(resolution.owners) == sorted(set(owner_of.values()))
    assert set(resolution.unowned) == {i for i in ids if i not in owner_of and i[0] != METACONNECT}
    assert resolution.unknown == (not owner_of and all(i[0] == METACONNECT for i in ids))


def test_a_metaconnect_id_is_resolved_never_attached() -> None:
    customer = uuid.uuid4()
    ref = CustomerRef(metaconnect_id=customer, email="a@example.com")
    resolution = resolve(ref, {(METACONNECT, str(customer)): customer})
    assert resolution.owners == (customer,)
    assert resolution.unowned == (("email", "a@example.com"),)
    assert resolve(CustomerRef(metaconnect_id=uuid.uuid4()), {}).unknown


@given(st.lists(st.tuples(st.integers(0, 3), st.uuids()), min_size=1, max_size=8), st.randoms())
def test_the_survivor_is_the_oldest_then_the_smallest_id_whatever_the_order(
    drawn: list[tuple[int, uuid.UUID]], rng: random.Random
) -> None:
    customers = [Dated(i, T0 + timedelta(days=d)) for d, i in drawn]
    expected = min(customers, key=lambda c: (c.created_at, c.id))
    shuffled = list(customers)
    rng.shuffle(shuffled)
    assert survivor_of(shuffled) == survivor_of(customers) == expected
