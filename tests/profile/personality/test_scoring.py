"""Scoring both instruments by hand-computed expectations, and every way an answer set can be malformed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metaconnect_profile.personality.dimensions import Colour, Dimension
from metaconnect_profile.personality.instruments import Norm, UnknownInstrumentError, ipip50
from metaconnect_profile.personality.scoring import (
    RULES,
    AnswerSetError,
    ColourResult,
    RatingResult,
    score_colours24,
    score_ipip50,
    score_questionnaire,
)
from tests.profile.personality.answers import (
    COLOUR_ANSWERS,
    COLOUR_COMPOSITE,
    COLOUR_LEAST,
    COLOUR_MOST,
    IPIP_ANSWERS,
    IPIP_RAW,
    IPIP_Z,
    NOW,
)


def problems(call: Callable[[], object]) -> set[tuple[str, str]]:
    with pytest.raises(AnswerSetError) as info:
        call()
    assert all(p.rule in RULES for p in info.value.problems)
    return {(p.field, p.rule) for p in info.value.problems}


# --- IPIP-50 ---


def test_ipip50_hand_computed() -> None:
    result = score_ipip50(IPIP_ANSWERS)
    assert {f.factor: f.raw for f in result.factors} == IPIP_RAW
    assert {f.factor: f.z for f in result.factors} == pytest.approx(IPIP_Z)
    evidence = result.evidence(NOW)
    assert evidence.instrument == "ipip50"
    assert evidence.observations[Dimension.EXTRAVERSION].z == pytest.approx(1.0)
    assert evidence.observations[Dimension.EXTRAVERSION].reliability == 0.87
    assert evidence.observations[Dimension.CONSCIENTIOUSNESS].z == pytest.approx(-1.0)


def test_ipip50_extremes_and_local_norms() -> None:
    items = ipip50().items
    top = score_ipip50({i.id: 5 if i.keyed == "+" else 1 for i in items})
    bottom = score_ipip50({i.id: 1 if i.keyed == "+" else 5 for i in items})
    assert {f.raw for f in top.factors} == {50}
    assert {f.raw for f in bottom.factors} == {10}
    local = score_ipip50(IPIP_ANSWERS, norms={"E": Norm(mean=39.0, sd=5.0)})
    assert {f.factor: f.z for f in local.factors}["E"] == 0.0  # (39 - 39) / 5
    assert {f.factor: f.z for f in local.factors}["A"] == pytest.approx(1.0)  # provisional norm kept


@given(st.lists(st.integers(1, 5), min_size=50, max_size=50))
def test_ipip50_raw_scores_within_bounds_and_monotone(ratings: list[int]) -> None:
    items = ipip50().items
    answers = {i.id: r for i, r in zip(items, ratings, strict=True)}
    result = score_ipip50(answers)
    assert all(10 <= f.raw <= 50 for f in result.factors)
    # Raising a "+" item (or lowering a "-" item) never lowers its factor's raw score.
    item = items[0]
    bumped = dict(answers, **{item.id: min(5, answers[item.id] + 1)})
    raw = {f.factor: f.raw for f in result.factors}
    assert {f.factor: f.raw for f in score_ipip50(bumped).factors}[item.factor] >= raw[item.factor]


def test_ipip50_missing_item() -> None:
    answers = dict(IPIP_ANSWERS)
    del answers["E3"]
    assert problems(lambda: score_ipip50(answers)) == {("answers", "item_count"), ("answers.E3", "missing_item")}


def test_ipip50_empty() -> None:
    found = problems(lambda: score_ipip50({}))
    assert ("answers", "item_count") in found
    assert len([p for p in found if p[1] == "missing_item"]) == 50


def test_ipip50_unknown_item() -> None:
    extra = {**IPIP_ANSWERS, "X9": 3}
    assert problems(lambda: score_ipip50(extra)) == {("answers", "item_count"), ("answers.X9", "unknown_item")}
    swapped = dict(IPIP_ANSWERS)
    del swapped["I10"]
    swapped["I11"] = 3
    assert problems(lambda: score_ipip50(swapped)) == {
        ("answers.I11", "unknown_item"),
        ("answers.I10", "missing_item"),
    }


@pytest.mark.parametrize("rating", [0, 6, -1, 50])
def test_ipip50_rating_out_of_range(rating: int) -> None:
    assert problems(lambda: score_ipip50({**IPIP_ANSWERS, "A4": rating})) == {("answers.A4", "rating_range")}


@pytest.mark.parametrize("rating", [3.5, 3.0, "3", True, None, [3]])
def test_ipip50_rating_not_an_integer(rating: object) -> None:
    answers: dict[str, object] = {**IPIP_ANSWERS, "ES2": rating}
    assert problems(lambda: score_ipip50(answers)) == {("answers.ES2", "rating_integer")}


def test_ipip50_reports_every_problem_at_once() -> None:
    answers: dict[str, object] = {**IPIP_ANSWERS, "E1": 9, "A1": "x"}
    del answers["C1"]
    assert problems(lambda: score_ipip50(answers)) == {
        ("answers", "item_count"),
        ("answers.E1", "rating_range"),
        ("answers.A1", "rating_integer"),
        ("answers.C1", "missing_item"),
    }


def test_ipip50_not_an_object() -> None:
    bad: Any = [1, 2, 3]
    assert problems(lambda: score_ipip50(bad)) == {("answers", "type")}
    assert problems(lambda: score_questionnaire("ipip50", bad)) == {("answers", "type")}


# --- colour form ---


def test_colours24_hand_computed() -> None:
    result = score_colours24(COLOUR_ANSWERS)
    assert result.most == {Colour(c): n for c, n in COLOUR_MOST.items()}
    assert result.least == {Colour(c): n for c, n in COLOUR_LEAST.items()}
    assert result.composite == {Colour(c): n for c, n in COLOUR_COMPOSITE.items()}
    assert (result.dominance_raw, result.warmth_raw) == (15, -6)
    assert (result.dominance_z, result.warmth_z) == (1.875, -0.75)
    evidence = result.evidence(NOW)
    assert set(evidence.observations) == {Dimension.DOMINANCE, Dimension.WARMTH}
    assert evidence.observations[Dimension.DOMINANCE].reliability == 0.75


@given(st.lists(st.permutations(range(4)), min_size=24, max_size=24))
def test_colours24_counts_are_ipsative(orders: list[list[int]]) -> None:
    answers = [
        {"group": f"g{g:02d}", "most": f"g{g:02d}" + "abcd"[o[0]], "least": f"g{g:02d}" + "abcd"[o[1]]}
        for g, o in enumerate(orders, start=1)
    ]
    result = score_colours24(answers)
    assert sum(result.most.values()) == sum(result.least.values()) == 24
    assert sum(result.composite.values()) == 0
    assert -24 <= result.dominance_raw <= 24
    assert -24 <= result.warmth_raw <= 24


def with_answer(index: int, **changes: object) -> list[dict[str, object]]:
    answers = [dict(a) for a in COLOUR_ANSWERS]
    answers[index].update(changes)
    return answers


def test_colours24_wrong_group_count() -> None:
    assert problems(lambda: score_colours24(COLOUR_ANSWERS[:23])) == {
        ("answers", "group_count"),
        ("answers", "missing_group"),
    }
    assert problems(lambda: score_colours24([])) >= {("answers", "group_count"), ("answers", "missing_group")}


def test_colours24_duplicate_group() -> None:
    answers = [*COLOUR_ANSWERS[:23], COLOUR_ANSWERS[0]]
    assert problems(lambda: score_colours24(answers)) == {
        ("answers.23.group", "duplicate_group"),
        ("answers", "missing_group"),
    }


def test_colours24_unknown_group() -> None:
    assert problems(lambda: score_colours24(with_answer(4, group="g99"))) == {
        ("answers.4.group", "unknown_group"),
        ("answers", "missing_group"),
    }


def test_colours24_unknown_descriptor() -> None:
    assert problems(lambda: score_colours24(with_answer(0, most="g01x"))) == {("answers.0.most", "unknown_descriptor")}


def test_colours24_descriptor_of_another_group() -> None:
    assert problems(lambda: score_colours24(with_answer(2, least="g04a"))) == {("answers.2.least", "descriptor_group")}


def test_colours24_same_most_and_least() -> None:
    assert problems(lambda: score_colours24(with_answer(7, least=COLOUR_ANSWERS[7]["most"]))) == {
        ("answers.7.least", "same_most_least")
    }


def test_colours24_malformed_entries() -> None:
    missing = [dict(a) for a in COLOUR_ANSWERS]
    del missing[3]["least"]
    assert problems(lambda: score_colours24(missing)) == {("answers.3.least", "required")}
    assert problems(lambda: score_colours24(with_answer(5, note="hi"))) == {("answers.5.note", "unexpected_field")}
    assert problems(lambda: score_colours24(with_answer(6, most=1))) == {("answers.6.most", "type")}
    not_object: Any = [*COLOUR_ANSWERS[:23], "g24a"]
    assert problems(lambda: score_colours24(not_object)) == {("answers.23", "type"), ("answers", "missing_group")}
    not_list: Any = {"group": "g01"}
    assert problems(lambda: score_colours24(not_list)) == {("answers", "type")}
    assert problems(lambda: score_questionnaire("colours24", "g01a")) == {("answers", "type")}


def test_score_questionnaire_dispatches_by_name() -> None:
    assert isinstance(score_questionnaire("ipip50", IPIP_ANSWERS), RatingResult)
    assert isinstance(score_questionnaire("colours24", COLOUR_ANSWERS), ColourResult)
    with pytest.raises(UnknownInstrumentError):
        score_questionnaire("mbti", {})


def test_answer_set_error_message_names_the_problems() -> None:
    with pytest.raises(AnswerSetError, match="ipip50: 2 problem"):
        score_ipip50({**IPIP_ANSWERS, "E1": 0, "E2": 0})
