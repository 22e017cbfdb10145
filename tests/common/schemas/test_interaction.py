from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from metaconnect_common.schemas import MAX_PROPERTIES_DEPTH, CustomerRef, InteractionFields

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
