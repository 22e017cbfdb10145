"""API keys: operators manage them; channel apps are held to their scope and rate."""

from __future__ import annotations

import uuid

import httpx

from metaconnect_common.auth import Role
from tests.ingest.conftest import MakeKey, operator_headers
from tests.ingest.events.test_endpoints import auth, event


async def test_missing_and_bad_keys_are_401(client: httpx.AsyncClient, make_key: MakeKey) -> None:
    key = await make_key()
    for headers in ({}, auth("nope"), auth(key[:-1] + ("0" if key[-1] != "0" else "1")), auth("mck_" + "0" * 96)):
        response = await client.post("/v1/events", json=event(), headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["error"] == "unauthorized"
        assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_revoked_key_is_401(client: httpx.AsyncClient, make_key: MakeKey) -> None:
    key = await make_key()
    assert (await client.post("/v1/events", json=event(), headers=auth(key))).status_code == 202
    listed = (await client.get("/v1/api-keys", headers=operator_headers())).json()
    key_id = next(k["id"] for k in listed if key.startswith(k["prefix"]))
    assert (await client.delete(f"/v1/api-keys/{key_id}", headers=operator_headers())).status_code == 204
    assert (await client.post("/v1/events", json=event(), headers=auth(key))).status_code == 401
    active = (await client.get("/v1/api-keys", headers=operator_headers())).json()
    assert key_id not in {k["id"] for k in active}
    everything = (await client.get("/v1/api-keys?include_revoked=true", headers=operator_headers())).json()
    assert next(k for k in everything if k["id"] == key_id)["revoked_at"] is not None


async def test_out_of_scope_is_403(client: httpx.AsyncClient, make_key: MakeKey) -> None:
    key = await make_key(channels=["push"], event_types=["app.*"])
    ok = await client.post("/v1/events", json=event(channel="push", type="app.opened"), headers=auth(key))
    assert ok.status_code == 202
    wrong_channel = await client.post("/v1/events", json=event(channel="sms", type="app.opened"), headers=auth(key))
    assert wrong_channel.status_code == 403
    assert wrong_channel.json()["errors"] == [
        {"field": "channel", "rule": "key_scope", "message": "this API key may not post here"}
    ]
    wrong_type = await client.post(
        "/v1/events", json=event(channel="push", type="purchase.completed"), headers=auth(key)
    )
    assert wrong_type.status_code == 403
    assert wrong_type.json()["errors"][0]["field"] == "type"
    batch = await client.post(
        "/v1/events/batch", json={"events": [event(channel="sms"), event(channel="email")]}, headers=auth(key)
    )
    assert batch.status_code == 403


async def test_over_rate_limit_is_429_with_retry_after(client: httpx.AsyncClient, make_key: MakeKey) -> None:
    key = await make_key(rate_per_s=0.5, burst=3)
    statuses = [(await client.post("/v1/events", json=event(), headers=auth(key))).status_code for _ in range(4)]
    assert statuses == [202, 202, 202, 429]
    limited = await client.post("/v1/events", json=event(), headers=auth(key))
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.json()["error"] == "rate_limited"


async def test_key_management_needs_an_admin_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/api-keys")).status_code == 401
    bad = await client.get("/v1/api-keys", headers={"Authorization": "Bearer not.a.jwt"})
    assert bad.status_code == 401
    for role in (Role.VIEWER, Role.EDITOR):
        response = await client.post("/v1/api-keys", json={"name": "x"}, headers=operator_headers(role))
        assert response.status_code == 403
        assert response.json()["error"] == "forbidden"
    created = await client.post("/v1/api-keys", json={"name": "x"}, headers=operator_headers(Role.ADMIN))
    assert created.status_code == 201
    assert created.json()["key"].startswith("mck_")
    listed = (await client.get("/v1/api-keys", headers=operator_headers())).json()
    assert all("key" not in k and "secret_hash" not in k for k in listed)


async def test_key_creation_is_validated(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/api-keys",
        json={"name": "", "channels": ["fax"], "event_types": ["App Opened"], "rate_per_s": -1, "scopes": ["admin"]},
        headers=operator_headers(),
    )
    assert response.status_code == 422
    fields = {(e["field"], e["rule"]) for e in response.json()["errors"]}
    assert fields >= {
        ("name", "string_too_short"),
        ("channels.0", "enum"),
        ("event_types.0", "event_type_pattern"),
        ("rate_per_s", "greater_than"),
        ("scopes.0", "enum"),
    }
    nul = await client.post("/v1/api-keys", json={"name": "ops\x00key"}, headers=operator_headers())
    assert nul.status_code == 422, nul.text
    assert [(e["field"], e["rule"]) for e in nul.json()["errors"]] == [("name", "null_character")]
    nul_path = await client.get("/v1/api-keys/key%00id", headers=operator_headers())
    assert nul_path.status_code == 422, nul_path.text
    assert nul_path.json()["errors"][0]["rule"] == "null_character"
    no_scope = await client.post("/v1/api-keys", json={"name": "x", "scopes": []}, headers=operator_headers())
    assert no_scope.status_code == 422
    assert no_scope.json()["errors"][0]["field"] == "scopes"


async def test_a_key_posts_events_unless_given_other_scopes(client: httpx.AsyncClient) -> None:
    plain = await client.post("/v1/api-keys", json={"name": "plain"}, headers=operator_headers())
    assert plain.json()["scopes"] == ["events"]
    both = await client.post(
        "/v1/api-keys", json={"name": "app-backend", "scopes": ["inbox", "events", "inbox"]}, headers=operator_headers()
    )
    assert both.json()["scopes"] == ["events", "inbox"]
    listed = {k["id"]: k["scopes"] for k in (await client.get("/v1/api-keys", headers=operator_headers())).json()}
    assert listed[both.json()["id"]] == ["events", "inbox"]


async def test_unknown_key_id_is_404(client: httpx.AsyncClient) -> None:
    response = await client.delete("/v1/api-keys/00000000-0000-0000-0000-000000000000", headers=operator_headers())
    assert response.status_code == 404


async def test_keys_page_on_oldest_first_after_the_last_key_of_the_page_before(client: httpx.AsyncClient) -> None:
    admin = operator_headers(Role.ADMIN)
    for n in range(5):
        created = await client.post("/v1/api-keys", json={"name": f"paged-{n}"}, headers=admin)
        assert created.status_code == 201, created.text
    everything = [k["id"] for k in (await client.get("/v1/api-keys", headers=admin)).json()]
    seen: list[str] = []
    params: dict[str, str | int] = {"limit": 2}
    while True:
        page = (await client.get("/v1/api-keys", params=params, headers=admin)).json()
        seen += [k["id"] for k in page]
        if len(page) < 2:
            break
        params = {"limit": 2, "after": page[-1]["id"]}
    assert seen == everything
    unknown = await client.get("/v1/api-keys", params={"after": str(uuid.uuid4())}, headers=admin)
    assert unknown.status_code == 422
    assert unknown.json()["errors"] == [
        {"field": "query.after", "rule": "cursor", "message": "not the id of an API key"}
    ]
    assert (await client.get("/v1/api-keys", params={"limit": 0}, headers=admin)).status_code == 422
