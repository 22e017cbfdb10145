"""What the customer pages ask the services: the profile service for the customer, the router for
decisions, the delivery service for deliveries and the inbox; each with the person's own token.

A customer is named by their Metaconnect id (the profile's `id`) in every call after the search,
so no address travels in a URL the console makes."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote

import httpx

from metaconnect_console.api import Refused, Services
from metaconnect_console.auth.service import Person
from metaconnect_console.customers.lookup import candidate_refs

TIMELINE_PAGE: Final = 20
DECISIONS_PAGE: Final = 10
DELIVERIES_PAGE: Final = 10
INBOX_PAGE: Final = 10


@dataclass(frozen=True)
class Search:
    query: str
    customers: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """Why the query names no customer (the service's rule), when it is no ref at all."""


@dataclass(frozen=True)
class Listing:
    """One page of a customer's list, newest first; `next` is the cursor for the older page, or None."""

    items: list[dict[str, Any]]
    next: str | None


def _path(ref: str) -> str:
    return quote(ref, safe=":@+")


def problems(exc: Refused) -> list[str]:
    """What a refusal names: each field's rule and message, else the service's message."""
    body = exc.body if isinstance(exc.body, dict) else {}
    found = [f"{e.get('rule')}: {e.get('message')}" for e in body.get("errors") or [] if isinstance(e, dict)]
    return found or [str(body.get("message") or exc.message)]


async def find(services: Services, person: Person, query: str) -> Search:
    """Every live customer the query may name (the profile service decides which exist)."""
    refs = candidate_refs(query)
    answers = await asyncio.gather(
        *(services.call(person, "GET", "profile", f"/v1/profiles/{_path(ref)}") for ref in refs)
    )
    customers: dict[str, dict[str, Any]] = {}
    refusals: list[str] = []
    for response in answers:
        if response.status_code == 200:
            profile = response.json()
            customers.setdefault(str(profile["id"]), profile)
        elif response.status_code == 422:
            refusals += problems(Refused(422, response.json()))
        elif response.status_code != 404:
            raise Refused(response.status_code, _json(response))
    return Search(query=query, customers=list(customers.values()), problems=[] if customers else refusals)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


async def profile(services: Services, person: Person, customer: uuid.UUID) -> dict[str, Any]:
    answer: dict[str, Any] = await services.get(person, "profile", f"/v1/profiles/{customer}")
    return answer


async def personality(services: Services, person: Person, customer: uuid.UUID) -> dict[str, Any]:
    answer: dict[str, Any] = await services.get(person, "profile", f"/v1/profiles/{customer}/personality")
    return answer


async def timeline(services: Services, person: Person, customer: uuid.UUID, before: str | None) -> Listing:
    page = await services.get(
        person, "profile", f"/v1/profiles/{customer}/timeline", limit=TIMELINE_PAGE, before=before
    )
    return Listing(items=page["items"], next=page.get("next_before"))


async def _unknown_is_empty(services: Services, person: Person, service: Any, path: str, **params: Any) -> Any:
    """A customer the router or the delivery service has not heard of yet has nothing there (404)."""
    try:
        return await services.get(person, service, path, **params)
    except Refused as exc:
        if exc.status == 404:
            return []
        raise


async def decisions(services: Services, person: Person, customer: uuid.UUID, after: str | None) -> Listing:
    # One more than a page: whether there is an older page is known without asking again.
    rows = await _unknown_is_empty(
        services, person, "router", "/v1/decisions", customer=str(customer), limit=DECISIONS_PAGE + 1, after=after
    )
    page = rows[:DECISIONS_PAGE]
    return Listing(items=page, next=page[-1]["id"] if len(rows) > DECISIONS_PAGE else None)


async def deliveries(services: Services, person: Person, customer: uuid.UUID, after: str | None) -> Listing:
    """A page of deliveries, each with its attempts and the providers' answers."""
    rows = await _unknown_is_empty(
        services,
        person,
        "delivery",
        "/v1/deliveries",
        customer=str(customer),
        limit=DELIVERIES_PAGE + 1,
        after=after,
    )
    page = rows[:DELIVERIES_PAGE]
    detailed = await asyncio.gather(*(services.get(person, "delivery", f"/v1/deliveries/{d['id']}") for d in page))
    return Listing(items=list(detailed), next=page[-1]["id"] if len(rows) > DELIVERIES_PAGE else None)


async def inbox(services: Services, person: Person, customer: uuid.UUID) -> dict[str, Any]:
    answer: dict[str, Any] = await services.get(person, "delivery", f"/v1/inbox/{customer}", limit=INBOX_PAGE)
    return answer


@dataclass(frozen=True)
class CustomerView:
    profile: dict[str, Any]
    personality: dict[str, Any]
    timeline: Listing
    decisions: Listing
    deliveries: Listing
    inbox: dict[str, Any]


async def customer(services: Services, person: Person, found: dict[str, Any]) -> CustomerView:
    """Everything else on the page of the customer whose profile is `found`, asked of the three
    services at once."""
    customer_id = uuid.UUID(str(found["id"]))
    personality_, timeline_, decisions_, deliveries_, inbox_ = await asyncio.gather(
        personality(services, person, customer_id),
        timeline(services, person, customer_id, None),
        decisions(services, person, customer_id, None),
        deliveries(services, person, customer_id, None),
        inbox(services, person, customer_id),
    )
    return CustomerView(found, personality_, timeline_, decisions_, deliveries_, inbox_)


async def export(services: Services, person: Person, customer_id: uuid.UUID) -> httpx.Response:
    """The profile service's export as it answered it (admin): the JSON document and its file name."""
    response = await services.call(person, "GET", "profile", f"/v1/profiles/{customer_id}/export")
    if response.status_code >= 400:
        raise Refused(response.status_code, _json(response))
    return response


async def erase(services: Services, person: Person, customer_id: uuid.UUID) -> None:
    await services.json(person, "DELETE", "profile", f"/v1/profiles/{customer_id}")
