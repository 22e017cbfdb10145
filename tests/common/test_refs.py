"""Customer refs (pure): one parser and one canonical spelling for every service."""

from __future__ import annotations

import uuid

import pytest

from metaconnect_common.errors import ApiError
from metaconnect_common.refs import CustomerId, Identifier, merged_ref, parse_ref, stored_ref


def test_a_ref_is_a_customer_id_or_a_normalised_identifier() -> None:
    customer = uuid.uuid4()
    assert parse_ref(str(customer)) == CustomerId(customer)
    assert parse_ref("cid: c-1042 ") == Identifier("cid", "c-1042")
    assert parse_ref("email:Ada@Example.COM") == Identifier("email", "ada@example.com")
    assert parse_ref("phone:+49 151 1234 5678") == Identifier("phone", "+4915112345678")
    assert parse_ref("device:tok-12345678") == Identifier("device", "tok-12345678")
    assert parse_ref("ext:crm:C-7") == Identifier("ext:crm", "C-7")


@pytest.mark.parametrize(
    ("ref", "canonical"),
    [
        ("email:Ada@Example.COM", "email:ada@example.com"),
        ("phone:+49 151 1234 5678", "phone:+4915112345678"),
        ("ext:crm:C-7", "ext:crm:C-7"),
        ("cid:c-1042", "cid:c-1042"),
    ],
)
def test_a_parsed_identifier_renders_its_canonical_ref(ref: str, canonical: str) -> None:
    parsed = parse_ref(ref)
    assert str(parsed) == canonical
    assert parse_ref(canonical) == parsed
    assert stored_ref(parsed) == canonical


def test_a_customer_id_is_stored_as_a_merged_id() -> None:
    customer = uuid.uuid4()
    assert stored_ref(parse_ref(str(customer).upper())) == merged_ref(customer) == f"id:{customer}"


def test_the_ref_kind_names_no_value() -> None:
    assert parse_ref("ext:crm:C-7").ref_kind == "ext"
    assert parse_ref("email:ada@example.com").ref_kind == "email"
    assert parse_ref(str(uuid.uuid4())).ref_kind == "id"


@pytest.mark.parametrize("ref", ["nobody", "fax:123", "ext:crm", "email:not-an-address", "phone:0151", "id:x"])
def test_anything_else_is_a_422_naming_the_field_without_the_value(ref: str) -> None:
    with pytest.raises(ApiError) as raised:
        parse_ref(ref, field="query.customer")
    assert raised.value.status == 422
    assert raised.value.body.errors
    assert {e.field for e in raised.value.body.errors} == {"query.customer"}
    assert ref not in raised.value.body.model_dump_json()
