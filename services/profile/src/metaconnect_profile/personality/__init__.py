"""The personality model: instruments, scoring, posterior estimate, colour derivation.

Pure code: plain functions over plain data (frozen pydantic models), no I/O beyond
reading the packaged instrument files. The profile service stores evidence rows and
calls these functions; each module's docstring documents its part in full.

Flow:

    questionnaire(name, lang)                -> what the respondent sees (no scoring key)
    score_questionnaire(name, answers)       -> RatingResult | ColourResult, or AnswerSetError
    result.evidence(observed_at)             -> QuestionnaireEvidence   (store it)
    BehaviourEvidence(tone, outcome, at, b)  -> one engagement signal   (store it)
    estimate(evidence, now)                  -> PersonalityEstimate     (recompute any time)
    derive_colour(estimate)                  -> ColourDerivation        (primary, secondary, pattern, P)
    routing_view(estimate)                   -> RoutingView             (all the router may see)
    explain(estimate)                        -> Explanation             (GET /v1/profiles/{id}/personality)

Modules:

* `dimensions` - seven dimensions on a z scale: the Big Five (extraversion,
  agreeableness, conscientiousness, emotional_stability, intellect) and the two
  circumplex/DISC axes (dominance, warmth); the four colours as quadrants of the axes;
  the documented Big Five -> axes weights (DeYoung et al. 2013).
* `instruments` - the IPIP-50 (public domain) and Metaconnect's own 24-group colour form
  as validated, cached data files in English and German; presentation per language.
* `scoring` - raw scores, z scores and the evidence record; malformed answer sets raise
  `AnswerSetError` carrying `(field, rule, message)` problems.
* `evidence` - the records the service stores.
* `estimate` - Gaussian posteriors in precision form: questionnaires weighted by
  reliability (mean sqrt(alpha) z, variance 1 - alpha from the prior), behaviour as a weak,
  correlation-discounted, capped, decaying likelihood ratio against the customer's baseline
  engagement rate; `estimate(evidence, now)` is pure.
* `colour` - `derive_colour`: quadrant probabilities under the posterior, a 0.6
  threshold below which the colour is `unknown`, 24 named patterns.
* `views` - `RoutingView` (structurally without emotional stability or any trait value)
  and `Explanation` (every value with its uncertainty and its evidence).

Responsible use: questionnaire and behavioural evidence are separate records for
separate consents; an objection deletes the behavioural rows and the estimate is simply
recomputed; erasure deletes all rows. Emotional stability is estimated (the customer may
see it) but can never reach routing. Personality steers tone and channel, never price
or eligibility. Too little evidence is `unknown`, never a guess.
"""

from metaconnect_profile.personality.colour import (
    PATTERN_NAMES,
    THRESHOLD,
    ColourDerivation,
    PatternName,
    derive_colour,
    quadrant_probabilities,
)
from metaconnect_profile.personality.dimensions import AXES, AXIS_WEIGHTS, BIG_FIVE, Colour, Dimension, Language
from metaconnect_profile.personality.estimate import (
    DEFAULT_PARAMETERS,
    ModelParameters,
    PersonalityEstimate,
    Posterior,
    estimate,
)
from metaconnect_profile.personality.evidence import (
    BehaviourEvidence,
    Evidence,
    Observation,
    Outcome,
    QuestionnaireEvidence,
)
from metaconnect_profile.personality.instruments import (
    INSTRUMENT_NAMES,
    ForcedChoiceQuestionnaire,
    InstrumentError,
    Questionnaire,
    RatingQuestionnaire,
    UnknownInstrumentError,
    load_instrument,
    questionnaire,
)
from metaconnect_profile.personality.scoring import (
    AnswerProblem,
    AnswerSetError,
    ColourResult,
    RatingResult,
    score_colours24,
    score_ipip50,
    score_questionnaire,
)
from metaconnect_profile.personality.views import Explanation, RoutingView, explain, routing_view

__all__ = [
    "AXES",
    "AXIS_WEIGHTS",
    "BIG_FIVE",
    "DEFAULT_PARAMETERS",
    "INSTRUMENT_NAMES",
    "PATTERN_NAMES",
    "THRESHOLD",
    "AnswerProblem",
    "AnswerSetError",
    "BehaviourEvidence",
    "Colour",
    "ColourDerivation",
    "ColourResult",
    "Dimension",
    "Evidence",
    "Explanation",
    "ForcedChoiceQuestionnaire",
    "InstrumentError",
    "Language",
    "ModelParameters",
    "Observation",
    "Outcome",
    "PatternName",
    "PersonalityEstimate",
    "Posterior",
    "Questionnaire",
    "QuestionnaireEvidence",
    "RatingQuestionnaire",
    "RatingResult",
    "RoutingView",
    "UnknownInstrumentError",
    "derive_colour",
    "estimate",
    "explain",
    "load_instrument",
    "quadrant_probabilities",
    "questionnaire",
    "routing_view",
    "score_colours24",
    "score_ipip50",
    "score_questionnaire",
]
