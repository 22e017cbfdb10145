"""Identifiers -> channels and addresses (pure)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from metaconnect_common.schemas import Channel
from metaconnect_common.schemas.profiled import MAX_PUSH_TOKENS
from metaconnect_profile.identity.keys import contact_of, identity_refs, reachable_channels

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
MONTH = timedelta(days=30)


def test_the_contact_holds_one_email_one_phone_and_the_device_tokens() -> None:
    valid = {
        ("cid", "c-1"),
        ("email", "zoe@example.com"),
        ("email", "ada@example.com"),
        ("phone", "+4915112345678"),
        ("device", "token-b-12345678"),
        ("device", "token-a-12345678"),
        ("ext:shop", "42"),
    }
    contact = contact_of(valid)
    assert contact.email == "ada@example.com"  # the first in sort order: every replica agrees
    assert contact.phone == "+4915112345678"
    assert contact.push_tokens == ["token-a-12345678", "token-b-12345678"]
    assert reachable_channels({k for k, _ in valid}, None, now=NOW, presence=MONTH) == [
        Channel.IN_APP,
        Channel.EMAIL,
        Channel.SMS,
        Channel.WHATSAPP,
        Channel.PUSH,
    ]


def test_a_customer_known_by_id_only_has_no_address() -> None:
    contact = contact_of({("cid", "c-1")})
    assert (contact.email, contact.phone, contact.push_tokens) == (None, None, [])
    assert reachable_channels({"cid"}, None, now=NOW, presence=MONTH) == []


@given(
    kinds=st.sets(st.sampled_from(["cid", "email", "phone", "device", "ext:crm"])),
    seen_hours_ago=st.none() | st.integers(min_value=0, max_value=90 * 24),
)
def test_in_app_reaches_only_a_customer_with_the_app_or_seen_in_it_lately(
    kinds: set[str], seen_hours_ago: int | None
) -> None:
    seen = None if seen_hours_ago is None else NOW - timedelta(hours=seen_hours_ago)
    reachable = reachable_channels(kinds, seen, now=NOW, presence=MONTH)
    present = "device" in kinds or (seen_hours_ago is not None and seen_hours_ago <= 30 * 24)
    assert (Channel.IN_APP in reachable) is present
    # An e-mail address and a phone number alone never make an inbox somebody opens.
    assert (Channel.EMAIL in reachable) is ("email" in kinds)


@given(st.sets(st.text(min_size=8, max_size=20), max_size=30))
def test_device_tokens_are_capped_and_do_not_depend_on_order(tokens: set[str]) -> None:
    valid = [("device", t) for t in tokens]
    contact = contact_of(valid)
    assert len(contact.push_tokens) == min(len(tokens), MAX_PUSH_TOKENS)
    assert contact == contact_of(list(reversed(valid)))


def test_the_snapshot_names_the_customer_by_canonical_refs_and_merged_ids_never_by_device() -> None:
    own, merged = uuid.uuid4(), uuid.uuid4()
    valid = {
        ("mc", str(own)),
        ("mc", str(merged)),
        ("cid", "c-1"),
        ("email", "ada@example.com"),
        ("phone", "+4915112345678"),
        ("device", "token-a-12345678"),
        ("ext:shop", "42"),
    }
    assert identity_refs(own, valid) == sorted(
        ["cid:c-1", "email:ada@example.com", "phone:+4915112345678", "ext:shop:42", f"id:{merged}"]
    )
    assert identity_refs(own, {("mc", str(own))}) == []  # the own id is the record's `customer_id`
