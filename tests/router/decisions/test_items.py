"""A decision's item: its text in the customer's locale, its row and payload."""

from __future__ import annotations

import uuid

import pytest

from metaconnect_common.schemas import Channel
from metaconnect_router.bundles.schemas import ItemPayload
from metaconnect_router.decisions.items import localized, new_item
from metaconnect_router.models import ItemState
from metaconnect_router.routes.spec import Category, Content
from tests.router.decisions.test_decide import CUSTOMER, NOW, event, profile, run

PUSH, EMAIL = Channel.PUSH, Channel.EMAIL


def _texts(*locales: str) -> dict[str, Content]:
    return {loc: Content(body=f"text {loc}") for loc in locales}


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [("de-AT", "de-AT"), ("de-CH", "de"), ("fr", "en"), (None, "en")],
)
def test_the_text_is_the_customers_locale_then_its_language_then_english(wanted: str | None, expected: str) -> None:
    locale, content = localized({PUSH: _texts("en", "de", "de-AT")}, wanted)
    assert (locale, content[PUSH].body) == (expected, f"text {expected}")


def test_each_channel_falls_back_on_its_own_and_the_first_names_the_locale() -> None:
    locale, content = localized({PUSH: _texts("en"), EMAIL: _texts("en", "de")}, "de")
    assert (locale, content[PUSH].body, content[EMAIL].body) == ("en", "text en", "text de")


def test_a_decisions_item_carries_the_message_and_the_arm_it_was_chosen_for() -> None:
    decision = run()
    choice = decision.choice
    assert choice is not None
    decision_id = uuid.uuid4()
    interaction = event(cart_value=20)
    traceparent = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"
    row = new_item(decision_id, choice, CUSTOMER, interaction, profile(locale="de-DE"), NOW, traceparent)
    assert (row.decision_id, row.customer_id, row.state, row.bundle_id) == (
        decision_id,
        CUSTOMER,
        ItemState.PENDING,
        None,
    )
    assert (row.route, row.message_id, row.priority, row.category) == (
        choice.route.name,
        choice.message.id,
        choice.message.priority,
        Category(choice.message.category),
    )
    assert isinstance(row.payload, ItemPayload)
    assert row.payload.channels == list(choice.channels)
    assert (row.payload.arm.pattern, row.payload.arm.tone) == (choice.arm.pattern, choice.arm.tone)
    assert row.payload.sent_channel is None
    item = row.payload.item
    assert item.traceparent == traceparent
    assert (item.id, item.event_id, item.data["cart_value"], item.created_at) == (row.id, interaction.event_id, 20, NOW)
    expires_after = choice.message.expires_after
    assert row.expires_at == (interaction.occurred_at + expires_after if expires_after else None)
