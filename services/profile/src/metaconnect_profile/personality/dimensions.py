"""The vocabulary of the personality model: dimensions, colours, and how they relate.

Seven dimensions carry a posterior, all on a z scale with prior N(0, 1):

* the Big Five as the IPIP-50 measures them: `extraversion`, `agreeableness`,
  `conscientiousness`, `emotional_stability` (the low pole of neuroticism) and
  `intellect` (intellect/imagination, the IPIP name for openness);
* the two axes of the interpersonal circumplex, which are the DISC axes (Marston 1928;
  Markey & Markey 2009): `dominance` (active vs reserved) and `warmth` (people vs task).

The four colours are the quadrants of the (warmth, dominance) plane:

                    active (dominance +)
              red / D      |      yellow / I
    task  -----------------+-----------------  people (warmth +)
              blue / C     |      green / S
                    reserved (dominance -)

`COLOUR_SIGNS` gives each colour's sign on each axis: red/D = active and task
(dominance +, warmth -), yellow/I = active and people (+, +), green/S = reserved and
people (-, +), blue/C = reserved and task (-, -).

Big Five -> axes (`AXIS_WEIGHTS`). The circumplex axes are rotations of extraversion and
agreeableness (McCrae & Costa 1989; DeYoung et al. 2013: assertiveness lies near the
dominance pole, enthusiasm between dominance and warmth, compassion near warmth,
politeness towards warm-submissive). That gives the approximate colour mapping
D ~ high E + low A, I ~ high E + high A, S ~ high A + low E, C ~ high C + low E,
slightly low A. The weights:

    dominance = 0.7 E - 0.4 A - 0.2 C
    warmth    = 0.4 E + 0.7 A - 0.2 C

Conscientiousness is not part of the circumplex; its small negative weight encodes the
DISC heuristic that blue is the careful, task-focused, reserved style. With independent
standard-normal Big Five the weighted sum has variance 0.49 + 0.16 + 0.04 = 0.69, so the
model reads the axes as `axis = w . B + e` with residual variance 0.31 (multiple R = .83):
the Big Five inform the axes but never determine them. These weights are a documented,
theory-based choice, not an estimate; replace them once local data with both instruments
exist.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, Literal

Language = Literal["en", "de"]
LANGUAGES: Final[tuple[Language, ...]] = ("en", "de")


class Dimension(StrEnum):
    """A dimension of the personality model, each with a posterior on a z scale."""

    EXTRAVERSION = "extraversion"
    AGREEABLENESS = "agreeableness"
    CONSCIENTIOUSNESS = "conscientiousness"
    EMOTIONAL_STABILITY = "emotional_stability"
    INTELLECT = "intellect"
    DOMINANCE = "dominance"
    WARMTH = "warmth"


BIG_FIVE: Final[tuple[Dimension, ...]] = (
    Dimension.EXTRAVERSION,
    Dimension.AGREEABLENESS,
    Dimension.CONSCIENTIOUSNESS,
    Dimension.EMOTIONAL_STABILITY,
    Dimension.INTELLECT,
)
AXES: Final[tuple[Dimension, ...]] = (Dimension.DOMINANCE, Dimension.WARMTH)


class Colour(StrEnum):
    """A colour style: a quadrant of the (warmth, dominance) circumplex plane."""

    RED = "red"
    YELLOW = "yellow"
    GREEN = "green"
    BLUE = "blue"


DISC_LETTER: Final[dict[Colour, str]] = {Colour.RED: "D", Colour.YELLOW: "I", Colour.GREEN: "S", Colour.BLUE: "C"}

# Sign of each colour on (dominance, warmth).
COLOUR_SIGNS: Final[dict[Colour, tuple[int, int]]] = {
    Colour.RED: (1, -1),
    Colour.YELLOW: (1, 1),
    Colour.GREEN: (-1, 1),
    Colour.BLUE: (-1, -1),
}

# The two quadrants sharing a side with each colour (one axis sign in common).
NEIGHBOURS: Final[dict[Colour, tuple[Colour, Colour]]] = {
    Colour.RED: (Colour.YELLOW, Colour.BLUE),
    Colour.YELLOW: (Colour.RED, Colour.GREEN),
    Colour.GREEN: (Colour.YELLOW, Colour.BLUE),
    Colour.BLUE: (Colour.GREEN, Colour.RED),
}

# Big Five -> circumplex axes (see the module docstring for where they come from).
AXIS_WEIGHTS: Final[dict[Dimension, dict[Dimension, float]]] = {
    Dimension.DOMINANCE: {
        Dimension.EXTRAVERSION: 0.7,
        Dimension.AGREEABLENESS: -0.4,
        Dimension.CONSCIENTIOUSNESS: -0.2,
    },
    Dimension.WARMTH: {
        Dimension.EXTRAVERSION: 0.4,
        Dimension.AGREEABLENESS: 0.7,
        Dimension.CONSCIENTIOUSNESS: -0.2,
    },
}


def colour_of(dominance_sign: int, warmth_sign: int) -> Colour:
    """The colour whose quadrant has these axis signs (+1 / -1)."""
    for colour, signs in COLOUR_SIGNS.items():
        if signs == (dominance_sign, warmth_sign):
            return colour
    raise ValueError(f"no colour for signs ({dominance_sign}, {warmth_sign})")
