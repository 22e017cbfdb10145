"""How the read API names a customer and a listing position (pure): refs, masks, cursors."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metaconnect_common.errors import ApiError
from metaconnect_profile.profiles.refs import (
    Identifier,
    ProfileId,
    decode_before,
    decode_cursor,
    encode_cursor,
    mask,
    parse_ref,
)


def test_a_ref_is_a_profile_id_or_a_normalised_identifier() -> None:
    customer = uuid.uuid4()
    assert parse_ref(str(customer)) == ProfileId(customer)
    assert parse_ref("email:Ada@Example.COM") == Identifier("email", "ada@example.com")
    assert parse_ref("phone:+49 151 1234 5678") == Identifier("phone", "+4915112345678")
    assert parse_ref("ext:crm:C-7") == Identifier("ext:crm", "C-7")


@pytest.mark.parametrize("ref", ["nobody", "fax:123", "ext:crm", "email:not-an-address"])
def test_anything_else_is_a_422_naming_the_field(ref: str) -> None:
    with pytest.raises(ApiError) as raised:
        parse_ref(ref)
    assert raised.value.status == 422
    assert [e.field for e in raised.value.body.errors] == ["path.ref"] * len(raised.value.body.errors)


@given(local=st.text("abcdefghij", min_size=2, max_size=12), digits=st.text("0123456789", min_size=8, max_size=12))
def test_a_mask_never_shows_the_whole_address(local: str, digits: str) -> None:
    assert mask("email", f"{local}@example.com") == f"{local[0]}***@example.com"
    assert digits not in mask("phone", f"+49{digits}")


@given(at=st.datetimes(timezones=st.just(UTC)), key=st.uuids())
def test_a_cursor_names_the_position_it_was_made_from(at: datetime, key: uuid.UUID) -> None:
    assert decode_cursor(encode_cursor(at, key), field="query.cursor") == (at, key)
    assert decode_before(encode_cursor(at, key)) == (at, key)


def test_before_may_be_a_time_with_an_offset() -> None:
    at = datetime(2025, 6, 1, 12, tzinfo=UTC)
    assert decode_before("2025-06-01T14:00:00+02:00") == (at, uuid.UUID(int=0))  # everything before it
    with pytest.raises(ApiError):
        decode_before("2025-06-01T12:00:00")
    with pytest.raises(ApiError):
        decode_cursor("not-a-cursor", field="query.cursor")
    assert decode_before("2025-06-01T12:00:00Z")[0] == at
