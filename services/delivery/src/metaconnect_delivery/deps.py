"""The delivery service's typed state and the dependency aliases its endpoints use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from metaconnect_common.stage import StageState
from metaconnect_common.state import state_of
from metaconnect_delivery.inbox.feed import InboxFeed
from metaconnect_delivery.providers.service import ProviderAccounts
from metaconnect_delivery.service import DeliveryService


@dataclass(frozen=True, kw_only=True)
class DeliveryState(StageState):
    deliveries: DeliveryService
    providers: ProviderAccounts
    inbox_feed: InboxFeed


def _state(request: Request) -> DeliveryState:
    return state_of(request.app, DeliveryState)


StateDep = Annotated[DeliveryState, Depends(_state)]


def _providers(state: StateDep) -> ProviderAccounts:
    return state.providers


def _feed(state: StateDep) -> InboxFeed:
    return state.inbox_feed


ProvidersDep = Annotated[ProviderAccounts, Depends(_providers)]
InboxFeedDep = Annotated[InboxFeed, Depends(_feed)]
