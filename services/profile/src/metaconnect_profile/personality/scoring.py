"""Scoring answer sets: raw scores, z scores, and the evidence record they become.

IPIP-50 (`score_ipip50`): answers `{item_id: rating}`, one integer 1-5 per item. An item
keyed "+" scores its rating x, one keyed "-" scores 6 - x; a factor's raw score is the
sum of its 10 item scores (10-50) and z = (raw - norm mean) / norm SD. The provisional
norms ship in the file; pass `norms={"E": Norm(...), ...}` to use local ones.

Colour form (`score_colours24`): answers `[{"group", "most", "least"}]`, one per group.
Per colour: most-count (how often chosen as most like me, 0-24), least-count, and the
composite most - least (-24..24); the composites always sum to 0 (the scores are
ipsative: they compete within a group). The two axes are read from the composites:

    dominance raw = composite(red) + composite(yellow)     (active minus reserved)
    warmth raw    = composite(yellow) + composite(green)   (people minus task)

each -24..24, standardised with the form's provisional axis norms.

A malformed answer set raises `AnswerSetError` listing every problem as
`(field, rule, message)`: fields like `answers.E3` or `answers.4.most` (dotted paths, the
shape of the service's 422 body), rules from `RULES`. Nothing is scored unless all of it
is valid.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final, NamedTuple

from pydantic import AwareDatetime, BaseModel, ConfigDict

from metaconnect_profile.personality.dimensions import Colour, Dimension
from metaconnect_profile.personality.evidence import Observation, QuestionnaireEvidence
from metaconnect_profile.personality.instruments import (
    ForcedChoiceInstrument,
    Norm,
    UnknownInstrumentError,
    colours24,
    ipip50,
)

RULES: Final[dict[str, str]] = {
    "type": "the answer set or an answer has the wrong JSON type",
    "item_count": "a rating form needs exactly one answer per item",
    "missing_item": "an item has no answer",
    "unknown_item": "an answer names an item the form does not have",
    "rating_integer": "a rating is not an integer",
    "rating_range": "a rating is outside the response scale",
    "group_count": "a forced-choice form needs exactly one answer per group",
    "missing_group": "a group has no answer",
    "duplicate_group": "a group is answered more than once",
    "unknown_group": "an answer names a group the form does not have",
    "required": "an answer lacks group, most or least",
    "unexpected_field": "an answer has a key other than group, most and least",
    "unknown_descriptor": "most/least names a descriptor the form does not have",
    "descriptor_group": "most/least names a descriptor of another group",
    "same_most_least": "the same descriptor is chosen as most and least",
}


class AnswerProblem(NamedTuple):
    """One thing wrong with an answer set: where, which rule, and a message for people."""

    field: str
    rule: str
    message: str


class AnswerSetError(ValueError):
    """An answer set that cannot be scored; `problems` names every field and rule it broke."""

    def __init__(self, instrument: str, problems: Sequence[AnswerProblem]) -> None:
        self.instrument = instrument
        self.problems = tuple(problems)
        super().__init__(f"{instrument}: {len(self.problems)} problem(s): " + "; ".join(p.message for p in problems))


class _Result(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FactorScore(_Result):
    factor: str
    dimension: Dimension
    raw: int
    z: float
    reliability: float


class RatingResult(_Result):
    """A scored rating questionnaire: per factor raw score, z and reliability."""

    instrument: str
    version: str
    factors: tuple[FactorScore, ...]

    def evidence(self, observed_at: AwareDatetime) -> QuestionnaireEvidence:
        """The evidence record to store for this result."""
        return QuestionnaireEvidence(
            instrument=self.instrument,
            instrument_version=self.version,
            observed_at=observed_at,
            observations={f.dimension: Observation(z=f.z, reliability=f.reliability) for f in self.factors},
        )


class ColourResult(_Result):
    """A scored colour form: counts and composites per colour, and the two axis scores."""

    instrument: str
    version: str
    most: dict[Colour, int]
    least: dict[Colour, int]
    composite: dict[Colour, int]
    dominance_raw: int
    warmth_raw: int
    dominance_z: float
    warmth_z: float
    reliability: float

    def evidence(self, observed_at: AwareDatetime) -> QuestionnaireEvidence:
        """The evidence record to store for this result (it informs the two axes only)."""
        return QuestionnaireEvidence(
            instrument=self.instrument,
            instrument_version=self.version,
            observed_at=observed_at,
            observations={
                Dimension.DOMINANCE: Observation(z=self.dominance_z, reliability=self.reliability),
                Dimension.WARMTH: Observation(z=self.warmth_z, reliability=self.reliability),
            },
        )


def score_ipip50(answers: Mapping[str, object], *, norms: Mapping[str, Norm] | None = None) -> RatingResult:
    """Score an IPIP-50 answer set `{item_id: rating}`; `norms` (by factor id) replace the provisional ones.

    Raises `AnswerSetError` with every problem found.
    """
    inst = ipip50()
    if not isinstance(answers, Mapping):
        raise AnswerSetError(inst.name, [AnswerProblem("answers", "type", "answers must be an object")])
    lo, hi = inst.response_scale.min, inst.response_scale.max
    by_id = {i.id: i for i in inst.items}
    problems: list[AnswerProblem] = []
    if len(answers) != len(inst.items):
        problems.append(
            AnswerProblem("answers", "item_count", f"expected {len(inst.items)} answers, got {len(answers)}")
        )
    for item_id, rating in answers.items():
        field = f"answers.{item_id}"
        if item_id not in by_id:
            problems.append(AnswerProblem(field, "unknown_item", f"{item_id!r} is not an item of {inst.name}"))
        elif isinstance(rating, bool) or not isinstance(rating, int):
            problems.append(AnswerProblem(field, "rating_integer", f"rating must be an integer {lo}-{hi}"))
        elif not lo <= rating <= hi:
            problems.append(AnswerProblem(field, "rating_range", f"rating {rating} is outside {lo}-{hi}"))
    problems.extend(
        AnswerProblem(f"answers.{i.id}", "missing_item", f"item {i.id} has no answer")
        for i in inst.items
        if i.id not in answers
    )
    if problems:
        raise AnswerSetError(inst.name, problems)

    raw: dict[str, int] = {f.id: 0 for f in inst.factors}
    for item in inst.items:
        rating = answers[item.id]
        assert isinstance(rating, int)
        raw[item.factor] += rating if item.keyed == "+" else lo + hi - rating
    scores = []
    for factor in inst.factors:
        norm = norms[factor.id] if norms is not None and factor.id in norms else factor.norm
        scores.append(
            FactorScore(
                factor=factor.id,
                dimension=factor.dimension,
                raw=raw[factor.id],
                z=norm.z(raw[factor.id]),
                reliability=factor.reliability,
            )
        )
    return RatingResult(instrument=inst.name, version=inst.version, factors=tuple(scores))


def _colour_problems(inst: ForcedChoiceInstrument, answers: Sequence[object]) -> list[AnswerProblem]:
    problems: list[AnswerProblem] = []
    colour_of = {d.id: (g.id, d.colour) for g in inst.groups for d in g.descriptors}
    if len(answers) != len(inst.groups):
        problems.append(
            AnswerProblem("answers", "group_count", f"expected {len(inst.groups)} answers, got {len(answers)}")
        )
    seen: set[str] = set()
    for n, answer in enumerate(answers):
        at = f"answers.{n}"
        if not isinstance(answer, Mapping):
            problems.append(AnswerProblem(at, "type", "an answer must be an object {group, most, least}"))
            continue
        problems.extend(
            AnswerProblem(f"{at}.{key}", "unexpected_field", f"unexpected key {key!r}")
            for key in answer
            if key not in ("group", "most", "least")
        )
        values: dict[str, str] = {}
        for key in ("group", "most", "least"):
            value = answer.get(key)
            if value is None:
                problems.append(AnswerProblem(f"{at}.{key}", "required", f"{key} is required"))
            elif not isinstance(value, str):
                problems.append(AnswerProblem(f"{at}.{key}", "type", f"{key} must be a string id"))
            else:
                values[key] = value
        group = values.get("group")
        if group is not None:
            if inst.group(group) is None:
                problems.append(AnswerProblem(f"{at}.group", "unknown_group", f"{group!r} is not a group of the form"))
                group = None
            elif group in seen:
                problems.append(AnswerProblem(f"{at}.group", "duplicate_group", f"group {group} is answered twice"))
            else:
                seen.add(group)
        for key in ("most", "least"):
            chosen = values.get(key)
            if chosen is None:
                continue
            if chosen not in colour_of:
                problems.append(
                    AnswerProblem(f"{at}.{key}", "unknown_descriptor", f"{chosen!r} is not a descriptor of the form")
                )
            elif group is not None and colour_of[chosen][0] != group:
                problems.append(
                    AnswerProblem(f"{at}.{key}", "descriptor_group", f"{chosen} does not belong to group {group}")
                )
        if "most" in values and values.get("most") == values.get("least"):
            problems.append(
                AnswerProblem(f"{at}.least", "same_most_least", "most and least must be different descriptors")
            )
    missing = [g.id for g in inst.groups if g.id not in seen]
    problems.extend(AnswerProblem("answers", "missing_group", f"group {g} has no answer") for g in missing)
    return problems


def score_colours24(answers: Sequence[Mapping[str, object]]) -> ColourResult:
    """Score a colour-form answer set `[{"group", "most", "least"}]`, one answer per group.

    Raises `AnswerSetError` with every problem found.
    """
    inst = colours24()
    if isinstance(answers, str | bytes) or not isinstance(answers, Sequence):
        raise AnswerSetError(inst.name, [AnswerProblem("answers", "type", "answers must be a list")])
    problems = _colour_problems(inst, answers)
    if problems:
        raise AnswerSetError(inst.name, problems)

    colour_of = {d.id: d.colour for g in inst.groups for d in g.descriptors}
    most = dict.fromkeys(Colour, 0)
    least = dict.fromkeys(Colour, 0)
    for answer in answers:
        most[colour_of[str(answer["most"])]] += 1
        least[colour_of[str(answer["least"])]] += 1
    composite = {c: most[c] - least[c] for c in Colour}
    dominance = composite[Colour.RED] + composite[Colour.YELLOW]
    warmth = composite[Colour.YELLOW] + composite[Colour.GREEN]
    return ColourResult(
        instrument=inst.name,
        version=inst.version,
        most=most,
        least=least,
        composite=composite,
        dominance_raw=dominance,
        warmth_raw=warmth,
        dominance_z=inst.axis_norms.dominance.z(dominance),
        warmth_z=inst.axis_norms.warmth.z(warmth),
        reliability=inst.reliability.value,
    )


def score_questionnaire(name: str, answers: object) -> RatingResult | ColourResult:
    """Score `answers` for instrument `name` (the service's single entry point).

    Raises `UnknownInstrumentError` for an unknown name, `AnswerSetError` for bad answers.
    """
    if name == ipip50().name:
        if not isinstance(answers, Mapping):
            raise AnswerSetError(name, [AnswerProblem("answers", "type", "answers must be an object")])
        return score_ipip50(answers)
    if name == colours24().name:
        if isinstance(answers, str | bytes) or not isinstance(answers, Sequence):
            raise AnswerSetError(name, [AnswerProblem("answers", "type", "answers must be a list")])
        return score_colours24(answers)
    raise UnknownInstrumentError(name)
