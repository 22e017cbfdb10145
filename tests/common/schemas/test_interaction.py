from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from metaconnect_common.errors import field_errors
from metaconnect_common.schemas import MAX_PROPERTIES_DEPTH, NORMALIZED, CustomerRef, InteractionFields

identifiers = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20)


@given(
    customer_id=st.none() | identifiers,
    email=st.none() | identifiers.map(lambda s: f"{s}@Example.COM"),
    phone=st.none() | st.sampled_from(["+4915112345678", "+1 415 555 2671", "+44 20 7946 0958"]),
    external=st.dictionaries(st.sampled_from(["crm", "shop", "loyalty"]), identifiers, max_size=3),
)
def test_key_is_deterministic_and_uses_the_strongest_identifier(
    customer_id: str | None, email: str | None, phone: str | None, external: dict[str, str]
) -> None:
    if not (customer_id or email or phone or external):
        with pytest.raises(ValidationError):
            CustomerRef(customer_id=customer_id, email=email, phone=phone, external_ids=external)
        return
    ref = CustomerRef(customer_id=customer_id, email=email, phone=phone, external_ids=external)
    again = CustomerRef.model_validate(ref.model_dump())
    assert ref.key() == again.key()
    prefix = ref.key().split(":", 1)[0]
    expected = "cid" if customer_id else "email" if email else "phone" if phone else "ext"
    assert prefix == expected
    if email:
        assert ref.email == email.lower()


def test_phone_is_normalised_to_e164() -> None:
    assert CustomerRef(phone="+49 (151) 123-45678").phone == "+4915112345678"


@pytest.mark.parametrize("depth", [MAX_PROPERTIES_DEPTH, MAX_PROPERTIES_DEPTH + 1])
def test_properties_depth_limit(depth: int) -> None:
    value: Any = 1
    for _ in range(depth):
        value = {"k": value}
    body = {"customer": {"customer_id": "c"}, "type": "a.b", "channel": "web", "properties": value}
    if depth <= MAX_PROPERTIES_DEPTH:
        InteractionFields.model_validate(body)
    else:
        with pytest.raises(ValidationError) as info:
            InteractionFields.model_validate(body)
        assert info.value.errors()[0]["type"] == "max_depth"


def _nesting(value: Any) -> int:
    """The depth rule, spelled out recursively: each object or array is one level."""
    if isinstance(value, dict):
        return 1 + max((_nesting(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_nesting(v) for v in value), default=0)
    return 0


# Storable text: U+0000 is refused (tests/common/test_storable.py), surrogates are no JSON.
_text = st.characters(min_codepoint=1, max_codepoint=0xD7FF)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(_text, max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(_text, max_size=2), inner, max_size=3),
    max_leaves=30,
)


@given(value=json_values, wrappers=st.integers(min_value=0, max_value=5))
def test_properties_depth_is_counted_as_nesting(value: Any, wrappers: int) -> None:
    properties: dict[str, Any] = {"v": value}
    for _ in range(wrappers):
        properties = {"n": properties, "flat": 1}
    body = {"customer": {"customer_id": "c"}, "type": "a.b", "channel": "web", "properties": properties}
    if _nesting(properties) <= MAX_PROPERTIES_DEPTH:
        InteractionFields.model_validate(body)
    else:
        with pytest.raises(ValidationError) as info:
            InteractionFields.model_validate(body)
        assert info.value.errors()[0]["type"] == "max_depth"
        assert info.value.errors()[0]["ctx"]["depth"] == _nesting(properties)


def test_records_written_by_metaconnect_skip_the_normalisation() -> None:
    ref = {"email": "Someone@Example.COM", "phone": "+49 151 12345678"}
    assert CustomerRef.model_validate(ref).model_dump(include={"email", "phone"}) == {
        "email": "someone@example.com",
        "phone": "+4915112345678",
    }
    normalised = {"email": "someone@example.com", "phone": "+4915112345678"}
    assert (
        CustomerRef.model_validate(normalised, context=NORMALIZED).model_dump(include={"email", "phone"}) == normalised
    )
    # Without the context the rules still apply: only Metaconnect's own records carry it.
    with pytest.raises(ValidationError):
        CustomerRef.model_validate({"email": "not-an-email"})


def test_properties_postgres_cannot_store_are_refused_naming_the_path() -> None:
    body = {"customer": {"customer_id": "c"}, "type": "a.b", "channel": "web"}
    for properties, field, rule in [
        ({"a": [1, {"b": "x\x00"}]}, "properties.a.1.b", "null_character"),
        ({"a": {"b": float("nan")}}, "properties.a.b", "finite_number"),
        ({"a": float("-inf")}, "properties.a", "finite_number"),
    ]:
        with pytest.raises(ValidationError) as refused:
            InteractionFields.model_validate({**body, "properties": properties})
        assert [(e.field, e.rule) for e in field_errors(refused.value.errors(), strip=())] == [(field, rule)]
