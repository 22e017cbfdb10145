"""The profile read API over the real topic and tables: lookup by id and by every identifier
kind, merged ids, masking, auth and errors, timeline pages, the explained personality,
the export and the segment search."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from metaconnect_common.auth import Role
from metaconnect_common.schemas import Interaction
from tests.profile.conftest import applied, interaction, operator
from tests.profile.personality.answers import IPIP_ANSWERS

Publish = Callable[[Interaction], Coroutine[Any, Any, None]]
VIEWER = operator(Role.VIEWER)
ADMIN = operator(Role.ADMIN)
RED_ANSWERS = {item: 6 - rating for item, rating in IPIP_ANSWERS.items()}  # mirrored: red, not yellow


def _tag() -> str:
    return uuid.uuid4().hex[:8]


def _phone(tag: str) -> str:
    """A German mobile number unique to the test (identifiers are shared by the whole session)."""
    return f"+49151{int(tag, 16) % 100_000:05d}678"


def _event(who: dict[str, Any], type_: str, channel: str = "web", **properties: Any) -> Interaction:
    # `channel` is also an interaction field: set the properties as a whole.
    return interaction(who, type_, channel).model_copy(update={"properties": properties})


async def _send(publish: Publish, engine: AsyncEngine, *events: Interaction) -> uuid.UUID:
    """Publish events of one customer key (one partition: applied in order); wait for the last."""
    for event in events:
        await publish(event)
    return await applied(engine, events[-1].event_id)


def _questionnaire(who: dict[str, Any], answers: dict[str, int]) -> list[Interaction]:
    return [
        _event(who, "consent.changed", purpose="profiling_questionnaire", granted=True),
        _event(who, "questionnaire.submitted", instrument="ipip50", answers=answers),
    ]


async def _get(client: httpx.AsyncClient, path: str, **params: Any) -> dict[str, Any]:
    response = await client.get(path, params=params, headers=VIEWER)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_profile_is_found_by_its_id_and_by_every_identifier_kind(
    profile_client: httpx.AsyncClient, publish: Publish, engine: AsyncEngine
) -> None:
    tag = _tag()
    email, phone, device = f"ada.{tag}@example.com", _phone(tag), f"fcm-token-{tag}-0001"
    who = {"customer_id": f"c-{tag}", "email": email, "phone": phone, "device_token": device}
    customer = await _send(
        publish,
        engine,
        _event({**who, "external_ids": {"crm": f"C-{tag}"}}, "app.opened", "in_app"),
        _event(who, "consent.changed", purpose="marketing", granted=True),
        _event(who, "profile.updated", locale="de-de", time_zone="Europe/Berlin", traits={"plan": "gold"}),
        _event(who, "message.opened", "email"),
    )
    refs = [
        str(customer),
        f"cid:c-{tag}",
        f"email:Ada.{tag}@EXAMPLE.com",  # normalised like ingest: lower-cased
        f"email:{email}",
        f"phone:{phone[:3]} {phone[3:6]} {phone[6:]}",  # normalised to E.164
        f"device:{device}",
        f"ext:crm:C-{tag}",
    ]
    for ref in refs:
        assert (await _get(profile_client, f"/v1/profiles/{ref}"))["id"] == str(customer), ref

    profile = await _get(profile_client, f"/v1/profiles/{customer}")
    assert profile["lifecycle_stage"] == "lead"
    assert (profile["locale"], profile["time_zone"], profile["traits"]) == ("de-DE", "Europe/Berlin", {"plan": "gold"})
    assert profile["consent"]["purposes"]["marketing"]["granted"] is True
    assert profile["consent"]["purposes"]["marketing"]["source"] == "test-key"
    assert profile["consent"]["channels"]["sms"]["granted"] is True  # the general grant, per channel
    assert set(profile["reachability"]["channels"]) == {"in_app", "email", "sms", "whatsapp", "push"}
    masked = {i["kind"]: i["value"] for i in profile["reachability"]["identifiers"]}
    assert (
        masked
        == {
            "mc": str(customer),  # its own id, not personal data
            "cid": f"c-***{tag[-2:]}",
            "email": "a***@example.com",
            "phone": "+49******678",
            "device": "fc***01",
            "ext:crm": f"C-***{tag[-2:]}",
        }
    )
    assert all(i["valid"] for i in profile["reachability"]["identifiers"])
    assert profile["engagement"]["email"]["opened"] == pytest.approx(1.0, abs=0.01)
    assert len(profile["active_hours"]) == 24
    assert sum(profile["active_hours"]) == pytest.approx(4.0, abs=0.01)
    assert profile["personality"] == {
        "colour": "unknown",
        "secondary": "unknown",
        "pattern": "unknown",
        "probability": 0.0,
        "as_of": None,
    }
    assert profile["merged_from"] == []
    response = await profile_client.get(f"/v1/profiles/email:{email}", headers=VIEWER)
    for raw in (email, phone, device, f"c-{tag}"):
        assert raw not in response.text


async def test_a_merged_customers_id_answers_with_its_survivor(
    profile_client: httpx.AsyncClient, publish: Publish, engine: AsyncEngine
) -> None:
    tag = _tag()
    older = await _send(publish, engine, _event({"customer_id": f"m-{tag}"}, "app.opened"))
    newer = await _send(publish, engine, _event({"email": f"m.{tag}@example.com"}, "app.opened"))
    assert older != newer
    await _send(publish, engine, _event({"customer_id": f"m-{tag}", "email": f"m.{tag}@example.com"}, "app.opened"))

    for ref in (str(newer), str(older), f"email:m.{tag}@example.com", f"cid:m-{tag}"):
        profile = await _get(profile_client, f"/v1/profiles/{ref}")
        assert profile["id"] == str(older), ref
        assert profile["merged_from"] == [str(newer)]
    timeline = await _get(profile_client, f"/v1/profiles/{newer}/timeline")
    assert len(timeline["items"]) == 3  # both customers' interactions, now the survivor's


async def test_tokens_roles_unknown_customers_and_bad_input(
    profile_client: httpx.AsyncClient, publish: Publish, engine: AsyncEngine
) -> None:
    tag = _tag()
    customer = await _send(publish, engine, _event({"customer_id": f"e-{tag}"}, "app.opened"))
    paths = [f"/v1/profiles/{customer}{suffix}" for suffix in ("", "/personality", "/timeline", "/export")]
    for path in [*paths, "/v1/profiles"]:
        assert (await profile_client.get(path)).status_code == 401, path
        bad = await profile_client.get(path, headers={"Authorization": "Bearer not.a.jwt"})
        assert bad.status_code == 401, path
        assert bad.json()["error"] == "unauthorized"
    assert (await profile_client.delete(f"/v1/profiles/{customer}")).status_code == 401
    for role in (Role.VIEWER, Role.EDITOR):
        for response in (
            await profile_client.get(f"/v1/profiles/{customer}/export", headers=operator(role)),
            await profile_client.delete(f"/v1/profiles/{customer}", headers=operator(role)),
        ):
            assert response.status_code == 403
            assert response.json()["error"] == "forbidden"

    for ref in (str(uuid.uuid4()), f"cid:nobody-{tag}", f"email:nobody.{tag}@example.com", "ext:crm:nobody"):
        for path in (f"/v1/profiles/{ref}", f"/v1/profiles/{ref}/timeline", f"/v1/profiles/{ref}/personality"):
            response = await profile_client.get(path, headers=VIEWER)
            assert response.status_code == 404, path
            assert response.json()["error"] == "not_found"
            assert "nobody" not in response.text  # the reference is never echoed
        assert (await profile_client.get(f"/v1/profiles/{ref}/export", headers=ADMIN)).status_code == 404
        assert (await profile_client.delete(f"/v1/profiles/{ref}", headers=ADMIN)).status_code == 404

    for ref, rule in [
        ("c-1042", "customer_ref"),
        ("fax:123", "customer_ref"),
        ("ext:crm", "customer_ref"),
        ("email:not-an-address", "email"),
        ("phone:12345", "phone_e164"),
        ("device:short", "string_too_short"),
        ("cid:a%00b", "null_character"),
        ("email:a%00@example.com", "null_character"),
    ]:
        response = await profile_client.get(f"/v1/profiles/{ref}", headers=VIEWER)
        assert response.status_code == 422, ref
        assert [(e["field"], e["rule"]) for e in response.json()["errors"]] == [("path.ref", rule)], response.text

    bad_searches: list[tuple[dict[str, str | int], str]] = [
        ({"stage": "vip"}, "query.stage"),
        ({"colour": "purple"}, "query.colour"),
        ({"consent": "newsletter"}, "query.consent"),
        ({"channel": "web"}, "query.channel"),
        ({"limit": 0}, "query.limit"),
        ({"cursor": "not-a-cursor"}, "query.cursor"),
    ]
    for params, field in bad_searches:
        response = await profile_client.get("/v1/profiles", params=params, headers=VIEWER)
        assert response.status_code == 422, params
        body = response.json()
        assert body["error"] == "validation_failed"
        assert [e["field"] for e in body["errors"]] == [field], body
    bad_pages: list[tuple[dict[str, str | int], str]] = [
        ({"before": "yesterday"}, "query.before"),
        ({"limit": 501}, "query.limit"),
    ]
    for params, field in bad_pages:
        response = await profile_client.get(f"/v1/profiles/{customer}/timeline", params=params, headers=VIEWER)
        assert response.status_code == 422, params
        assert [e["field"] for e in response.json()["errors"]] == [field]


async def test_the_timeline_lists_every_interaction_newest_first_in_pages(
    profile_client: httpx.AsyncClient, publish: Publish, engine: AsyncEngine
) -> None:
    who = {"customer_id": f"t-{_tag()}"}
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    kinds = [("app.opened", "in_app"), ("message.sent", "push"), ("message.opened", "push"), ("order.placed", "web")]
    events = [
        _event(who, type_, channel).model_copy(update={"occurred_at": base + timedelta(minutes=i)})
        for i, (type_, channel) in enumerate(kinds)
    ]
    # Two more at the same instant: (occurred_at, event_id) orders them.
    tied = [_event(who, "app.opened", "in_app").model_copy(update={"occurred_at": base}) for _ in range(2)]
    customer = await _send(publish, engine, *events, *tied)
    expected = sorted([*events, *tied], key=lambda e: (e.occurred_at, e.event_id), reverse=True)

    seen: list[dict[str, Any]] = []
    pages = 0
    params: dict[str, Any] = {"limit": 4}
    while True:
        page = await _get(profile_client, f"/v1/profiles/cid:{who['customer_id']}/timeline", **params)
        seen.extend(page["items"])
        pages += 1
        if page["next_before"] is None:
            break
        params["before"] = page["next_before"]
    assert pages == 2
    assert [item["event_id"] for item in seen] == [str(e.event_id) for e in expected]
    assert [(item["type"], item["channel"]) for item in seen[:2]] == [
        ("order.placed", "web"),
        ("message.opened", "push"),
    ]
    assert seen[0]["source"] == "test-key"

    # `before` also takes a time: everything strictly before it.
    older = await _get(
        profile_client, f"/v1/profiles/{customer}/timeline", before=(base + timedelta(minutes=2)).isoformat()
    )
    assert [item["event_id"] for item in older["items"]] == [str(e.event_id) for e in expected[-4:]]


async def test_the_personality_is_explained_after_a_questionnaire(
    profile_client: httpx.AsyncClient, publish: Publish, engine: AsyncEngine
) -> None:
    who = {"customer_id": f"p-{_tag()}"}
    customer = await _send(publish, engine, *_questionnaire(who, IPIP_ANSWERS))

    personality = await _get(profile_client, f"/v1/profiles/{customer}/personality")
    assert personality["customer_id"] == str(customer)
    assert personality["evidence_counts"] == {"questionnaire": 1, "behaviour": 0}
    assert personality["last_changed_at"] is not None
    assert personality["profiling_consent"]["profiling_questionnaire"]["granted"] is True
    explanation = personality["explanation"]
    dimensions = {d["dimension"]: d for d in explanation["dimensions"]}
    assert set(dimensions) >= {"extraversion", "agreeableness", "emotional_stability", "dominance", "warmth"}
    assert dimensions["extraversion"]["mean"] > 0.5
    assert dimensions["extraversion"]["sd"] < 1.0
    assert "ipip50" in dimensions["extraversion"]["precision_by_source"]
    assert explanation["evidence"]["questionnaires"] == {"ipip50": 1}
    assert explanation["colour"]["colour"] == "yellow"
    assert explanation["derivation"]
    assert personality["routing"]["colour"] == "yellow"
    assert personality["routing"]["pattern"] == explanation["colour"]["pattern"]
    assert "emotional_stability" not in str(personality["routing"])

    profile = await _get(profile_client, f"/v1/profiles/{customer}")
    assert profile["personality"]["colour"] == "yellow"
    assert profile["personality"]["probability"] > 0.6
    assert profile["personality"]["as_of"] is not None


async def test_the_export_holds_everything_unmasked(
    profile_client: httpx.AsyncClient, publish: Publish, engine: AsyncEngine
) -> None:
    tag = _tag()
    email, other_email = f"x.{tag}@example.com", f"x2.{tag}@example.com"
    who = {"customer_id": f"x-{tag}", "email": email}
    refused = _event(who, "questionnaire.submitted", instrument="ipip50", answers=IPIP_ANSWERS)  # no consent yet
    customer = await _send(
        publish,
        engine,
        refused,
        _event(who, "profile.updated", traits={"nickname": f"Ada-{tag}"}),
        *_questionnaire(who, IPIP_ANSWERS),
    )
    merged = await _send(publish, engine, _event({"email": other_email}, "app.opened"))
    await _send(publish, engine, _event({"customer_id": f"x-{tag}", "email": other_email}, "app.opened"))

    response = await profile_client.get(f"/v1/profiles/email:{other_email}/export", headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"] == f'attachment; filename="profile-{customer}.json"'
    export = response.json()
    assert export["customer"]["id"] == str(customer)
    assert export["customer"]["traits"] == {"nickname": f"Ada-{tag}"}
    assert [m["id"] for m in export["merged_customers"]] == [str(merged)]
    assert {(i["kind"], i["value"]) for i in export["identities"]} == {
        ("cid", f"x-{tag}"),
        ("email", email),
        ("email", other_email),
        ("mc", str(customer)),
        ("mc", str(merged)),
    }
    assert len(export["timeline"]) == 6
    assert [e["occurred_at"] for e in export["timeline"]] == sorted(e["occurred_at"] for e in export["timeline"])
    [evidence] = export["personality_evidence"]
    assert evidence["kind"] == "questionnaire"
    assert evidence["answers"] == IPIP_ANSWERS
    assert evidence["payload"]["instrument"] == "ipip50"
    assert export["personality"]["colour"]["colour"] == "yellow"
    [rejection] = export["rejections"]
    assert rejection["event_id"] == str(refused.event_id)
    assert rejection["problems"][0]["rule"] == "consent_required"
    [merge] = export["merges"]
    assert (merge["survivor_id"], merge["merged_id"]) == (str(customer), str(merged))
    assert len(export["processed_event_ids"]) == 6
    assert str(refused.event_id) in export["processed_event_ids"]


async def _scan(client: httpx.AsyncClient, wanted: set[str], **params: Any) -> tuple[list[str], int]:
    """Page through a search until every `wanted` id was seen or the end; (ids in order, pages)."""
    ids: list[str] = []
    pages = 0
    while True:
        page = await _get(client, "/v1/profiles", **params)
        pages += 1
        created = [item["created_at"] for item in page["items"]]
        assert created == sorted(created, reverse=True)
        ids.extend(item["id"] for item in page["items"])
        if page["next_cursor"] is None or wanted <= set(ids):
            assert len(ids) == len(set(ids)), "a customer on two pages"
            return ids, pages
        params["cursor"] = page["next_cursor"]


async def test_search_filters_live_customers_and_pages_with_a_cursor(
    profile_client: httpx.AsyncClient, publish: Publish, engine: AsyncEngine
) -> None:
    tag = _tag()
    yellow_who = {"customer_id": f"s1-{tag}", "email": f"s1.{tag}@example.com"}
    yellow = await _send(
        publish, engine, *_questionnaire(yellow_who, IPIP_ANSWERS), _event(yellow_who, "purchase.completed")
    )
    red_who = {"customer_id": f"s2-{tag}", "phone": _phone(tag)}
    red = await _send(
        publish,
        engine,
        *_questionnaire(red_who, RED_ANSWERS),
        _event(red_who, "consent.changed", purpose="marketing", granted=True),
    )
    plain = await _send(publish, engine, _event({"customer_id": f"s3-{tag}"}, "app.opened", channel="in_app"))
    survivor = await _send(publish, engine, _event({"customer_id": f"s4-{tag}"}, "app.opened"))
    merged = await _send(publish, engine, _event({"email": f"s5.{tag}@example.com"}, "app.opened"))
    await _send(publish, engine, _event({"customer_id": f"s4-{tag}", "email": f"s5.{tag}@example.com"}, "app.opened"))

    live = {str(yellow), str(red), str(plain), str(survivor)}
    everyone, pages = await _scan(profile_client, live, limit=2)
    assert pages >= 2
    assert live <= set(everyone)
    assert str(merged) not in everyone  # the newest customer, but merged: not live
    order = [everyone.index(str(c)) for c in (survivor, plain, red, yellow)]
    assert order == sorted(order)  # newest first

    cases: list[tuple[dict[str, Any], set[uuid.UUID], set[uuid.UUID]]] = [
        ({"colour": "yellow"}, {yellow}, {red, plain}),
        ({"colour": "red"}, {red}, {yellow, plain}),
        ({"colour": "unknown"}, {plain}, {yellow, red}),
        ({"consent": "marketing"}, {red}, {yellow, plain}),
        ({"consent": "profiling_questionnaire"}, {yellow, red}, {plain}),
        ({"channel": "email"}, {yellow}, {red, plain}),
        ({"channel": "sms"}, {red}, {yellow, plain}),
        ({"channel": "in_app"}, {plain}, {yellow, red}),  # only `plain` was in the app
        ({"stage": "customer"}, {yellow}, {red, plain}),
        ({"stage": "lead", "consent": "marketing", "channel": "whatsapp", "colour": "red"}, {red}, {yellow, plain}),
    ]
    for params, included, excluded in cases:
        found, _ = await _scan(profile_client, {str(i) for i in included}, limit=200, **params)
        assert {str(i) for i in included} <= set(found), params
        assert not {str(i) for i in excluded} & set(found), params

    page = await _get(profile_client, "/v1/profiles", colour="yellow", limit=200)
    item = next(i for i in page["items"] if i["id"] == str(yellow))
    assert item["colour"] == "yellow"
    assert item["lifecycle_stage"] == "customer"
    assert set(item["reachable"]) == {"email"}


async def test_an_unknown_filter_is_refused_instead_of_listing_everyone(profile_client: httpx.AsyncClient) -> None:
    response = await profile_client.get("/v1/profiles?trait=x", headers=operator(Role.VIEWER))
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert (error["field"], error["rule"]) == ("query.trait", "unknown_parameter")
    assert "colour" in error["message"]  # names what it does take


async def test_a_personality_without_evidence_says_unknown_not_null(
    profile_client: httpx.AsyncClient, publish: Publish, engine: AsyncEngine
) -> None:
    customer = await _send(publish, engine, _event({"customer_id": f"u-{_tag()}"}, "app.opened"))

    personality = await _get(profile_client, f"/v1/profiles/{customer}/personality")

    colour = personality["explanation"]["colour"]
    assert (colour["colour"], colour["secondary"], colour["pattern"]) == ("unknown", "unknown", "unknown")
    routing = personality["routing"]
    assert (routing["colour"], routing["secondary"], routing["pattern"]) == ("unknown", "unknown", "unknown")


async def test_the_timeline_never_shows_a_viewer_the_raw_answers_the_export_keeps(
    profile_client: httpx.AsyncClient, publish: Publish, engine: AsyncEngine
) -> None:
    customer = await _send(publish, engine, *_questionnaire({"customer_id": f"a-{_tag()}"}, IPIP_ANSWERS))

    timeline = await _get(profile_client, f"/v1/profiles/{customer}/timeline")
    [submitted] = [i for i in timeline["items"] if i["type"] == "questionnaire.submitted"]
    assert submitted["properties"] == {"instrument": "ipip50"}

    export = await profile_client.get(f"/v1/profiles/{customer}/export", headers=ADMIN)
    [kept] = [i for i in export.json()["timeline"] if i["type"] == "questionnaire.submitted"]
    assert kept["properties"]["answers"] == IPIP_ANSWERS
