"""The delivery service's typed state and the dependency aliases its endpoints use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from metaconnect_common.stage import StageState
from metaconnect_common.state import state_dependency
from metaconnect_delivery.inbox.feed import InboxFeed
from metaconnect_delivery.inbox.service import InboxPresence
from metaconnect_delivery.notifications.service import Notifications
from metaconnect_delivery.providers.service import ProviderAccounts
from metaconnect_delivery.service import DeliveryService
from metaconnect_delivery.worker import DeliveryWorkers


@dataclass(frozen=True, kw_only=True)
class DeliveryState(StageState):
    deliveries: DeliveryService
    workers: DeliveryWorkers
    providers: ProviderAccounts
    inbox_feed: InboxFeed
    inbox_presence: InboxPresence
    notifications: Notifications


StateDep = Annotated[DeliveryState, Depends(state_dependency(DeliveryState))]


def _deliveries(state: StateDep) -> DeliveryService:
    return state.deliveries


def _providers(state: StateDep) -> ProviderAccounts:
    return state.providers


def _feed(state: StateDep) -> InboxFeed:
    return state.inbox_feed


def _presence(state: StateDep) -> InboxPresence:
    return state.inbox_presence


def _notifications(state: StateDep) -> Notifications:
    return state.notifications


DeliveriesDep = Annotated[DeliveryService, Depends(_deliveries)]
InboxPresenceDep = Annotated[InboxPresence, Depends(_presence)]
ProvidersDep = Annotated[ProviderAccounts, Depends(_providers)]
InboxFeedDep = Annotated[InboxFeed, Depends(_feed)]
NotificationsDep = Annotated[Notifications, Depends(_notifications)]
