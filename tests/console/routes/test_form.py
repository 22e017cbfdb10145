"""A route as a form and back; each router error at its input (pure)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from metaconnect_console.routes.form import (
    CHANNEL_FIELDS,
    CHANNELS,
    TONES,
    RouteForm,
    field_id,
    form_of,
    place_errors,
    spec_of,
    with_message_added,
    with_message_removed,
)

texts = st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1, max_size=30).filter(
    lambda t: t.strip() == t
)
slugs = st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True)


@st.composite
def messages(draw: st.DrawFn) -> dict[str, Any]:
    channels = draw(st.lists(st.sampled_from(CHANNELS), min_size=1, max_size=3, unique=True))
    tones = draw(st.lists(st.sampled_from(TONES), min_size=1, max_size=5, unique=True))
    locales = ["en", *draw(st.lists(st.sampled_from(["de", "fr", "pt-BR"]), max_size=2, unique=True))]
    variants = {
        tone: {
            channel: {locale: {name: draw(texts) for name in CHANNEL_FIELDS[channel]} for locale in locales}
            for channel in channels
        }
        for tone in tones
    }
    message: dict[str, Any] = {"id": draw(slugs), "channels": channels, "variants": variants}
    if draw(st.booleans()):
        message["priority"] = str(draw(st.integers(1, 100)))
    if draw(st.booleans()):
        message["category"] = "transactional"
    return message


@st.composite
def specs(draw: st.DrawFn) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": draw(slugs),
        "status": draw(st.sampled_from(["draft", "active", "paused"])),
        "trigger": {
            "event_types": draw(
                st.lists(st.from_regex(r"[a-z]{1,8}\.[a-z*]{1,8}", fullmatch=True), min_size=1, max_size=3, unique=True)
            )
        },
        "messages": draw(st.lists(messages(), min_size=1, max_size=3)),
    }
    if draw(st.booleans()):
        spec["trigger"]["condition"] = "event.properties.value >= 20"
    if draw(st.booleans()):
        spec["policy"] = {"quiet_hours": {"start": "21:00", "end": "08:00"}, "template_traits": ["tier"]}
    return spec


def posted(form: RouteForm) -> dict[str, list[str]]:
    """What the browser sends for the form (`edit.html`): every input, the ticked boxes, the hidden parts."""
    fields = {path: [value] for path, value in form.values.items()}
    fields |= {path: [value] for path, value in form.hidden.items()}
    for m in form.messages:
        fields[f"{m.prefix}.channels"] = list(m.channels)
        fields[f"{m.prefix}.tones"] = list(m.tones)
    fields["csrf_token"] = ["x"]  # other fields of the page are not part of the spec
    return fields


def _normal(spec: dict[str, Any]) -> dict[str, Any]:
    # The form writes the message's fields it shows; the spec's may be missing (the router's defaults).
    out = {**spec, "messages": []}
    for m in spec["messages"]:
        out["messages"].append({**m, "category": m.get("category", "marketing")})
    return out


@given(specs())
def test_a_spec_survives_the_form(spec: dict[str, Any]) -> None:
    assert _normal(spec_of(posted(form_of(spec)))) == _normal(spec)


def test_a_stored_spec_with_defaults_and_fallbacks_keeps_them() -> None:
    fallback = {"title": None, "body": "Plain", "subject": None, "action_url": None}
    stored = {
        "name": "cart",
        "description": "",
        "status": "active",
        "trigger": {"event_types": ["cart.abandoned"], "condition": None},
        "messages": [
            {
                "id": "m",
                "priority": 50,
                "category": "marketing",
                "collapse_key": None,
                "expires_after": "P1D",
                "channels": ["push"],
                "variants": {"neutral": {"push": {"en": {"title": None, "body": "Hi", "fallback": fallback}}}},
            }
        ],
        "policy": {
            "bundle_window": "PT30M",
            "caps_per_channel": {"push": {"count": 2, "per": "P1D"}},
            "quiet_hours": None,
        },
    }
    spec = spec_of(posted(form_of(stored)))
    assert spec["messages"][0]["variants"]["neutral"]["push"]["en"] == {"body": "Hi", "fallback": fallback}
    assert spec["messages"][0]["expires_after"] == "P1D"
    assert spec["policy"] == {"bundle_window": "PT30M", "caps_per_channel": {"push": {"count": 2, "per": "P1D"}}}
    assert "condition" not in spec["trigger"]


def test_messages_are_added_and_removed_from_what_was_typed() -> None:
    spec = {
        "name": "r",
        "trigger": {"event_types": ["a.b"]},
        "messages": [
            {"id": "message-1", "channels": ["sms"], "variants": {"neutral": {"sms": {"en": {"body": "typed"}}}}}
        ],
    }
    added = with_message_added(posted(form_of(spec)))
    assert [m["id"] for m in added["messages"]] == ["message-1", "message-2"]
    assert added["messages"][0]["variants"]["neutral"]["sms"]["en"] == {"body": "typed"}
    removed = with_message_removed(posted(form_of(added)), 0)
    assert [m["id"] for m in removed["messages"]] == ["message-2"]


def test_a_new_tone_or_locale_gets_its_inputs() -> None:
    spec = {
        "name": "r",
        "trigger": {"event_types": ["a.b"]},
        "messages": [{"id": "m", "channels": ["push", "email"], "variants": {"neutral": {}}}],
    }
    fields = posted(form_of(spec))
    fields["messages.0.tones"] = ["neutral", "red"]
    fields["messages.0.locales"] = ["en, de"]
    form = form_of(spec_of(fields))
    assert set(form.messages[0].text_fields) == {
        (t, c, loc) for t in ("neutral", "red") for c in ("push", "email") for loc in ("en", "de")
    }
    assert form.messages[0].text_fields["red", "email", "de"] == ("subject", "body", "action_url")
    assert "messages.0.variants.red.email.de.subject" in form.values


ROUTER_ERRORS = [
    {"field": "messages.0.priority", "rule": "less_than_equal", "message": "Input should be less than or equal to 100"},
    {
        "field": "messages.0.variants.red",
        "rule": "variant_missing_channel",
        "message": "variant red has no content for sms",
    },
    {"field": "messages.0.variants.red.push.de", "rule": "default_locale_required", "message": "..."},
    {"field": "messages.0.variants.red.push.en.body", "rule": "template_syntax", "message": "line 1: ..."},
    {"field": "policy.quiet_hours", "rule": "quiet_hours_empty", "message": "start and end must differ"},
    {"field": "messages.7.id", "rule": "duplicate_message_id", "message": "message id m appears twice"},
    {"field": "body", "rule": "json_invalid", "message": "..."},
]


def test_each_router_error_lands_at_its_input_or_the_group_around_it() -> None:
    spec = {
        "name": "r",
        "trigger": {"event_types": ["a.b"]},
        "messages": [{"id": "m", "channels": ["push", "sms"], "variants": {"red": {"push": {"en": {"body": "x"}}}}}],
    }
    placed = place_errors(ROUTER_ERRORS, form_of(spec).paths())
    assert [p.rule for p in placed["messages.0.priority"]] == ["less_than_equal"]
    assert [p.rule for p in placed["messages.0.variants.red"]] == ["variant_missing_channel"]
    assert [p.rule for p in placed["messages.0.variants.red.push"]] == ["default_locale_required"]
    assert [p.rule for p in placed["messages.0.variants.red.push.en.body"]] == ["template_syntax"]
    assert [p.rule for p in placed["policy.quiet_hours"]] == ["quiet_hours_empty"]
    assert [p.rule for p in placed["messages"]] == ["duplicate_message_id"]  # no 8th message on the page
    assert [p.rule for p in placed[""]] == ["json_invalid"]


@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "field": st.text(alphabet="ab.01", max_size=12),
                "rule": st.text(max_size=5),
                "message": st.text(max_size=5),
            }
        ),
        max_size=20,
    ),
    st.sets(st.text(alphabet="ab.01", max_size=8), max_size=10),
)
def test_every_error_is_placed_once_at_a_prefix_of_its_field(errors: list[dict[str, str]], paths: set[str]) -> None:
    placed = place_errors(errors, paths)
    assert sum(len(v) for v in placed.values()) == len(errors)
    for at, problems in placed.items():
        assert at == "" or at in paths
        for problem in problems:
            assert at == "" or problem.field == at or problem.field.startswith(at + ".")


# A part of a router path: a name (`in_app`, `0`) or a locale (`en-GB`); never empty, never a
# dash at either end.
PART = st.from_regex(r"[a-z0-9_]+(-[a-zA-Z0-9_]+)*", fullmatch=True)
PATHS = st.lists(PART, min_size=1, max_size=6).map(".".join)


@given(PATHS, PATHS)
def test_field_ids_are_distinct_for_distinct_router_paths(a: str, b: str) -> None:
    assert (field_id(a) == field_id(b)) == (a == b)


def test_field_ids_of_paths_that_differ_only_in_punctuation() -> None:
    # Found by hypothesis in CI: `_` and `.` once both became `-`.
    paths = ["a.b", "a_b", "a-b", "in_app.en", "in.app.en", "in_app.en-GB", "in_app.en.GB"]
    assert len({field_id(p) for p in paths}) == len(paths)
