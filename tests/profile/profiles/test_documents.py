"""The row documents a state is stored as, and the snapshot `mc.profiled.v1` carries."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest

from metaconnect_common.schemas.interaction import Channel
from metaconnect_common.schemas.profiled import Colour as ProfiledColour
from metaconnect_common.schemas.profiled import ConsentState, PersonalitySnapshot, Purpose
from metaconnect_profile.personality.dimensions import Colour
from metaconnect_profile.personality.views import RoutingView
from metaconnect_profile.profiles.documents import (
    STATE_COLUMNS,
    personality_from_column,
    personality_to_column,
    state_from_row,
    state_to_columns,
    to_snapshot,
)
from metaconnect_profile.profiles.state import ProfileState, new_state
from tests.profile.profiles.events import EMPTY, POLICY, T0, consent, event, objection, run

H = timedelta(hours=1)
BEHAVIOUR = consent("profiling_behaviour", True, at=T0)


# --- snapshot ---


def test_snapshot_has_effective_channel_consent_and_gates_personality() -> None:
    state = run(
        EMPTY,
        consent("marketing", True, at=T0, source="web"),
        consent("marketing", False, at=T0 + H, channel="sms", source="sms"),
    ).state
    personality = PersonalitySnapshot(colour=ProfiledColour.RED, pattern="strong-red", probability=0.8)
    snap = to_snapshot(state, reachable=[Channel.SMS], personality=personality, now=T0 + 2 * H, policy=POLICY)
    assert snap.channel_consent[Channel.SMS] == ConsentState(granted=False, at=T0 + H, source="sms")
    assert snap.channel_consent[Channel.PUSH] == ConsentState(granted=True, at=T0, source="web")
    assert snap.purposes == {Purpose.MARKETING: ConsentState(granted=True, at=T0, source="web")}
    assert snap.reachable == [Channel.SMS]
    assert snap.personality == PersonalitySnapshot()  # no profiling consent: unknown

    profiled = run(state, BEHAVIOUR).state
    snap = to_snapshot(profiled, reachable=[], personality=personality, now=T0 + 2 * H, policy=POLICY)
    assert snap.personality == personality


# --- row documents ---


def _rich_state() -> ProfileState:
    return run(
        new_state(uuid.uuid4(), POLICY),
        event("profile.updated", {"locale": "de-DE", "time_zone": "Europe/Berlin", "traits": {"tier": "gold"}}),
        consent("marketing", True, channel="sms", source="twilio"),
        consent("profiling_behaviour", True, at=T0 + H),
        objection(at=T0 + 2 * H),
        event("message.opened", {"tone": "blue"}, channel=Channel.PUSH, at=T0 + 3 * H),
        event("purchase.completed", at=T0 + 4 * H),
    ).state


def test_state_round_trips_through_the_columns() -> None:
    state = _rich_state()
    columns = state_to_columns(state)
    assert set(columns) == set(STATE_COLUMNS)
    plain = json.loads(json.dumps(columns, default=str))  # what JSONB (and the timestamp columns) give back
    assert state_from_row(plain) == state


def test_column_shapes() -> None:
    columns = state_to_columns(_rich_state())
    assert columns["consent"]["channels"]["sms"] == {"granted": True, "at": "2025-06-01T12:00:00Z", "source": "twilio"}
    assert columns["consent"]["objection"] == {"at": "2025-06-01T14:00:00Z", "source": "key_app"}
    assert columns["engagement"] == {"push": {"opened": {"value": 1.0, "at": "2025-06-01T15:00:00Z"}}}
    assert len(columns["active_hours"]) == 24
    assert columns["active_hours"][17] == {"value": 1.0, "at": "2025-06-01T15:00:00Z"}  # 17:00 CEST
    assert columns["lifecycle_stage"] == "customer"


def test_a_new_row_reads_as_an_empty_state() -> None:
    row = {"lifecycle_stage": "lead", "locale": None, "time_zone": None, "holdout": False}
    assert state_from_row(
        {**row, "traits": {}, "consent": {}, "engagement": {}, "active_hours": []}
    ) == EMPTY.model_copy(update={"stage_entered_at": None})


def test_a_malformed_document_is_an_error() -> None:
    row = state_to_columns(EMPTY) | {"active_hours": [None] * 23}
    with pytest.raises(ValueError, match="active_hours"):
        state_from_row(row)


def test_personality_column_round_trip() -> None:
    view = RoutingView(
        colour=Colour.BLUE, secondary=Colour.GREEN, pattern="moderate-blue-green", probability=0.7, as_of=T0
    )
    doc = json.loads(json.dumps(personality_to_column(view)))
    assert personality_from_column(doc) == PersonalitySnapshot(
        colour=ProfiledColour.BLUE, secondary=ProfiledColour.GREEN, pattern="moderate-blue-green", probability=0.7
    )
    unknown = RoutingView(colour=None, secondary=None, pattern="unknown", probability=None, as_of=T0)
    assert personality_from_column(personality_to_column(unknown)) == PersonalitySnapshot()
    assert personality_from_column({}) == PersonalitySnapshot()
