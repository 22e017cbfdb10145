"""What a decision sends or bundles: the chosen message as an item row, its text in the customer's locale."""

from __future__ import annotations

import uuid
from datetime import datetime

from metaconnect_common.schemas import Channel, Interaction
from metaconnect_common.schemas.delivery import DeliveryItem, ItemContent, TemplateCustomer
from metaconnect_common.schemas.profiled import ProfileSnapshot
from metaconnect_router.bundles.rows import ItemRow
from metaconnect_router.bundles.schemas import ChosenArm, ItemPayload
from metaconnect_router.decisions.decide import Choice
from metaconnect_router.models import ItemState
from metaconnect_router.routes.spec import DEFAULT_LOCALE, Content, Policy

FIRST_NAME_TRAIT = "first_name"


def localized(content: dict[Channel, dict[str, Content]], locale: str | None) -> tuple[str, dict[Channel, ItemContent]]:
    """Each channel's text in the customer's locale: exact, then the language, then English.

    Returns the locale the first channel's text is in, and the texts."""
    wanted = [w for w in (locale, locale.split("-")[0] if locale else None) if w]

    def pick(by_locale: dict[str, Content]) -> str:
        return next((w for w in wanted if w in by_locale), DEFAULT_LOCALE)

    chosen = {
        channel: ItemContent.model_validate(by_locale[pick(by_locale)].model_dump())
        for channel, by_locale in content.items()
    }
    return pick(next(iter(content.values()))), chosen


def template_customer(profile: ProfileSnapshot, policy: Policy) -> TemplateCustomer:
    """The templates' `customer`: first name (the `first_name` trait), locale, time zone and the traits
    the route lists in `policy.template_traits`. Nothing else of the snapshot: no personality, no
    holdout, no consent, no address."""
    first_name = profile.traits.get(FIRST_NAME_TRAIT)
    return TemplateCustomer(
        first_name=first_name if isinstance(first_name, str) else None,
        locale=profile.locale,
        time_zone=profile.time_zone,
        traits={name: profile.traits[name] for name in policy.template_traits if name in profile.traits},
    )


def new_item(
    decision_id: uuid.UUID,
    choice: Choice,
    customer_id: uuid.UUID,
    interaction: Interaction,
    profile: ProfileSnapshot,
    now: datetime,
    traceparent: str | None,
    *,
    collapse_key: str | None = None,
) -> ItemRow:
    """The item a decision sends or bundles, in the customer's locale; `traceparent` is the decision's.
    `collapse_key` stands in for the message's own when it has none (a journey's walk gives one)."""
    message = choice.message
    locale, content = localized(message.variants[choice.tone], profile.locale)
    item_id = uuid.uuid4()
    delivery_item = DeliveryItem(
        id=item_id,
        decision_id=decision_id,
        route=choice.route.name,
        route_version=choice.route.version,
        message_id=message.id,
        category=message.category.value,
        priority=message.priority,
        tone=choice.tone.value,
        content=content,
        event_id=interaction.event_id,
        data=interaction.properties,
        customer=template_customer(profile, choice.route.spec.policy),
        created_at=now,
        traceparent=traceparent,
    )
    expires_at = interaction.occurred_at + message.expires_after if message.expires_after else None
    return ItemRow(
        id=item_id,
        decision_id=decision_id,
        customer_id=customer_id,
        bundle_id=None,
        state=ItemState.PENDING,
        route=choice.route.name,
        message_id=message.id,
        priority=message.priority,
        category=message.category,
        collapse_key=message.collapse_key or collapse_key,
        created_at=now,
        expires_at=expires_at,
        not_before=choice.not_before,
        payload=ItemPayload(
            item=delivery_item,
            channels=list(choice.channels),
            locale=locale,
            arm=ChosenArm(pattern=choice.arm.pattern, tone=choice.arm.tone),
        ),
    )
