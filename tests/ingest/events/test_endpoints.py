"""Posting events over HTTP puts them on the real `mc.interactions.v1`, or nowhere."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from metaconnect_common.schemas import Interaction
from metaconnect_common.topics import INTERACTIONS
from tests.ingest.conftest import MakeKey
from tests.support import new_id, read_topic


def event(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": new_id(),
        "customer": {"customer_id": "c-1", "email": "Ada@Example.com"},
        "type": "app.opened",
        "channel": "in_app",
        "occurred_at": datetime.now(UTC).isoformat(),
        "properties": {"screen": "home"},
    }
    body.update(overrides)
    return body


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def published(bootstrap: str, event_ids: set[str]) -> dict[str, Any]:
    records = await read_topic(bootstrap, INTERACTIONS)
    found = {}
    for r in records:
        value = json.loads(r.value)
        if value["event_id"] in event_ids:
            found[value["event_id"]] = (r, value)
    return found


async def test_event_is_read_back_keyed_by_customer_with_traceparent(
    client: httpx.AsyncClient, make_key: MakeKey, kafka_bootstrap: str
) -> None:
    body = event()
    response = await client.post("/v1/events", json=body, headers=auth(await make_key()))
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": [body["event_id"]]}

    found = await published(kafka_bootstrap, {body["event_id"]})
    record, value = found[body["event_id"]]
    assert record.key == b"cid:c-1"
    headers = dict(record.headers)
    assert headers["traceparent"].startswith(b"00-")
    interaction = Interaction.model_validate(value)
    assert interaction.customer.email == "ada@example.com"  # normalised
    assert interaction.schema_version == 1
    assert interaction.source  # the API key's id
    assert interaction.received_at >= interaction.occurred_at - timedelta(seconds=5)


async def test_client_traceparent_is_honoured(
    client: httpx.AsyncClient, make_key: MakeKey, kafka_bootstrap: str
) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    body = event()
    response = await client.post(
        "/v1/events",
        json=body,
        headers={**auth(await make_key()), "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"},
    )
    assert response.status_code == 202
    record, _ = (await published(kafka_bootstrap, {body["event_id"]}))[body["event_id"]]
    assert dict(record.headers)["traceparent"].decode().split("-")[1] == trace_id


async def test_identifier_only_customer_is_keyed_by_strongest_identifier(
    client: httpx.AsyncClient, make_key: MakeKey, kafka_bootstrap: str
) -> None:
    body = event(customer={"phone": "+49 151 12345678", "external_ids": {"crm": "C-7"}})
    response = await client.post("/v1/events", json=body, headers=auth(await make_key()))
    assert response.status_code == 202, response.text
    record, value = (await published(kafka_bootstrap, {body["event_id"]}))[body["event_id"]]
    assert record.key == b"phone:+4915112345678"
    assert value["customer"]["phone"] == "+4915112345678"


async def test_event_id_is_generated_when_absent(client: httpx.AsyncClient, make_key: MakeKey) -> None:
    body = event()
    del body["event_id"]
    response = await client.post("/v1/events", json=body, headers=auth(await make_key()))
    assert response.status_code == 202
    assert len(response.json()["accepted"]) == 1


async def test_batch_all_valid(client: httpx.AsyncClient, make_key: MakeKey, kafka_bootstrap: str) -> None:
    events = [event(customer={"customer_id": f"c-{i}"}) for i in range(50)]
    response = await client.post("/v1/events/batch", json={"events": events}, headers=auth(await make_key()))
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["accepted"] == [e["event_id"] for e in events]
    assert body["rejected"] == []
    found = await published(kafka_bootstrap, {e["event_id"] for e in events})
    assert len(found) == 50
    assert {r.key for r, _ in found.values()} == {f"cid:c-{i}".encode() for i in range(50)}


async def test_batch_partial_accepts_valid_and_reports_invalid_by_index(
    client: httpx.AsyncClient, make_key: MakeKey, kafka_bootstrap: str
) -> None:
    good = [event(), event()]
    bad_channel = event(channel="carrier_pigeon")
    bad_customer = event(customer={})
    events = [good[0], bad_channel, good[1], bad_customer]
    response = await client.post("/v1/events/batch", json={"events": events}, headers=auth(await make_key()))
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["accepted"] == [good[0]["event_id"], good[1]["event_id"]]
    assert body["accepted_indexes"] == [0, 2]
    rejected = {r["index"]: r["errors"] for r in body["rejected"]}
    assert set(rejected) == {1, 3}
    assert rejected[1][0]["field"] == "channel"
    assert rejected[1][0]["rule"] == "enum"
    assert rejected[3][0]["field"] == "customer"
    assert rejected[3][0]["rule"] == "customer_reference"
    found = await published(kafka_bootstrap, {e["event_id"] for e in events})
    assert set(found) == {good[0]["event_id"], good[1]["event_id"]}


async def test_batch_with_no_valid_event_is_rejected_whole(
    client: httpx.AsyncClient, make_key: MakeKey, kafka_bootstrap: str
) -> None:
    events = [event(type="NotDotted"), event(channel="fax")]
    response = await client.post("/v1/events/batch", json={"events": events}, headers=auth(await make_key()))
    assert response.status_code == 422
    fields = {(e["field"], e["rule"]) for e in response.json()["errors"]}
    assert ("events.0.type", "string_pattern_mismatch") in fields
    assert ("events.1.channel", "enum") in fields
    assert not await published(kafka_bootstrap, {e["event_id"] for e in events})


async def test_batch_over_limit_is_rejected_whole(
    client: httpx.AsyncClient, make_key: MakeKey, kafka_bootstrap: str
) -> None:
    events = [event() for _ in range(1001)]
    response = await client.post("/v1/events/batch", json={"events": events}, headers=auth(await make_key(burst=5000)))
    assert response.status_code == 422
    assert response.json()["errors"][0] == {
        "field": "events",
        "rule": "too_long",
        "message": response.json()["errors"][0]["message"],
    }
    assert not await published(kafka_bootstrap, {events[0]["event_id"], events[-1]["event_id"]})


def _deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(levels - 1):
        value = {"n": value}
    return value


now = datetime.now(UTC)
BAD_INPUT: list[tuple[str, Any, int, str, str]] = [
    # id, body change, status, field, rule
    ("wrong type", {"type": 42}, 422, "type", "string_type"),
    ("unknown channel", {"channel": "fax"}, 422, "channel", "enum"),
    ("no customer reference", {"customer": {}}, 422, "customer", "customer_reference"),
    ("bad email", {"customer": {"email": "not-an-email"}}, 422, "customer.email", "email"),
    ("bad phone", {"customer": {"phone": "0151 123"}}, 422, "customer.phone", "phone_e164"),
    ("unknown field", {"colour": "red"}, 422, "colour", "extra_forbidden"),
    ("not dotted type", {"type": "opened"}, 422, "type", "string_pattern_mismatch"),
    ("naive timestamp", {"occurred_at": "2026-11-23T10:00:00"}, 422, "occurred_at", "timezone_aware"),
    ("far future", {"occurred_at": (now + timedelta(days=2)).isoformat()}, 422, "occurred_at", "timestamp_future"),
    ("far past", {"occurred_at": (now - timedelta(days=400)).isoformat()}, 422, "occurred_at", "timestamp_too_old"),
    ("properties too deep", {"properties": _deep(7)}, 422, "properties", "max_depth"),
    ("properties too large", {"properties": {"blob": "x" * 20_000}}, 413, "properties", "max_bytes"),
    ("properties not an object", {"properties": [1, 2]}, 422, "properties", "dict_type"),
    ("event id not a uuid", {"event_id": "abc"}, 422, "event_id", "uuid_parsing"),
    # PostgreSQL cannot store U+0000: refused at the edge instead of stalling the profile.
    ("NUL in customer id", {"customer": {"customer_id": "c\x00-1"}}, 422, "customer.customer_id", "null_character"),
    (
        "NUL in external id",
        {"customer": {"external_ids": {"crm": "\x00"}}},
        422,
        "customer.external_ids.crm",
        "null_character",
    ),
    ("NUL in nested property", {"properties": {"a": {"b": ["x", "y\x00"]}}}, 422, "properties.a.b.1", "null_character"),
    ("NUL in property key", {"properties": {"k\x00": 1}}, 422, "properties.k\\u0000", "null_character"),
    ("unix time", {"occurred_at": int(now.timestamp())}, 422, "occurred_at", "datetime_rfc3339"),
    ("unix time string", {"occurred_at": str(int(now.timestamp()))}, 422, "occurred_at", "datetime_rfc3339"),
    ("date only", {"occurred_at": now.date().isoformat()}, 422, "occurred_at", "datetime_rfc3339"),
]


@pytest.mark.parametrize(
    ("change", "status", "field", "rule"), [c[1:] for c in BAD_INPUT], ids=[c[0] for c in BAD_INPUT]
)
async def test_bad_input_is_4xx_naming_field_and_rule_and_publishes_nothing(
    client: httpx.AsyncClient,
    make_key: MakeKey,
    kafka_bootstrap: str,
    change: dict[str, Any],
    status: int,
    field: str,
    rule: str,
) -> None:
    body = event()
    body.update(change)
    event_id = body["event_id"] if isinstance(body["event_id"], str) else None
    response = await client.post("/v1/events", json=body, headers=auth(await make_key()))
    assert response.status_code == status, response.text
    errors = response.json()["errors"]
    assert any(e["field"] == field and e["rule"] == rule for e in errors), errors
    if event_id:
        assert not await published(kafka_bootstrap, {event_id})


async def test_malformed_json_is_400(client: httpx.AsyncClient, make_key: MakeKey) -> None:
    response = await client.post(
        "/v1/events",
        content=b'{"customer": {"customer_id": "c-1"}, "type": ',
        headers={**auth(await make_key()), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "malformed_json"
    assert response.json()["errors"][0]["rule"] == "json_invalid"


async def test_body_too_large_is_413(client: httpx.AsyncClient, make_key: MakeKey, settings: Any) -> None:
    payload = b'{"events": [' + b'"x",' * (settings.max_body_bytes // 4) + b'"x"]}'
    response = await client.post(
        "/v1/events/batch", content=payload, headers={**auth(await make_key()), "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["errors"][0] == {
        "field": "body",
        "rule": "max_bytes",
        "message": f"at most {settings.max_body_bytes} bytes",
    }


async def test_batch_body_must_be_an_events_list(client: httpx.AsyncClient, make_key: MakeKey) -> None:
    response = await client.post("/v1/events/batch", json=[event()], headers=auth(await make_key()))
    assert response.status_code == 422
    assert response.json()["errors"][0]["rule"] == "model_type"
    response = await client.post("/v1/events/batch", json={"events": []}, headers=auth(await make_key()))
    assert response.status_code == 422
    assert response.json()["errors"][0] == {
        "field": "events",
        "rule": "too_short",
        "message": response.json()["errors"][0]["message"],
    }


async def test_openapi_documents_every_endpoint_with_examples(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    for path in ("/v1/events", "/v1/events/batch", "/v1/api-keys"):
        operation = spec["paths"][path]["post"]
        assert operation["requestBody"]["content"]["application/json"]["examples"], path
    assert "Partial acceptance" in spec["paths"]["/v1/events/batch"]["post"]["description"]
    assert spec["paths"]["/v1/events"]["post"]["security"] == [{"ApiKey": []}]
    assert spec["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"


async def test_openapi_references_resolve(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()

    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            return [node["$ref"]] if "$ref" in node else [r for v in node.values() for r in refs(v)]
        if isinstance(node, list):
            return [r for v in node for r in refs(v)]
        return []

    found = refs(spec)
    assert "#/components/schemas/InteractionFields" in found
    for ref in found:
        assert ref.removeprefix("#/components/schemas/") in spec["components"]["schemas"], ref


async def test_malformed_batch_json_is_400(client: httpx.AsyncClient, make_key: MakeKey) -> None:
    response = await client.post(
        "/v1/events/batch",
        content=b'{"events": [{"customer": ',
        headers={**auth(await make_key()), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["errors"] == [{"field": "body", "rule": "json_invalid", "message": "not valid JSON"}]


NOT_FINITE = [b"NaN", b"Infinity", b"-Infinity", b"1e400"]


@pytest.mark.parametrize("number", NOT_FINITE, ids=[n.decode() for n in NOT_FINITE])
async def test_a_number_that_is_not_finite_is_refused_not_stored_as_null(
    client: httpx.AsyncClient, make_key: MakeKey, kafka_bootstrap: str, number: bytes
) -> None:
    body = event(properties={"cart": {"total": "NUMBER"}})
    raw = json.dumps(body).replace('"NUMBER"', number.decode()).encode()
    headers = {**auth(await make_key()), "Content-Type": "application/json"}
    response = await client.post("/v1/events", content=raw, headers=headers)
    assert response.status_code == 422, response.text
    assert [(e["field"], e["rule"]) for e in response.json()["errors"]] == [("properties.cart.total", "finite_number")]
    clean = event()
    batch = json.dumps({"events": [clean, body]}).replace('"NUMBER"', number.decode()).encode()
    response = await client.post("/v1/events/batch", content=batch, headers=headers)
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == [clean["event_id"]]
    [rejected] = response.json()["rejected"]
    assert rejected["index"] == 1
    assert [(e["field"], e["rule"]) for e in rejected["errors"]] == [("properties.cart.total", "finite_number")]
    assert set(await published(kafka_bootstrap, {clean["event_id"], body["event_id"]})) == {clean["event_id"]}


async def test_a_batch_reports_an_event_with_nul_by_index_and_accepts_the_rest(
    client: httpx.AsyncClient, make_key: MakeKey, kafka_bootstrap: str
) -> None:
    good, bad = event(), event(customer={"customer_id": "c-1", "device_token": "token\x00token"})
    response = await client.post("/v1/events/batch", json={"events": [bad, good]}, headers=auth(await make_key()))
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == [good["event_id"]]
    assert response.json()["rejected"] == [
        {
            "index": 0,
            "errors": [
                {
                    "field": "customer.device_token",
                    "rule": "null_character",
                    "message": "must not contain U+0000 (null character)",
                }
            ],
        }
    ]
    assert set(await published(kafka_bootstrap, {good["event_id"], bad["event_id"]})) == {good["event_id"]}


async def test_a_batch_reports_a_second_event_with_the_same_id_as_a_duplicate(
    client: httpx.AsyncClient, make_key: MakeKey, kafka_bootstrap: str
) -> None:
    first = event()
    again = event(event_id=first["event_id"], type="app.closed")
    other = event()
    response = await client.post(
        "/v1/events/batch", json={"events": [first, again, other]}, headers=auth(await make_key())
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["accepted"] == [first["event_id"], other["event_id"]]
    assert body["accepted_indexes"] == [0, 2]
    [rejected] = body["rejected"]
    assert rejected["index"] == 1
    assert [(e["field"], e["rule"]) for e in rejected["errors"]] == [("event_id", "duplicate_event_id")]
    found = await published(kafka_bootstrap, {first["event_id"]})
    assert found[first["event_id"]][1]["type"] == "app.opened"
