"""The batch in memory (pure): however a partition's interactions are split into batches, the
profiles and `mc.profiled.v1` records come out the same; merges, evidence and invalidation included.
The `mc.customers.v1` records, read in order, name each identifier's owner as the store holds it."""

from __future__ import annotations

import hashlib
import itertools
import json
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from metaconnect_common.schemas.customers import CustomerRefRecord
from metaconnect_common.schemas.interaction import Channel, CustomerRef, Interaction
from metaconnect_profile.identity.keys import identifiers, published_ref
from metaconnect_profile.identity.resolution import Identifier
from metaconnect_profile.profiles.batch import (
    Changes,
    Profile,
    TracedInteraction,
    carry_out,
    evidence_needed,
    resolve_steps,
    unseen,
)
from tests.profile.personality.answers import COLOUR_ANSWERS
from tests.profile.profiles.events import POLICY

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


class Store:
    """What the database keeps between batches, in memory: what `repository` reads and writes."""

    def __init__(self) -> None:
        self.owners: dict[Identifier, uuid.UUID] = {}
        self.profiles: dict[uuid.UUID, Profile] = {}
        self.applied: set[uuid.UUID] = set()
        self.published: dict[str, uuid.UUID | None] = {}  # the latest `mc.customers.v1` value per key
        self.rows = itertools.count(1)
        ids = (uuid.UUID(int=n) for n in itertools.count(1))  # the same customer ids in every run
        self.new_id = lambda: next(ids)

    def apply(self, events: Sequence[Interaction]) -> Changes:
        todo = unseen([TracedInteraction(e) for e in events], self.applied)
        wanted = {i for item in todo for i in identifiers(item.interaction.customer)}
        owner_of = {i: self.owners[i] for i in wanted if i in self.owners}
        profiles = {o: self.profiles[o] for o in owner_of.values()}
        for profile in profiles.values():
            profile.stored = frozenset(i for i, o in self.owners.items() if o == profile.id)
        steps = resolve_steps(todo, owner_of, profiles, now=NOW, policy=POLICY, new_id=self.new_id)
        assert evidence_needed(steps) <= set(profiles)
        changes = carry_out(steps, profiles, now=NOW, policy=POLICY)
        # The write: identifiers owned, evidence rows numbered in insertion order, event ids applied.
        self.owners.update({(r["kind"], r["value"]): r["customer_id"] for r in changes.identities})
        for m in changes.moved:
            self.owners.update({i: m["to"] for i, o in self.owners.items() if o == m["from"]})
        numbered = {r["event_id"]: next(self.rows) for r in changes.evidence}
        for profile in profiles.values():
            profile.new = False
            profile.evidence = [
                replace(e, row_id=numbered.get(e.event_id)) if e.row_id is None else e for e in profile.evidence or []
            ]
        self.profiles.update(profiles)
        self.applied.update(r["event_id"] for r in changes.processed)
        self.published.update(_published(changes))
        return changes


def _published(changes: Changes) -> dict[str, uuid.UUID | None]:
    """The batch's `mc.customers.v1` records: the customer each key names (None: a tombstone)."""
    out: dict[str, uuid.UUID | None] = {}
    for record in changes.customer_refs:
        assert record.key is not None
        value = None if record.value is None else CustomerRefRecord.model_validate_json(record.value).customer_id
        out[record.key.decode()] = value
    return out


def _records(store: Store, batches: Sequence[Sequence[Interaction]]) -> list[dict[str, Any]]:
    return [json.loads(r.value or b"") for batch in batches for r in store.apply(batch).records]


def _event(n: int, ref: dict[str, Any], kind: str, channel: str, props: dict[str, Any]) -> Interaction:
    at = NOW - timedelta(hours=1) + timedelta(minutes=n)
    return Interaction(
        event_id=uuid.UUID(int=10**6 + n),
        customer=CustomerRef.model_validate(ref),
        type=kind,
        channel=Channel(channel),
        occurred_at=at,
        received_at=at,
        source="key_app",
        properties=props,
    )


KINDS: list[tuple[str, str, dict[str, Any]]] = [
    ("consent.changed", "web", {"purpose": "profiling_behaviour", "granted": True}),
    ("consent.changed", "web", {"purpose": "profiling_behaviour", "granted": False}),
    ("consent.changed", "web", {"purpose": "profiling_questionnaire", "granted": True}),
    ("consent.changed", "web", {"objection": True}),
    ("message.clicked", "push", {"tone": "red"}),
    ("message.opened", "email", {"tone": "blue"}),
    ("message.dismissed", "sms", {"tone": "green"}),
    ("message.bounced", "email", {"bounce": "hard"}),
    ("app.uninstalled", "push", {}),
    ("questionnaire.submitted", "web", {"instrument": "colours24", "answers": COLOUR_ANSWERS}),
    ("questionnaire.submitted", "web", {"instrument": "colours24", "answers": []}),
    ("profile.updated", "web", {"locale": "de-DE", "traits": {"plan": "gold"}}),
    ("profile.updated", "web", {"time_zone": "Europe/Paris", "traits": {"plan": "free"}}),
    ("purchase.completed", "store", {"amount": 3}),
]
# A small pool of identifiers, so references link customers and merge them.
REFS = st.fixed_dictionaries(
    {},
    optional={
        "customer_id": st.sampled_from(["c-1", "c-2", "c-3"]),
        "email": st.sampled_from(["a@example.com", "b@example.com"]),
        "phone": st.sampled_from(["+4915112345678"]),
        "device_token": st.sampled_from(["device-token-1", "device-token-2"]),
    },
).filter(bool)
EVENTS = st.lists(st.tuples(REFS, st.sampled_from(KINDS)), min_size=1, max_size=25).map(
    lambda drawn: [_event(n, ref, *kind) for n, (ref, kind) in enumerate(drawn)]
)


@settings(max_examples=60, deadline=None)
@given(events=EVENTS, cuts=st.sets(st.integers(min_value=1, max_value=24)), redelivered=st.integers(0, 24))
def test_however_the_interactions_are_split_the_profiles_and_records_are_the_same(
    events: list[Interaction], cuts: set[int], redelivered: int
) -> None:
    bounds = [0, *sorted(c for c in cuts if c < len(events)), len(events)]
    batches = [events[a:b] for a, b in itertools.pairwise(bounds)]
    # A record delivered again (after a crash, say) in a later batch changes nothing.
    batches[-1] = [*batches[-1], events[redelivered % len(events)]]
    together, split = Store(), Store()
    assert _records(split, batches) == _records(together, [[e for b in batches for e in b]])
    assert split.owners == together.owners
    for customer_id, profile in together.profiles.items():
        other = split.profiles[customer_id]
        assert (other.state, other.personality, other.valid, other.merged_into) == (
            profile.state,
            profile.personality,
            profile.valid,
            profile.merged_into,
        )
        assert [(e.kind, e.payload) for e in other.evidence or []] == [
            (e.kind, e.payload) for e in profile.evidence or []
        ]


def _owners_published(store: Store) -> dict[str, uuid.UUID | None]:
    """What `mc.customers.v1` should say now: every identifier stored but device tokens, its owner."""
    return {ref: owner for (kind, value), owner in store.owners.items() if (ref := published_ref(kind, value))}


@settings(max_examples=60, deadline=None)
@given(events=EVENTS, cuts=st.sets(st.integers(min_value=1, max_value=24)))
def test_the_last_customer_record_of_every_identifier_names_its_owner_now(
    events: list[Interaction], cuts: set[int]
) -> None:
    bounds = [0, *sorted(c for c in cuts if c < len(events)), len(events)]
    store = Store()
    for a, b in itertools.pairwise(bounds):
        changes = store.apply(events[a:b])
        keys = [r.key for r in changes.customer_refs]
        assert len(keys) == len(set(keys))  # one record per identifier and batch: its final owner
    assert store.published == _owners_published(store)
    assert not any(key.startswith("device:") for key in store.published)


def test_a_new_customer_is_published_under_its_id_and_identifiers_but_not_its_device_token() -> None:
    store = Store()
    ref = {
        "customer_id": "c-1",
        "email": "a@example.com",
        "device_token": "device-token-1",
        "external_ids": {"crm": "C-7"},
    }
    changes = store.apply([_event(0, ref, *KINDS[13])])
    customer = store.owners[("cid", "c-1")]
    assert _published(changes) == {
        f"id:{customer}": customer,
        "cid:c-1": customer,
        "email:a@example.com": customer,
        "ext:crm:C-7": customer,
    }


def test_an_identifier_attached_to_a_known_customer_is_published() -> None:
    store = Store()
    store.apply([_event(0, {"customer_id": "c-1"}, *KINDS[13])])
    changes = store.apply([_event(1, {"customer_id": "c-1", "phone": "+4915112345678"}, *KINDS[13])])
    assert _published(changes) == {"phone:+4915112345678": store.owners[("cid", "c-1")]}
    assert store.apply([_event(2, {"customer_id": "c-1"}, *KINDS[13])]).customer_refs == []


def test_a_merge_in_one_batch_points_the_merged_customers_identifiers_and_id_at_the_survivor() -> None:
    store = Store()
    changes = store.apply(
        [
            _event(0, {"customer_id": "c-1"}, *KINDS[13]),
            _event(1, {"email": "a@example.com"}, *KINDS[13]),
            _event(2, {"customer_id": "c-1", "email": "a@example.com"}, *KINDS[13]),
        ]
    )
    survivor = store.owners[("cid", "c-1")]
    [merged] = [m["merged_id"] for m in changes.merges]
    assert _published(changes) == {
        f"id:{survivor}": survivor,
        f"id:{merged}": survivor,
        "cid:c-1": survivor,
        "email:a@example.com": survivor,
    }


def test_a_merge_of_stored_customers_moves_every_identifier_the_merged_one_had_invalidated_ones_too() -> None:
    store = Store()
    store.apply([_event(0, {"customer_id": "c-1"}, *KINDS[13])])
    store.apply(
        [
            _event(
                1, {"email": "a@example.com", "phone": "+4915112345678", "device_token": "device-token-1"}, *KINDS[13]
            ),
            _event(2, {"phone": "+4915112345678"}, *KINDS[7]),  # hard bounce: the e-mail address no longer reaches
        ]
    )
    merged = store.owners[("phone", "+4915112345678")]
    assert ("email", "a@example.com") not in store.profiles[merged].valid
    changes = store.apply([_event(3, {"customer_id": "c-1", "phone": "+4915112345678"}, *KINDS[13])])
    survivor = store.owners[("cid", "c-1")]
    assert changes.moved == [{"from": merged, "to": survivor}]
    assert _published(changes) == {
        f"id:{merged}": survivor,
        "email:a@example.com": survivor,
        "phone:+4915112345678": survivor,
    }
    assert store.published == _owners_published(store)


def test_an_interaction_linking_customers_merges_them_into_the_oldest() -> None:
    store = Store()
    store.apply([_event(0, {"customer_id": "c-1"}, *KINDS[0]), _event(1, {"email": "a@example.com"}, *KINDS[4])])
    oldest = store.owners[("cid", "c-1")]
    store.profiles[oldest].created_at -= timedelta(days=1)
    changes = store.apply([_event(2, {"customer_id": "c-1", "email": "a@example.com"}, *KINDS[4])])
    [record] = changes.records
    other = uuid.UUID(json.loads(record.value or b"")["merged_from"][0])
    assert json.loads(record.value or b"")["customer_id"] == str(oldest)
    assert changes.moved == [{"from": other, "to": oldest}]
    assert store.owners[("email", "a@example.com")] == store.owners[("mc", str(other))] == oldest
    assert [(m["survivor_id"], m["merged_id"]) for m in changes.merges] == [(oldest, other)]
    # The consent given under c-1 holds for the merged profile, and the click is evidence.
    assert json.loads(record.value or b"")["profile"]["purposes"]["profiling_behaviour"]["granted"]
    assert [r["kind"] for r in changes.evidence] == ["behaviour"]


def test_an_address_invalidated_then_attached_again_stays_valid_only_for_the_new_value() -> None:
    store = Store()
    changes = store.apply(
        [
            _event(0, {"customer_id": "c-1", "email": "a@example.com"}, *KINDS[13]),
            _event(1, {"customer_id": "c-1"}, *KINDS[7]),  # hard bounce on e-mail
            _event(2, {"customer_id": "c-1", "email": "b@example.com"}, *KINDS[13]),
        ]
    )
    assert [(r["kind"], r["value"]) for r in changes.invalidations] == [("email", "a@example.com")]
    [customer] = store.profiles.values()
    assert {i for i in customer.valid if i[0] == "email"} == {("email", "b@example.com")}
    assert json.loads(changes.records[-1].value or b"")["profile"]["contact"]["email"] == "b@example.com"


def test_a_bounce_naming_one_device_token_invalidates_that_token_only() -> None:
    store = Store()
    tokens = ["token-a-12345678", "token-b-12345678", "token-c-12345678"]
    events = [
        _event(i, {"customer_id": "c-9", "device_token": t}, "app.opened", "in_app", {}) for i, t in enumerate(tokens)
    ]
    gone = hashlib.sha256(tokens[1].encode()).hexdigest()
    bounce = {"bounce": "hard", "reason": "http_404", "address_sha256": gone}
    changes = store.apply([*events, _event(3, {"customer_id": "c-9"}, "message.bounced", "push", bounce)])
    assert [(r["kind"], r["value"]) for r in changes.invalidations] == [("device", tokens[1])]
    contact = json.loads(changes.records[-1].value or b"")["profile"]["contact"]
    assert contact["push_tokens"] == [tokens[0], tokens[2]]


def test_a_reference_naming_only_an_unknown_metaconnect_id_is_left_out() -> None:
    store = Store()
    ghost = _event(0, {"metaconnect_id": str(uuid.uuid4())}, *KINDS[13])
    changes = store.apply([ghost, _event(1, {"customer_id": "c-1"}, *KINDS[13])])
    assert len(changes.records) == len(changes.processed) == 1
    assert ghost.event_id not in store.applied


@given(
    ids=st.lists(st.uuids(), max_size=20),
    applied_before=st.sets(st.uuids(), max_size=5),
)
def test_unseen_keeps_the_first_of_each_event_id_not_applied_before(
    ids: list[uuid.UUID], applied_before: set[uuid.UUID]
) -> None:
    items = [
        TracedInteraction(_event(0, {"customer_id": "c-1"}, *KINDS[13]).model_copy(update={"event_id": i})) for i in ids
    ]
    kept = [i.interaction.event_id for i in unseen(items, applied_before)]
    assert kept == [i for i in dict.fromkeys(ids) if i not in applied_before]
