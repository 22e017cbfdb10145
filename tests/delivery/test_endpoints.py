"""Deliveries over REST named by any ref the profile API takes (real PostgreSQL and Kafka)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from metaconnect_common.auth import Role
from metaconnect_common.refs import parse_ref
from metaconnect_common.schemas import Channel
from metaconnect_common.schemas.delivery import Delivery
from metaconnect_delivery import repository
from tests.delivery.test_service import delivery, through
from tests.router.conftest import operator

pytestmark = pytest.mark.timeout(120)


def for_customer(customer_id: uuid.UUID, identities: list[str], *, later: float = 0) -> Delivery:
    d = delivery(Channel.IN_APP)
    return d.model_copy(
        update={
            "customer_id": customer_id,
            "identities": identities,
            "created_at": d.created_at + timedelta(seconds=later),
        }
    )


async def listed(client: httpx.AsyncClient, ref: str) -> httpx.Response:
    return await client.get("/v1/deliveries", params={"customer": ref}, headers=operator(Role.VIEWER))


async def test_deliveries_are_listed_by_any_ref_the_profile_api_takes(
    delivery_app: FastAPI,
    client: httpx.AsyncClient,
) -> None:
    tag = uuid.uuid4().hex[:8]
    old, survivor = uuid.uuid4(), uuid.uuid4()
    email = f"ada.{tag}@example.com"
    first = for_customer(old, [f"cid:old-{tag}"])
    second = for_customer(survivor, [f"cid:c-{tag}", f"email:{email}"], later=1)
    # The profile service merged the old customer into the survivor: the router's next delivery says so.
    third = for_customer(survivor, sorted([f"cid:old-{tag}", f"cid:c-{tag}", f"email:{email}", f"id:{old}"]), later=2)
    for d in (first, second, third):
        assert await through(delivery_app, d) == "sent"

    # What went to the old customer before the merge is the survivor's too.
    expected = [str(third.id), str(second.id), str(first.id)]
    for ref in [f"cid:c-{tag}", f"email:Ada.{tag.upper()}@Example.COM", str(survivor), str(old), f"cid:old-{tag}"]:
        response = await listed(client, ref)
        assert response.status_code == 200, (ref, response.text)
        assert [d["id"] for d in response.json()] == expected, ref


async def test_an_unknown_customer_is_a_404_naming_only_the_ref_kind(
    client: httpx.AsyncClient,
) -> None:
    for ref, kind in [(f"email:nobody.{uuid.uuid4().hex[:8]}@example.com", "email"), (str(uuid.uuid4()), "id")]:
        response = await listed(client, ref)
        assert response.status_code == 404
        assert response.json()["error"] == "customer_not_found"
        assert kind in response.json()["message"]
        assert ref not in response.text


@pytest.mark.parametrize("ref", ["fax:123", "phone:12", "ext:crm", "device:short"])
async def test_an_unparsable_ref_is_a_422_naming_query_customer(
    client: httpx.AsyncClient,
    ref: str,
) -> None:
    response = await listed(client, ref)
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"query.customer"}


async def test_a_ref_names_whom_the_newest_delivery_listing_it_said(delivery_app: FastAPI) -> None:
    ref, a, b = f"cid:moved-{uuid.uuid4().hex[:8]}", uuid.uuid4(), uuid.uuid4()
    newer, older = for_customer(b, [ref], later=5), for_customer(a, [ref])
    sessions = delivery_app.state.service.sessions
    async with sessions.begin() as session:
        await repository.remember_refs(session, [(newer.customer_id, newer.identities, newer.created_at)])
        await repository.remember_refs(session, [(older.customer_id, older.identities, older.created_at)])  # late
    async with sessions() as session:
        assert await repository.customer_of(session, parse_ref(ref)) == b


async def test_a_customers_deliveries_page_on_after_the_last_id_of_the_page_before(
    delivery_app: FastAPI, client: httpx.AsyncClient
) -> None:
    tag = uuid.uuid4().hex[:8]
    customer = uuid.uuid4()
    made = [for_customer(customer, [f"cid:p-{tag}"], later=i) for i in range(5)]
    stranger = for_customer(uuid.uuid4(), [f"cid:q-{tag}"])
    for d in (*made, stranger):
        assert await through(delivery_app, d) == "sent"

    async def page(after: str | None) -> httpx.Response:
        params = {"customer": f"cid:p-{tag}", "limit": "2"} | ({"after": after} if after else {})
        return await client.get("/v1/deliveries", params=params, headers=operator(Role.VIEWER))

    seen: list[str] = []
    after: str | None = None
    while True:
        response = await page(after)
        assert response.status_code == 200, response.text
        ids = [d["id"] for d in response.json()]
        seen += ids
        if len(ids) < 2:
            break
        after = ids[-1]
    assert seen == [str(d.id) for d in reversed(made)]
    for foreign in (str(stranger.id), str(uuid.uuid4())):  # another customer's delivery, or none, is no cursor
        refused = await page(foreign)
        assert refused.status_code == 422
        assert [(e["field"], e["rule"]) for e in refused.json()["errors"]] == [("query.after", "cursor")]
