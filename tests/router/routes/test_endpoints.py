"""Routes over REST against the real PostgreSQL: versions, idempotent PUT, checks, roles."""

from __future__ import annotations

import copy
import uuid
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from metaconnect_common.auth import Role
from tests.router.conftest import operator, route_spec


async def test_create_read_and_list(router_client: httpx.AsyncClient) -> None:
    spec = route_spec()
    created = await router_client.post("/v1/routes", json=spec, headers=operator(subject="ana@shop"))
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["name"], body["version"], body["status"], body["author"]) == (spec["name"], 1, "active", "ana@shop")
    assert body["spec"]["messages"][0]["expires_after"] == "P1D"
    assert created.headers["ETag"] == '"1"'
    read = await router_client.get(f"/v1/routes/{spec['name']}", headers=operator(Role.VIEWER))
    assert read.json() == body
    listed = await router_client.get("/v1/routes", params={"status": "active"}, headers=operator(Role.VIEWER))
    assert spec["name"] in [r["name"] for r in listed.json()]


async def test_routes_page_on_by_name_after_the_last_of_the_page_before(router_client: httpx.AsyncClient) -> None:
    prefix = f"paged-{uuid.uuid4().hex[:6]}"
    names = [f"{prefix}-{n}" for n in range(5)]
    for name in reversed(names):
        created = await router_client.put(f"/v1/routes/{name}", json=route_spec(name=name), headers=operator())
        assert created.status_code == 201, created.text
    viewer = operator(Role.VIEWER)
    seen: list[str] = []
    after = f"{prefix}-"  # sorts before every name of this test and after every other test's
    while True:
        page = await router_client.get("/v1/routes", params={"after": after, "limit": 2}, headers=viewer)
        assert page.status_code == 200, page.text
        got = [r["name"] for r in page.json() if r["name"].startswith(prefix)]
        seen += got
        if len(got) < 2:
            break
        after = got[-1]
    assert seen == names
    for bad in ({"limit": 0}, {"limit": 501}, {"after": "x" * 201}):
        refused = await router_client.get("/v1/routes", params=bad, headers=viewer)
        assert refused.status_code == 422, bad
        assert refused.json()["errors"][0]["field"] in ("query.limit", "query.after")


async def test_every_change_is_a_version_and_the_same_spec_is_no_change(router_client: httpx.AsyncClient) -> None:
    spec = route_spec(status="draft")
    name = spec["name"]
    first = await router_client.put(f"/v1/routes/{name}", json=spec, headers=operator(subject="a@x"))
    assert (first.status_code, first.json()["version"]) == (201, 1)
    again = await router_client.put(f"/v1/routes/{name}", json=spec, headers=operator(subject="b@x"))
    assert (again.status_code, again.json()["version"], again.json()["author"]) == (200, 1, "a@x")
    activated = await router_client.put(
        f"/v1/routes/{name}", json={**spec, "status": "active"}, headers=operator(subject="b@x")
    )
    assert (activated.json()["version"], activated.json()["status"]) == (2, "active")
    versions = (await router_client.get(f"/v1/routes/{name}/versions", headers=operator(Role.VIEWER))).json()
    assert [(v["version"], v["change"], v["author"], v["status"]) for v in versions] == [
        (2, "updated", "b@x", "active"),
        (1, "created", "a@x", "draft"),
    ]


async def test_if_match_refuses_a_change_made_meanwhile(router_client: httpx.AsyncClient) -> None:
    spec = route_spec()
    name = spec["name"]
    await router_client.post("/v1/routes", json=spec, headers=operator())
    await router_client.put(f"/v1/routes/{name}", json={**spec, "description": "theirs"}, headers=operator())
    stale = await router_client.put(
        f"/v1/routes/{name}", json={**spec, "description": "mine"}, headers={**operator(), "If-Match": '"1"'}
    )
    assert stale.status_code == 412
    assert stale.json()["error"] == "version_mismatch"
    fresh = await router_client.put(
        f"/v1/routes/{name}", json={**spec, "description": "mine"}, headers={**operator(), "If-Match": '"2"'}
    )
    assert fresh.json()["version"] == 3


async def test_delete_keeps_the_history_and_put_brings_it_back(router_client: httpx.AsyncClient) -> None:
    spec = route_spec()
    name = spec["name"]
    await router_client.post("/v1/routes", json=spec, headers=operator())
    assert (await router_client.delete(f"/v1/routes/{name}", headers=operator())).status_code == 204
    assert (await router_client.delete(f"/v1/routes/{name}", headers=operator())).status_code == 404
    gone = await router_client.get(f"/v1/routes/{name}", headers=operator(Role.VIEWER))
    assert (gone.json()["deleted"], gone.json()["status"], gone.json()["version"]) == (True, "paused", 2)
    listed = await router_client.get("/v1/routes", headers=operator(Role.VIEWER))
    assert name not in [r["name"] for r in listed.json()]
    back = await router_client.put(f"/v1/routes/{name}", json=spec, headers=operator())
    assert (back.status_code, back.json()["version"], back.json()["deleted"]) == (201, 3, False)


async def test_a_name_is_created_once(router_client: httpx.AsyncClient) -> None:
    spec = route_spec()
    await router_client.post("/v1/routes", json=spec, headers=operator())
    again = await router_client.post("/v1/routes", json=spec, headers=operator())
    assert again.status_code == 409
    assert again.json()["errors"][0] == {"field": "name", "rule": "unique", "message": "a route with this name exists"}


async def test_viewers_read_and_editors_write(router_client: httpx.AsyncClient) -> None:
    spec = route_spec()
    assert (await router_client.post("/v1/routes", json=spec)).status_code == 401
    assert (await router_client.post("/v1/routes", json=spec, headers=operator(Role.VIEWER))).status_code == 403
    assert (await router_client.get("/v1/routes", headers=operator(Role.VIEWER))).status_code == 200


def _broken(change: str) -> dict[str, Any]:
    spec = route_spec()
    message = spec["messages"][0]
    match change:
        case "no neutral":
            del message["variants"]["neutral"]
        case "variant misses a channel":
            del message["variants"]["red"]["email"]
        case "undeliverable channel":
            message["channels"] = ["push", "store"]
        case "no english":
            message["variants"]["neutral"]["push"] = {"de": {"body": "Hallo"}}
        case "bad slug":
            spec["name"] = "Cart Reminder!"
        case "priority":
            message["priority"] = 0
        case "bad event pattern":
            spec["trigger"]["event_types"] = ["Cart Abandoned"]
        case "duplicate message":
            spec["messages"].append(copy.deepcopy(message))
        case "quiet hours equal":
            spec["policy"]["quiet_hours"] = {"start": "08:00", "end": "08:00"}
        case "bad zone":
            spec["policy"]["default_time_zone"] = "Mars/Olympus"
        case "zone is a directory":
            spec["policy"]["default_time_zone"] = "America"
        case "condition syntax":
            spec["trigger"]["condition"] = "event.properties.value >="
        case "condition on personality":
            spec["trigger"]["condition"] = 'profile.personality.colour == "red"'
        case "condition injection":
            spec["trigger"]["condition"] = "__import__('os').system('true')"
        case "negative expiry":
            message["expires_after"] = "-PT1H"
        case "webhook with others":
            message["channels"] = ["push", "webhook"]
        case "NUL in name":
            spec["name"] = "cart\x00reminder"
        case "NUL in condition":
            spec["trigger"]["condition"] = 'event.properties.sku == "a\x00"'
    return spec


BROKEN = [
    ("no neutral", "messages.0.variants", "neutral_variant_required"),
    ("variant misses a channel", "messages.0.variants.red", "variant_missing_channel"),
    ("undeliverable channel", "messages.0.channels", "channel_not_deliverable"),
    ("no english", "messages.0.variants.neutral.push", "default_locale_required"),
    ("bad slug", "name", "string_pattern_mismatch"),
    ("priority", "messages.0.priority", "greater_than_equal"),
    ("bad event pattern", "trigger.event_types.0", "string_pattern_mismatch"),
    ("duplicate message", "messages.1.id", "duplicate_message_id"),
    ("quiet hours equal", "policy.quiet_hours", "quiet_hours_empty"),
    ("bad zone", "policy.default_time_zone", "time_zone"),
    ("zone is a directory", "policy.default_time_zone", "time_zone"),
    ("condition syntax", "trigger.condition", "syntax"),
    ("condition on personality", "trigger.condition", "personality_not_allowed"),
    ("condition injection", "trigger.condition", None),
    ("negative expiry", "messages.0.expires_after", "duration_positive"),
    ("webhook with others", "messages.0.channels", "webhook_alone"),
    ("NUL in name", "name", "null_character"),
    ("NUL in condition", "trigger.condition", "null_character"),
]


async def test_every_mistake_of_a_route_is_reported_at_once(router_client: httpx.AsyncClient) -> None:
    spec = _broken("bad slug")  # a field error ...
    message = spec["messages"][0]
    del message["variants"]["red"]["email"]  # ... a variant problem ...
    spec["trigger"]["condition"] = 'profile.lifecycle_stage >= "qualified"'  # ... and a condition
    spec["messages"].append({**copy.deepcopy(message), "priority": 0})  # a second message: same id, bad priority

    response = await router_client.post("/v1/routes/plan", json=spec, headers=operator())

    assert response.status_code == 422, response.text
    assert sorted((e["field"], e["rule"]) for e in response.json()["errors"]) == [
        ("messages.0.variants.red", "variant_missing_channel"),
        ("messages.1.id", "duplicate_message_id"),
        ("messages.1.priority", "greater_than_equal"),
        ("messages.1.variants.red", "variant_missing_channel"),
        ("name", "string_pattern_mismatch"),
        ("trigger.condition", "ordering_on_text"),
    ]


@pytest.mark.parametrize(("change", "field", "rule"), BROKEN, ids=[b[0] for b in BROKEN])
async def test_a_broken_route_is_422_naming_field_and_rule_and_nothing_is_written(
    router_client: httpx.AsyncClient, change: str, field: str, rule: str | None
) -> None:
    spec = _broken(change)
    response = await router_client.post("/v1/routes", json=spec, headers=operator())
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert any(e["field"] == field and (rule is None or e["rule"] == rule) for e in errors), errors
    name = quote(spec["name"], safe="")
    assert (await router_client.get(f"/v1/routes/{name}", headers=operator(Role.VIEWER))).status_code in (
        404,
        422,
    )


def _with_templates() -> dict[str, Any]:
    spec = route_spec()
    variants = spec["messages"][0]["variants"]
    variants["red"]["push"]["en"]["body"] = "Broken {{ data.x "
    variants["red"]["push"]["en"]["title"] = "Hi {{ first_name }}"
    variants["neutral"]["email"]["en"]["subject"] = "{{ customer.traits.plan }} for you"
    variants["neutral"]["email"]["en"]["body"] = "{% include 'secrets' %}"
    variants["neutral"]["push"]["en"]["fallback"] = {"body": "Hi {{ customer.first_name }}"}
    return spec


TEMPLATE_ERRORS = [
    ("messages.0.variants.neutral.email.en.body", "template_security"),
    ("messages.0.variants.neutral.email.en.subject", "template_trait_not_allowed"),
    ("messages.0.variants.neutral.push.en.fallback.body", "fallback_plain_text"),
    ("messages.0.variants.red.push.en.body", "template_syntax"),
    ("messages.0.variants.red.push.en.title", "template_unknown_name"),
]


@pytest.mark.parametrize("how", ["put", "post", "plan"])
async def test_every_template_error_is_a_422_at_save_time(router_client: httpx.AsyncClient, how: str) -> None:
    spec = _with_templates()
    name = spec["name"]
    if how == "put":
        response = await router_client.put(f"/v1/routes/{name}", json=spec, headers=operator())
    else:
        path = "/v1/routes/plan" if how == "plan" else "/v1/routes"
        response = await router_client.post(path, json=spec, headers=operator())

    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert sorted((e["field"], e["rule"]) for e in errors) == TEMPLATE_ERRORS
    syntax = next(e for e in errors if e["rule"] == "template_syntax")
    # The message names the route, message, tone, channel, locale and field (never a value).
    assert syntax["message"].startswith(f"route {name}, message cart-left, tone red, channel push, locale en, body:")
    unknown = next(e for e in errors if e["rule"] == "template_unknown_name")
    assert "'first_name'" in unknown["message"]
    assert (await router_client.get(f"/v1/routes/{name}", headers=operator(Role.VIEWER))).status_code == 404


async def test_templates_reading_the_context_and_allowed_traits_are_accepted(router_client: httpx.AsyncClient) -> None:
    spec = route_spec()
    spec["policy"]["template_traits"] = ["plan"]
    push = spec["messages"][0]["variants"]["red"]["push"]["en"]
    push["title"] = "Hi {{ customer.first_name or 'there' }}"
    push["body"] = "{{ data.items|length }} items, {{ customer.traits.plan }} plan ({{ items|length }} in this note)"
    push["fallback"] = {"title": "Your cart", "body": "Your items are waiting."}
    response = await router_client.put(f"/v1/routes/{spec['name']}", json=spec, headers=operator())
    assert response.status_code == 201, response.text
    assert response.json()["spec"]["policy"]["template_traits"] == ["plan"]
