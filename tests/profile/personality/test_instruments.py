"""The packaged instruments load, satisfy their own rules, and present without their scoring key."""

from __future__ import annotations

import json

import pytest

from metaconnect_profile.personality.dimensions import BIG_FIVE, Colour
from metaconnect_profile.personality.instruments import (
    INSTRUMENT_NAMES,
    ForcedChoiceQuestionnaire,
    RatingQuestionnaire,
    UnknownInstrumentError,
    colours24,
    ipip50,
    load_instrument,
    questionnaire,
)


def test_ipip50_is_the_goldberg_factor_markers() -> None:
    inst = ipip50()
    assert len(inst.items) == 50
    assert (inst.response_scale.min, inst.response_scale.max) == (1, 5)
    assert sorted(f.dimension for f in inst.factors) == sorted(BIG_FIVE)
    assert [i.factor for i in inst.items[:5]] == ["E", "A", "C", "ES", "I"]
    keying = {f.id: "".join(i.keyed for i in inst.items if i.factor == f.id) for f in inst.factors}
    assert keying == {
        "E": "+-+-+-+-+-",
        "A": "-+-+-+-+++",
        "C": "+-+-+-+-++",
        "ES": "-+-+------",
        "I": "+-+-+-++++",
    }
    assert {f.id: f.reliability for f in inst.factors} == {"E": 0.87, "A": 0.82, "C": 0.79, "ES": 0.86, "I": 0.84}
    assert inst.items[0].text.en == "Am the life of the party."
    assert inst.items[1].text.en == "Feel little concern for others."
    assert inst.norms.status == "provisional"
    assert "public domain" in inst.licence.lower()
    assert "Metaconnect's own translation" in inst.translation["de"]


def test_colours24_has_one_descriptor_per_colour_in_24_groups() -> None:
    inst = colours24()
    assert len(inst.groups) == 24
    for group in inst.groups:
        assert sorted(d.colour for d in group.descriptors) == sorted(Colour)
        assert all(d.id.startswith(group.id) for d in group.descriptors)
    # The key is not obvious: the first position is not always the same colour.
    assert len({g.descriptors[0].colour for g in inst.groups}) == 4
    assert inst.reliability.value == 0.75
    assert inst.reliability.status == "assumption"
    texts = [d.text.en for g in inst.groups for d in g.descriptors]
    assert len(set(texts)) == len(texts) == 96


def test_loading_is_cached() -> None:
    assert load_instrument("ipip50") is load_instrument("ipip50")


def test_unknown_instrument() -> None:
    with pytest.raises(UnknownInstrumentError):
        load_instrument("../../etc/passwd")
    with pytest.raises(UnknownInstrumentError):
        questionnaire("disc-classic", "en")


@pytest.mark.parametrize("name", INSTRUMENT_NAMES)
def test_presentation_hides_the_scoring_key(name: str) -> None:
    body = json.dumps(questionnaire(name, "en").model_dump(mode="json"))
    for secret in ('"keyed"', '"factor"', '"colour"', '"reliability"', '"norm"', '"red"', '"blue"'):
        assert secret not in body


def test_ipip50_presented_in_german_keeps_ids() -> None:
    en, de = questionnaire("ipip50", "en"), questionnaire("ipip50", "de")
    assert isinstance(en, RatingQuestionnaire)
    assert isinstance(de, RatingQuestionnaire)
    assert [i.id for i in de.items] == [i.id for i in en.items] == [i.id for i in ipip50().items]
    assert de.language == "de"
    assert de.items[0].text == "Ich bin auf Partys die Stimmungskanone."
    assert de.items[2].text == "Ich bin immer gut vorbereitet."
    assert de.scale.labels[0] == "Trifft überhaupt nicht zu"
    assert en.scale.labels == ("Very inaccurate", *en.scale.labels[1:4], "Very accurate")
    assert de.translation is not None
    assert "Metaconnect" in de.translation
    assert en.translation is None
    assert all(a.text != b.text for a, b in zip(en.items, de.items, strict=True))


def test_colours24_presented_in_german_keeps_ids() -> None:
    en, de = questionnaire("colours24", "en"), questionnaire("colours24", "de")
    assert isinstance(en, ForcedChoiceQuestionnaire)
    assert isinstance(de, ForcedChoiceQuestionnaire)
    ids = [[d.id for d in g.descriptors] for g in en.groups]
    assert [[d.id for d in g.descriptors] for g in de.groups] == ids
    assert ids[0] == ["g01a", "g01b", "g01c", "g01d"]
    assert [d.text for d in de.groups[0].descriptors] == ["präzise", "begeistert", "geduldig", "entschlossen"]
    assert de.instructions.startswith("Jede Gruppe")
