"""Questionnaires as data: typed models of the packaged instrument files, and their presentation.

Each instrument is a JSON file in `personality/data/` that names its source, licence and
translation, in English and German:

* `ipip50.json` - the IPIP 50-item Big-Five Factor Markers (Goldberg 1992, public domain):
  ratings 1-5, items rotate E, A, C, ES, I, reverse-keyed items score 6 - x, each factor
  has its reliability (Cronbach's alpha) and a provisional raw-score norm (mean, SD).
* `colours24.json` - Metaconnect's own 24-group forced-choice colour form (public
  domain): four descriptors per group, one per colour, the colour order shuffled within
  groups; an assumed reliability (.75 until measured) and provisional axis norms.

Files are validated when loaded (counts, keying, one descriptor per colour, both
languages present) and cached; a broken file fails loudly at first use, never silently.
`questionnaire(name, lang)` is what respondents see: texts in one language and the ids
to answer with, never the scoring key (factor, keying, colour). Further instruments fit
beside these as another file of the same kind (`rating` or `forced_choice`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from metaconnect_profile.personality.dimensions import BIG_FIVE, Colour, Dimension, Language

NonEmpty = Annotated[str, Field(min_length=1)]
Probability = Annotated[float, Field(gt=0.0, lt=1.0)]

IPIP50: Final = "ipip50"
COLOURS24: Final = "colours24"
INSTRUMENT_NAMES: Final[tuple[str, ...]] = (IPIP50, COLOURS24)

# What the shipped files must look like beyond the generic checks.
IPIP50_KEYING: Final[dict[str, tuple[int, int]]] = {"E": (5, 5), "A": (6, 4), "C": (6, 4), "ES": (2, 8), "I": (7, 3)}
IPIP50_ROTATION: Final[tuple[str, ...]] = ("E", "A", "C", "ES", "I")
COLOURS24_GROUPS: Final = 24


class InstrumentError(ValueError):
    """An instrument file is missing or does not satisfy its own rules."""


class UnknownInstrumentError(KeyError):
    """No instrument of this name ships with Metaconnect."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Texts(_Frozen):
    """One text in every supported language."""

    en: NonEmpty
    de: NonEmpty

    def in_language(self, lang: Language) -> str:
        return self.en if lang == "en" else self.de


class Norm(_Frozen):
    """Mean and standard deviation of a raw score in a reference population."""

    mean: float
    sd: Annotated[float, Field(gt=0.0)]

    def z(self, raw: float) -> float:
        return (raw - self.mean) / self.sd


class NormsInfo(_Frozen):
    status: Literal["provisional", "local"]
    scale: NonEmpty
    source: NonEmpty
    replace_with: NonEmpty


class Factor(_Frozen):
    id: NonEmpty
    dimension: Dimension
    name: Texts
    reliability: Probability
    norm: Norm


class RatingItem(_Frozen):
    id: NonEmpty
    position: int
    factor: NonEmpty
    keyed: Literal["+", "-"]
    text: Texts


class ScaleLabels(_Frozen):
    en: tuple[NonEmpty, ...]
    de: tuple[NonEmpty, ...]


class ResponseScale(_Frozen):
    min: int
    max: int
    labels: ScaleLabels


class _InstrumentBase(_Frozen):
    name: NonEmpty
    version: NonEmpty
    title: Texts
    source: NonEmpty
    url: str | None
    licence: NonEmpty
    translation: dict[Language, NonEmpty]
    instructions: Texts

    @model_validator(mode="after")
    def _translation_named(self) -> _InstrumentBase:
        if "de" not in self.translation:
            raise ValueError("the file must say who translated it into German (translation.de)")
        return self


class RatingInstrument(_InstrumentBase):
    """A rating-scale questionnaire scored per factor (the IPIP-50 is one)."""

    kind: Literal["rating"]
    response_scale: ResponseScale
    factors: tuple[Factor, ...]
    reliability_source: NonEmpty
    norms: NormsInfo
    items: tuple[RatingItem, ...]

    @model_validator(mode="after")
    def _consistent(self) -> RatingInstrument:
        scale = self.response_scale
        points = scale.max - scale.min + 1
        if points < 2 or len(scale.labels.en) != points or len(scale.labels.de) != points:
            raise ValueError("response scale needs max > min and one label per point in each language")
        _unique("factor id", [f.id for f in self.factors])
        _unique("factor dimension", [f.dimension for f in self.factors])
        _unique("item id", [i.id for i in self.items])
        if [i.position for i in self.items] != list(range(1, len(self.items) + 1)):
            raise ValueError("item positions must run 1..n in file order")
        known = {f.id for f in self.factors}
        for item in self.items:
            if item.factor not in known:
                raise ValueError(f"item {item.id} names unknown factor {item.factor}")
        for factor in self.factors:
            if not any(i.factor == factor.id for i in self.items):
                raise ValueError(f"factor {factor.id} has no items")
        return self

    def factor(self, factor_id: str) -> Factor:
        return next(f for f in self.factors if f.id == factor_id)


class ColourInfo(_Frozen):
    id: Colour
    disc: Literal["D", "I", "S", "C"]
    name: Texts
    summary: Texts


class ReliabilityInfo(_Frozen):
    value: Probability
    status: Literal["assumption", "measured"]
    note: NonEmpty


class AxisNorms(_Frozen):
    status: Literal["provisional", "local"]
    dominance: Norm
    warmth: Norm
    scale: NonEmpty
    source: NonEmpty


class Descriptor(_Frozen):
    id: NonEmpty
    colour: Colour
    text: Texts


class Group(_Frozen):
    id: NonEmpty
    position: int
    descriptors: tuple[Descriptor, ...]


class ForcedChoiceInstrument(_InstrumentBase):
    """A forced-choice colour form: per group one "most" and one "least" descriptor."""

    kind: Literal["forced_choice"]
    colours: tuple[ColourInfo, ...]
    reliability: ReliabilityInfo
    axis_norms: AxisNorms
    groups: tuple[Group, ...]

    @model_validator(mode="after")
    def _consistent(self) -> ForcedChoiceInstrument:
        if sorted(c.id for c in self.colours) != sorted(Colour):
            raise ValueError("colours must list red, yellow, green and blue once each")
        _unique("group id", [g.id for g in self.groups])
        _unique("descriptor id", [d.id for g in self.groups for d in g.descriptors])
        if [g.position for g in self.groups] != list(range(1, len(self.groups) + 1)):
            raise ValueError("group positions must run 1..n in file order")
        for group in self.groups:
            if sorted(d.colour for d in group.descriptors) != sorted(Colour):
                raise ValueError(f"group {group.id} must hold exactly one descriptor per colour")
        return self

    def group(self, group_id: str) -> Group | None:
        return next((g for g in self.groups if g.id == group_id), None)


Instrument = Annotated[RatingInstrument | ForcedChoiceInstrument, Field(discriminator="kind")]
_INSTRUMENT: TypeAdapter[RatingInstrument | ForcedChoiceInstrument] = TypeAdapter(Instrument)


def _unique(what: str, values: Sequence[str]) -> None:
    seen: set[str] = set()
    for v in values:
        if v in seen:
            raise ValueError(f"duplicate {what}: {v}")
        seen.add(v)


def _check_ipip50(inst: RatingInstrument) -> None:
    if len(inst.items) != 50 or (inst.response_scale.min, inst.response_scale.max) != (1, 5):
        raise InstrumentError("ipip50 must have 50 items rated 1-5")
    if sorted(f.dimension for f in inst.factors) != sorted(BIG_FIVE):
        raise InstrumentError("ipip50 factors must be the Big Five")
    for factor_id, (plus, minus) in IPIP50_KEYING.items():
        keys = [i.keyed for i in inst.items if i.factor == factor_id]
        if (keys.count("+"), keys.count("-")) != (plus, minus):
            raise InstrumentError(f"ipip50 factor {factor_id} must be keyed {plus}+/{minus}-")
    for item in inst.items:
        if item.factor != IPIP50_ROTATION[(item.position - 1) % 5]:
            raise InstrumentError(f"ipip50 item {item.id} breaks the E, A, C, ES, I rotation")


@cache
def load_instrument(name: str) -> RatingInstrument | ForcedChoiceInstrument:
    """The validated instrument `name` from the packaged data files (cached)."""
    if name not in INSTRUMENT_NAMES:
        raise UnknownInstrumentError(name)
    path = resources.files("metaconnect_profile.personality").joinpath("data", f"{name}.json")
    try:
        inst = _INSTRUMENT.validate_python(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        raise InstrumentError(f"instrument file {name}.json is invalid: {exc}") from exc
    if inst.name != name:
        raise InstrumentError(f"{name}.json names itself {inst.name}")
    if name == IPIP50:
        if not isinstance(inst, RatingInstrument):
            raise InstrumentError("ipip50 must be a rating instrument")
        _check_ipip50(inst)
    if name == COLOURS24 and (not isinstance(inst, ForcedChoiceInstrument) or len(inst.groups) != COLOURS24_GROUPS):
        raise InstrumentError("colours24 must be a forced-choice form with 24 groups")
    return inst


def ipip50() -> RatingInstrument:
    """The IPIP-50 Big-Five Factor Markers."""
    inst = load_instrument(IPIP50)
    assert isinstance(inst, RatingInstrument)
    return inst


def colours24() -> ForcedChoiceInstrument:
    """Metaconnect's 24-group forced-choice colour form."""
    inst = load_instrument(COLOURS24)
    assert isinstance(inst, ForcedChoiceInstrument)
    return inst


# --- presentation: what a respondent sees (no factor, keying or colour) ---


class PresentedItem(_Frozen):
    id: str
    position: int
    text: str


class PresentedScale(_Frozen):
    min: int
    max: int
    labels: tuple[str, ...]


class PresentedDescriptor(_Frozen):
    id: str
    text: str


class PresentedGroup(_Frozen):
    id: str
    position: int
    descriptors: tuple[PresentedDescriptor, ...]


class _PresentedBase(_Frozen):
    name: str
    version: str
    language: Language
    title: str
    instructions: str
    source: str
    licence: str
    translation: str | None = Field(description="Who translated the texts into this language, if anyone did.")


class RatingQuestionnaire(_PresentedBase):
    """A rating questionnaire to present: answer with `{item_id: rating}`."""

    kind: Literal["rating"] = "rating"
    scale: PresentedScale
    items: tuple[PresentedItem, ...]


class ForcedChoiceQuestionnaire(_PresentedBase):
    """A forced-choice form to present: answer with `[{group, most, least}]`, one per group."""

    kind: Literal["forced_choice"] = "forced_choice"
    groups: tuple[PresentedGroup, ...]


Questionnaire = Annotated[RatingQuestionnaire | ForcedChoiceQuestionnaire, Field(discriminator="kind")]


def questionnaire(name: str, lang: Language = "en") -> RatingQuestionnaire | ForcedChoiceQuestionnaire:
    """Instrument `name` as a respondent sees it in `lang`: texts and ids, without the scoring key.

    Raises `UnknownInstrumentError` for a name that does not ship (the endpoint's 404).
    """
    inst = load_instrument(name)
    title, instructions = inst.title.in_language(lang), inst.instructions.in_language(lang)
    translation = inst.translation.get(lang)
    if isinstance(inst, RatingInstrument):
        scale = inst.response_scale
        return RatingQuestionnaire(
            name=inst.name,
            version=inst.version,
            language=lang,
            title=title,
            instructions=instructions,
            source=inst.source,
            licence=inst.licence,
            translation=translation,
            scale=PresentedScale(min=scale.min, max=scale.max, labels=getattr(scale.labels, lang)),
            items=tuple(PresentedItem(id=i.id, position=i.position, text=i.text.in_language(lang)) for i in inst.items),
        )
    return ForcedChoiceQuestionnaire(
        name=inst.name,
        version=inst.version,
        language=lang,
        title=title,
        instructions=instructions,
        source=inst.source,
        licence=inst.licence,
        translation=translation,
        groups=tuple(
            PresentedGroup(
                id=g.id,
                position=g.position,
                descriptors=tuple(PresentedDescriptor(id=d.id, text=d.text.in_language(lang)) for d in g.descriptors),
            )
            for g in inst.groups
        ),
    )
