"""Masking identifiers: enough to recognise, too little to contact (pure)."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metaconnect_console.customers.masking import HIDDEN, mask, mask_ref

_HIDDEN_MARKS = "*•"


def _revealed(text: str) -> str:
    return "".join(c for c in text if c not in _HIDDEN_MARKS)


def _is_subsequence(part: str, whole: str) -> bool:
    it = iter(whole)
    return all(c in it for c in part)


@pytest.mark.parametrize(
    ("kind", "value", "shown"),
    [
        ("email", "ada@example.com", "a•••@example.com"),
        ("email", "a***@example.com", "a•••@example.com"),  # as the profile service answers it
        ("phone", "+447700900123", "+44•••••0123"),
        ("phone", "+44******123", "+44•••••123"),  # masked already: never more than it showed
        ("phone", "+4912", "+49•••••"),
        ("cid", "c-1042", "c•••"),
        ("cid", "customer-000042", "cu•••42"),
        ("ext:crm", "C-7", "C•••"),
        ("mc", "0b9f5a8e-3f0c-4f43-9a55-4a4a3a0ab001", "0b9f5a8e-3f0c-4f43-9a55-4a4a3a0ab001"),
    ],
)
def test_each_kind_shows_what_recognises_it_and_no_more(kind: str, value: str, shown: str) -> None:
    assert mask(kind, value) == shown


@pytest.mark.parametrize(
    ("ref", "shown"),
    [
        ("email:ada@example.com", "email:a•••@example.com"),
        ("phone:+447700900123", "phone:+44•••••0123"),
        ("ext:crm:C-7", "ext:crm:C•••"),
        ("cid:c-1042", "cid:c•••"),
        ("ada@example.com:x", "ad•••:x"),  # an unknown kind is no kind: the whole text is masked
        ("0b9f5a8e-3f0c-4f43-9a55-4a4a3a0ab001", "0b9f5a8e-3f0c-4f43-9a55-4a4a3a0ab001"),
    ],
)
def test_a_ref_as_typed_keeps_its_kind_and_masks_its_value(ref: str, shown: str) -> None:
    assert mask_ref(ref) == shown


emails = st.builds(
    lambda local, domain: f"{local}@{domain}",
    st.text(st.characters(codec="utf-8", exclude_characters="@"), min_size=1, max_size=40),
    st.from_regex(r"[a-z0-9-]{1,20}\.[a-z]{2,6}", fullmatch=True),
)
phones = st.from_regex(r"\+[1-9][0-9]{5,14}", fullmatch=True)
kinds = st.sampled_from(["cid", "device", "ext:crm", "email", "phone"])


@given(emails)
def test_an_email_shows_one_character_of_its_local_part_and_the_domain(email: str) -> None:
    domain = email.rpartition("@")[2]
    shown = mask("email", email)
    assert shown.endswith(f"@{domain}")
    assert len(_revealed(shown.rpartition("@")[0])) <= 1
    assert mask("email", shown) == shown  # masking twice reveals nothing more


@given(phones)
def test_a_phone_number_never_shows_more_than_seven_of_its_digits(phone: str) -> None:
    shown = mask("phone", phone)
    digits = [c for c in shown if c.isdigit()]
    # The country code's two digits and the last four of a full number; of a short one, two.
    assert len(digits) <= (6 if len(phone) >= 10 else 2)
    assert shown.startswith(phone[:3])
    assert phone not in shown
    assert mask("phone", shown) == shown


@given(kinds, st.text(min_size=0, max_size=60))
def test_a_mask_invents_nothing_and_reveals_at_most_a_few_characters(kind: str, value: str) -> None:
    shown = mask(kind, value)
    revealed = _revealed(shown)
    # Whatever shows was there, in order; the value's hidden marks never come back as characters.
    assert _is_subsequence(revealed, _revealed(value))
    limit = {"email": 1 + len(value.rpartition("@")[2]) + 1, "phone": 7}.get(kind, 4)
    assert len(revealed) <= limit
    assert HIDDEN in shown
    if len(_revealed(value)) > limit:
        assert _revealed(value) not in revealed
    # Masked again (the profile service masks too), it shows no more than it did.
    assert _is_subsequence(_revealed(mask(kind, shown)), revealed)


@given(st.uuids())
def test_a_metaconnect_id_reaches_no_one_and_is_shown_as_it_is(customer: uuid.UUID) -> None:
    assert mask("mc", str(customer)) == str(customer)
    assert mask_ref(str(customer)) == str(customer)
