"""The colour, derived from the posterior by one documented function: `derive_colour`.

Input: the dominance and warmth posteriors N(m_d, v_d), N(m_w, v_w) (which already carry
the Big Five via `AXIS_WEIGHTS`, the colour form and behaviour; see `estimate`). The axes
are treated as independent, so the probability of each quadrant is a product:

    P(red)    = Phi(m_d / s_d) * Phi(-m_w / s_w)      (active, task)
    P(yellow) = Phi(m_d / s_d) * Phi( m_w / s_w)      (active, people)
    P(green)  = Phi(-m_d / s_d) * Phi( m_w / s_w)     (reserved, people)
    P(blue)   = Phi(-m_d / s_d) * Phi(-m_w / s_w)     (reserved, task)

The four sum to 1. Steps:

1. No questionnaire evidence at all -> `unknown` (reason `no_questionnaire`): behaviour
   alone is capped far below a questionnaire and never names a colour.
2. Primary = the most probable quadrant (the one holding the posterior mean). If its
   probability is below `THRESHOLD` (0.6) -> `unknown` (reason `below_threshold`). The
   four quadrant probabilities are always reported; a colour, pattern and probability
   only when the bar is cleared.
3. Secondary = the more probable of the primary's two neighbours (the quadrant across
   the less certain axis; the opposite quadrant is never secondary).
4. Angle = direction of the standardised mean (m_w / s_w, m_d / s_d); quadrant diagonals
   are yellow 45, red 135, blue 225, green 315 degrees. Within `PURE_HALF_WIDTH` (15)
   degrees of the primary's diagonal the style is pure, otherwise a blend leaning
   towards the secondary.
5. Intensity = distance of the (unstandardised) mean from the origin in z units:
   `strong` from `STRONG_RADIUS` (1.0) on, else `moderate`.

Pattern names: `<intensity>-<primary>` (pure) or `<intensity>-<primary>-<secondary>`
(blend, ordered: red-yellow is mostly red, yellow-red mostly yellow): 4 pure + 8 blends,
times 2 intensities = 24 patterns, plus `unknown`; `PATTERN_NAMES` lists them. The
reported probability is the primary quadrant's mass, the quantity the threshold applies to.
"""

from __future__ import annotations

import math
from typing import Final, Literal, cast, get_args

from pydantic import BaseModel, ConfigDict, field_serializer

from metaconnect_common.schemas.profiled import Colour as RoutingColour
from metaconnect_profile.personality.dimensions import COLOUR_SIGNS, NEIGHBOURS, Colour, Dimension
from metaconnect_profile.personality.estimate import PersonalityEstimate, Posterior

THRESHOLD: Final = 0.6
PURE_HALF_WIDTH: Final = 15.0
STRONG_RADIUS: Final = 1.0
DIAGONAL: Final[dict[Colour, float]] = {Colour.YELLOW: 45.0, Colour.RED: 135.0, Colour.BLUE: 225.0, Colour.GREEN: 315.0}

PatternName = Literal[
    "moderate-red",
    "moderate-red-yellow",
    "moderate-red-blue",
    "moderate-yellow",
    "moderate-yellow-red",
    "moderate-yellow-green",
    "moderate-green",
    "moderate-green-yellow",
    "moderate-green-blue",
    "moderate-blue",
    "moderate-blue-green",
    "moderate-blue-red",
    "strong-red",
    "strong-red-yellow",
    "strong-red-blue",
    "strong-yellow",
    "strong-yellow-red",
    "strong-yellow-green",
    "strong-green",
    "strong-green-yellow",
    "strong-green-blue",
    "strong-blue",
    "strong-blue-green",
    "strong-blue-red",
    "unknown",
]
UNKNOWN: Final = "unknown"
ALL_PATTERNS: Final[tuple[str, ...]] = get_args(PatternName)
PATTERN_NAMES: Final[tuple[str, ...]] = tuple(p for p in ALL_PATTERNS if p != UNKNOWN)
Intensity = Literal["moderate", "strong"]
Reason = Literal["derived", "no_questionnaire", "below_threshold"]


class ColourDerivation(BaseModel):
    """The derived colour and every number that led to it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    colour: Colour | None
    secondary: Colour | None
    pattern: PatternName
    probability: float | None
    intensity: Intensity | None
    reason: Reason
    quadrant_probabilities: dict[Colour, float]
    angle_deg: float
    radius: float
    steps: tuple[str, ...]

    @field_serializer("colour", "secondary", when_used="json")
    def _unknown_by_name(self, colour: Colour | None) -> RoutingColour:
        """People read `unknown` where there is too little evidence, as everywhere else, not null."""
        return RoutingColour(colour.value) if colour is not None else RoutingColour.UNKNOWN


def normal_cdf(x: float) -> float:
    """Phi(x), the standard normal distribution function."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def quadrant_probabilities(dominance: Posterior, warmth: Posterior) -> dict[Colour, float]:
    """P(quadrant) for each colour under independent normal posteriors on the two axes."""
    p_active = normal_cdf(dominance.mean / dominance.sd)
    p_people = normal_cdf(warmth.mean / warmth.sd)
    p = {}
    for colour, (d_sign, w_sign) in COLOUR_SIGNS.items():
        p[colour] = (p_active if d_sign > 0 else 1.0 - p_active) * (p_people if w_sign > 0 else 1.0 - p_people)
    return p


def pattern_name(intensity: Intensity, primary: Colour, secondary: Colour | None) -> PatternName:
    """`<intensity>-<primary>[-<secondary>]`, checked against the documented list."""
    name = f"{intensity}-{primary.value}" + (f"-{secondary.value}" if secondary is not None else "")
    if name not in PATTERN_NAMES:
        raise ValueError(f"{name} is not a documented pattern")
    return cast(PatternName, name)


def _angle(dominance: Posterior, warmth: Posterior) -> float:
    return math.degrees(math.atan2(dominance.mean / dominance.sd, warmth.mean / warmth.sd)) % 360.0


def _angular_distance(a: float, b: float) -> float:
    d = abs(a - b) % 360.0
    return min(d, 360.0 - d)


def derive_colour(estimate: PersonalityEstimate, *, threshold: float = THRESHOLD) -> ColourDerivation:
    """Primary and secondary colour, named pattern and probability from the posterior (see module docstring)."""
    dom, warm = estimate[Dimension.DOMINANCE], estimate[Dimension.WARMTH]
    probs = quadrant_probabilities(dom, warm)
    angle = _angle(dom, warm)
    radius = math.hypot(dom.mean, warm.mean)
    primary = max(Colour, key=lambda c: probs[c])  # enum order breaks exact ties
    steps = [
        f"dominance N({dom.mean:.3f}, {dom.variance:.3f}), warmth N({warm.mean:.3f}, {warm.variance:.3f})",
        "quadrant probabilities (independent axes): "
        + ", ".join(f"{c.value} {probs[c]:.3f}" for c in sorted(Colour, key=lambda c: -probs[c])),
    ]

    def unknown(reason: Reason, why: str) -> ColourDerivation:
        return ColourDerivation(
            colour=None,
            secondary=None,
            pattern=UNKNOWN,
            probability=None,
            intensity=None,
            reason=reason,
            quadrant_probabilities=probs,
            angle_deg=angle,
            radius=radius,
            steps=(*steps, why, "colour: unknown"),
        )

    if not estimate.has_questionnaire:
        return unknown("no_questionnaire", "no questionnaire evidence: behaviour alone never names a colour")
    if probs[primary] < threshold:
        return unknown(
            "below_threshold", f"most probable quadrant {primary.value} at {probs[primary]:.3f} < {threshold:.2f}"
        )

    secondary = max(NEIGHBOURS[primary], key=lambda c: probs[c])
    off_diagonal = _angular_distance(angle, DIAGONAL[primary])
    pure = off_diagonal <= PURE_HALF_WIDTH
    intensity: Intensity = "strong" if radius >= STRONG_RADIUS else "moderate"
    pattern = pattern_name(intensity, primary, None if pure else secondary)
    steps += [
        f"primary {primary.value}: P = {probs[primary]:.3f} >= {threshold:.2f}",
        f"secondary {secondary.value}: the more probable neighbour ({probs[secondary]:.3f})",
        f"standardised angle {angle:.1f} deg, {off_diagonal:.1f} deg from {primary.value}'s diagonal "
        + (f"<= {PURE_HALF_WIDTH:.0f}: pure" if pure else f"> {PURE_HALF_WIDTH:.0f}: blend towards {secondary.value}"),
        f"radius {radius:.2f} " + (">=" if intensity == "strong" else "<") + f" {STRONG_RADIUS:.1f}: {intensity}",
        f"pattern: {pattern}",
    ]
    return ColourDerivation(
        colour=primary,
        secondary=secondary,
        pattern=pattern,
        probability=probs[primary],
        intensity=intensity,
        reason="derived",
        quadrant_probabilities=probs,
        angle_deg=angle,
        radius=radius,
        steps=tuple(steps),
    )
