"""What a search box entry may name (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metaconnect_common.refs import REF_KINDS
from metaconnect_console.customers.lookup import MAX_QUERY, candidate_refs


@pytest.mark.parametrize(
    ("query", "refs"),
    [
        ("  ada@example.com ", ["email:ada@example.com"]),
        ("email:Ada@Example.com", ["email:Ada@Example.com"]),
        ("ext:crm:C-7", ["ext:crm:C-7"]),
        ("cid:c-1042", ["cid:c-1042"]),
        ("c-1042", ["cid:c-1042"]),
        ("+44 7700 900123", ["phone:+447700900123", "cid:+44 7700 900123"]),
        ("1042554", ["cid:1042554", "phone:+1042554"]),
        ("0B9F5A8E-3F0C-4F43-9A55-4A4A3A0AB001", ["0b9f5a8e-3f0c-4f43-9a55-4a4a3a0ab001"]),
        ("", []),
        ("   ", []),
    ],
)
def test_an_entry_is_tried_as_every_kind_it_could_be(query: str, refs: list[str]) -> None:
    assert candidate_refs(query) == refs


@given(st.text(max_size=MAX_QUERY))
def test_every_candidate_is_a_ref_of_a_kind_the_services_take(query: str) -> None:
    for ref in candidate_refs(query):
        kind = ref.partition(":")[0]
        assert kind in REF_KINDS or len(ref) == 36
    assert len(candidate_refs(query)) <= 2


def test_an_overlong_entry_is_not_looked_up() -> None:
    assert candidate_refs("x" * (MAX_QUERY + 1)) == []
