"""Hand-written answer sets with hand-computed scores, and evidence builders, for the personality tests."""

from __future__ import annotations

from datetime import UTC, datetime

from metaconnect_profile.personality.dimensions import BIG_FIVE, Colour, Dimension
from metaconnect_profile.personality.evidence import BehaviourEvidence, Observation, Outcome, QuestionnaireEvidence

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)

# IPIP-50, written by hand. Item score = rating for "+" items, 6 - rating for "-" items.
IPIP_ANSWERS: dict[str, int] = {
    # Extraversion (+ - + - + - + - + -): 5 4 4 4 4 5 3 3 4 3 = 39
    "E1": 5, "E2": 2, "E3": 4, "E4": 2, "E5": 4, "E6": 1, "E7": 3, "E8": 3, "E9": 4, "E10": 3,
    # Agreeableness (- + - + - + - + + +): 5 5 5 4 4 5 5 4 4 4 = 45
    "A1": 1, "A2": 5, "A3": 1, "A4": 4, "A5": 2, "A6": 5, "A7": 1, "A8": 4, "A9": 4, "A10": 4,
    # Conscientiousness (+ - + - + - + - + +): 2 2 3 3 2 2 4 4 2 3 = 27
    "C1": 2, "C2": 4, "C3": 3, "C4": 3, "C5": 2, "C6": 4, "C7": 4, "C8": 2, "C9": 2, "C10": 3,
    # Emotional stability (- + - + - - - - - -): 3 3 2 2 4 3 3 4 2 3 = 29
    "ES1": 3, "ES2": 3, "ES3": 4, "ES4": 2, "ES5": 2, "ES6": 3, "ES7": 3, "ES8": 2, "ES9": 4, "ES10": 3,
    # Intellect (+ - + - + - + + + +): 5 5 4 4 4 5 5 4 5 4 = 45
    "I1": 5, "I2": 1, "I3": 4, "I4": 2, "I5": 4, "I6": 1, "I7": 5, "I8": 4, "I9": 5, "I10": 4,
}  # fmt: skip
# Provisional norms (mean, sd): E 30/9, A 38/7, C 34/7, ES 29/8.5, I 39/6
IPIP_RAW = {"E": 39, "A": 45, "C": 27, "ES": 29, "I": 45}
IPIP_Z = {"E": 1.0, "A": 1.0, "C": -1.0, "ES": 0.0, "I": 1.0}


def _a(group: int, most: str, least: str) -> dict[str, object]:
    g = f"g{group:02d}"
    return {"group": g, "most": g + most, "least": g + least}


# Colour form, written by hand from the key in colours24.json:
#   groups 1-12: most red, least green; 13-18: most yellow, least blue;
#   19-21: most blue, least green;       22-24: most green, least red.
COLOUR_ANSWERS: list[dict[str, object]] = [
    _a(1, "d", "c"), _a(2, "b", "a"), _a(3, "b", "a"), _a(4, "c", "d"), _a(5, "c", "a"), _a(6, "a", "d"),
    _a(7, "b", "d"), _a(8, "a", "d"), _a(9, "a", "b"), _a(10, "d", "c"), _a(11, "d", "b"), _a(12, "d", "a"),
    _a(13, "b", "c"), _a(14, "b", "d"), _a(15, "b", "a"), _a(16, "a", "c"), _a(17, "a", "b"), _a(18, "d", "c"),
    _a(19, "d", "c"), _a(20, "c", "d"), _a(21, "d", "a"),
    _a(22, "b", "d"), _a(23, "b", "d"), _a(24, "c", "d"),
]  # fmt: skip
# most:  red 12, yellow 6, green 3, blue 3       (24)
# least: red 3, yellow 0, green 12 + 3 = 15, blue 6   (24)
# composite: red 9, yellow 6, green -12, blue -3 (sums to 0)
# dominance raw = 9 + 6 = 15 -> z = 15 / 8 = 1.875; warmth raw = 6 - 12 = -6 -> z = -0.75
COLOUR_MOST = {"red": 12, "yellow": 6, "green": 3, "blue": 3}
COLOUR_LEAST = {"red": 3, "yellow": 0, "green": 15, "blue": 6}
COLOUR_COMPOSITE = {"red": 9, "yellow": 6, "green": -12, "blue": -3}


# --- evidence builders (reliabilities as in the instrument files) ---

ALPHA = {
    Dimension.EXTRAVERSION: 0.87,
    Dimension.AGREEABLENESS: 0.82,
    Dimension.CONSCIENTIOUSNESS: 0.79,
    Dimension.EMOTIONAL_STABILITY: 0.86,
    Dimension.INTELLECT: 0.84,
}
Evidence = QuestionnaireEvidence | BehaviourEvidence


def ipip(z: dict[Dimension, float], at: datetime = NOW) -> QuestionnaireEvidence:
    obs = {d: Observation(z=z.get(d, 0.0), reliability=ALPHA[d]) for d in BIG_FIVE}
    return QuestionnaireEvidence(instrument="ipip50", instrument_version="1.0.0", observed_at=at, observations=obs)


def colours(dominance: float, warmth: float, at: datetime = NOW) -> QuestionnaireEvidence:
    obs = {
        Dimension.DOMINANCE: Observation(z=dominance, reliability=0.75),
        Dimension.WARMTH: Observation(z=warmth, reliability=0.75),
    }
    return QuestionnaireEvidence(instrument="colours24", instrument_version="1.0.0", observed_at=at, observations=obs)


def signal(tone: Colour, outcome: Outcome = Outcome.ENGAGED, at: datetime = NOW) -> BehaviourEvidence:
    return BehaviourEvidence(tone=tone, outcome=outcome, observed_at=at)
