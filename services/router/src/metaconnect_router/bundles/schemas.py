"""What an item row carries in its `payload` column (JSON): the delivery item and what its
receipts teach. The shape is the stored one; rows written before these models load unchanged."""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict

from metaconnect_common.schemas import Channel
from metaconnect_common.schemas.delivery import DeliveryItem
from metaconnect_router.routes.spec import Tone

ERASED: Final[dict[str, Any]] = {"erased": True}
"""The payload of an item whose customer was erased: their texts and data are gone."""


class ChosenArm(BaseModel):
    """The arm an item was chosen for; the channel it went on completes it."""

    model_config = ConfigDict(frozen=True)

    pattern: str
    tone: Tone


class ItemPayload(BaseModel):
    """A message for one customer, as decided: what its delivery carries and what its receipts teach."""

    model_config = ConfigDict(frozen=True)

    item: DeliveryItem
    channels: list[Channel]
    """The channels it may go on, best first."""
    locale: str
    """The locale its text is in."""
    arm: ChosenArm
    sent_channel: Channel | None = None
    """The channel it went on, once sent: with `arm`, what its receipts teach."""

    def stored(self) -> dict[str, Any]:
        """The JSON of the `payload` column (`sent_channel` only once sent, as it always was)."""
        return self.model_dump(mode="json", exclude={"sent_channel"} if self.sent_channel is None else None)


class ErasedPayload(BaseModel):
    """The payload of an item whose customer was erased."""

    model_config = ConfigDict(frozen=True)

    erased: Literal[True] = True

    def stored(self) -> dict[str, Any]:
        return dict(ERASED)


def stored_payload(document: dict[str, Any]) -> ItemPayload | ErasedPayload:
    """A `payload` column's JSON as its model."""
    if document.get("erased"):
        return ErasedPayload()
    return ItemPayload.model_validate(document)
