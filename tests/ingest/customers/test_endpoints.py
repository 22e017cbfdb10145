"""A channel app's backend mints inbox tokens by ref with an `inbox`-scoped key; unknown customers get none."""

from __future__ import annotations

import uuid

import httpx
from fastapi import FastAPI

from metaconnect_common.auth import inbox_customer
from metaconnect_common.db import session_factory, unit_of_work
from metaconnect_common.settings import AuthSettings
from metaconnect_ingest.customers import repository
from tests.ingest.conftest import MakeKey
from tests.ingest.events.test_endpoints import auth, event


async def known(app: FastAPI, refs: dict[str, uuid.UUID | None]) -> None:
    """As if `mc.customers.v1` had said so (the consumer's own write; `test_handlers` covers the topic)."""
    async with unit_of_work(session_factory(app.state.service.engine)) as session:
        await repository.apply(session, refs)


async def mint(client: httpx.AsyncClient, key: str, customer: object) -> httpx.Response:
    return await client.post("/v1/inbox/tokens", json={"customer": customer}, headers=auth(key))


async def test_a_known_customer_gets_a_token_for_its_own_inbox_by_any_ref(
    app: FastAPI, client: httpx.AsyncClient, make_key: MakeKey
) -> None:
    key = await make_key(scopes=["inbox"])
    ada, merged = uuid.uuid4(), uuid.uuid4()
    await known(app, {f"cid:{ada}": ada, f"email:{ada.hex}@example.com": ada, f"id:{ada}": ada, f"id:{merged}": ada})
    for ref in (f"cid:{ada}", f"email:{ada.hex}@EXAMPLE.com", str(ada), str(merged)):
        response = await mint(client, key, ref)
        assert response.status_code == 200, (ref, response.text)
        body = response.json()
        assert body["customer_id"] == str(ada)
        assert body["expires_in"] == 3600
        assert inbox_customer(AuthSettings(), body["token"]) == ada


async def test_unknown_and_forgotten_customers_get_no_token(
    app: FastAPI, client: httpx.AsyncClient, make_key: MakeKey
) -> None:
    key = await make_key(scopes=["events", "inbox"])
    gone = uuid.uuid4()
    for ref in (f"cid:{uuid.uuid4()}", str(uuid.uuid4())):
        response = await mint(client, key, ref)
        assert response.status_code == 404
        assert response.json() == {"error": "not_found", "message": "no customer is known by this ref", "errors": []}
    await known(app, {f"cid:{gone}": gone})
    assert (await mint(client, key, f"cid:{gone}")).status_code == 200
    await known(app, {f"cid:{gone}": None})  # erased: profile's tombstone
    assert (await mint(client, key, f"cid:{gone}")).status_code == 404


async def test_only_a_key_with_the_inbox_scope_mints(client: httpx.AsyncClient, make_key: MakeKey) -> None:
    assert (await client.post("/v1/inbox/tokens", json={"customer": "cid:c-1"})).status_code == 401
    assert (await mint(client, "mck_" + "0" * 96, "cid:c-1")).status_code == 401
    events_only = await make_key()
    refused = await mint(client, events_only, "cid:c-1")
    assert refused.status_code == 403
    assert refused.json()["errors"] == [
        {"field": "header.authorization", "rule": "key_scope", "message": "this API key lacks the inbox scope"}
    ]
    # And the other way round: a key for tokens posts no events.
    inbox_only = await make_key(scopes=["inbox"])
    posted = await client.post("/v1/events", json=event(), headers=auth(inbox_only))
    assert posted.status_code == 403
    assert posted.json()["errors"][0]["rule"] == "key_scope"
    batch = await client.post("/v1/events/batch", json={"events": [event()]}, headers=auth(inbox_only))
    assert batch.status_code == 403


async def test_a_ref_that_is_none_is_422_naming_the_field(client: httpx.AsyncClient, make_key: MakeKey) -> None:
    key = await make_key(scopes=["inbox"])
    cases = {
        "nonsense": ("customer", "customer_ref"),
        "email:not-an-address": ("customer", None),
        "device:" + "d" * 64: ("customer", "device_ref"),
        "": ("customer", "string_too_short"),
        7: ("customer", "string_type"),
    }
    for ref, (field, rule) in cases.items():
        response = await mint(client, key, ref)
        assert response.status_code == 422, ref
        [error] = response.json()["errors"]
        assert error["field"] == field, ref
        if rule:
            assert error["rule"] == rule, ref
        assert "not-an-address" not in response.text
    extra = await client.post("/v1/inbox/tokens", json={"customer": "cid:c-1", "ttl": 9}, headers=auth(key))
    assert extra.status_code == 422
    assert extra.json()["errors"][0]["field"] == "ttl"
