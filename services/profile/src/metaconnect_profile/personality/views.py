"""What leaves the personality model: a narrow view for routing, a full explanation for the customer.

Responsible use is in the types:

* `RoutingView` is all the router may see: colour, secondary colour, pattern and its
  probability. It has no field for any Big Five dimension - in particular none for
  emotional stability / neuroticism (EU AI Act Art. 5: no targeting on vulnerability) -
  and forbids extra fields, so such a value cannot be smuggled in. Personality steers
  tone and channel only; price and eligibility never read this view.
* `Explanation` answers `GET /v1/profiles/{id}/personality` (GDPR Art. 15 access): every
  dimension, emotional stability included, with its uncertainty (SD, 90 % interval) and
  the precision each source contributed; the evidence counts by source, each
  questionnaire's current weight, the behavioural combination, the last change, and the
  derivation steps of the colour.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import AwareDatetime, BaseModel, ConfigDict

from metaconnect_profile.personality.colour import ColourDerivation, PatternName, derive_colour
from metaconnect_profile.personality.dimensions import AXES, AXIS_WEIGHTS, Colour, Dimension
from metaconnect_profile.personality.estimate import (
    DEFAULT_PARAMETERS,
    EvidenceSummary,
    ModelParameters,
    PersonalityEstimate,
)


class RoutingView(BaseModel):
    """The only personality data the router sees (no trait values, never emotional stability)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    colour: Colour | None
    secondary: Colour | None
    pattern: PatternName
    probability: float | None
    as_of: AwareDatetime


class DimensionValue(BaseModel):
    """One dimension's posterior as people read it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dimension: Dimension
    mean: float
    sd: float
    interval_90: tuple[float, float]
    precision_by_source: dict[str, float]


class Explanation(BaseModel):
    """The full, explained estimate for the data subject and for support."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    as_of: AwareDatetime
    dimensions: tuple[DimensionValue, ...]
    evidence: EvidenceSummary
    colour: ColourDerivation
    derivation: tuple[str, ...]


def routing_view(estimate: PersonalityEstimate) -> RoutingView:
    """The router's view of `estimate`: the derived colour and nothing else."""
    c = derive_colour(estimate)
    return RoutingView(
        colour=c.colour, secondary=c.secondary, pattern=c.pattern, probability=c.probability, as_of=estimate.as_of
    )


def _formula(axis: Dimension) -> str:
    weights = AXIS_WEIGHTS[axis]
    terms = " ".join(f"{'+' if w >= 0 else '-'} {abs(w):g} {d.value}" for d, w in weights.items()).lstrip("+ ")
    residual = 1.0 - sum(w * w for w in weights.values())
    return f"{terms}, residual variance {residual:.2f}"


def _days(t: timedelta) -> str:
    return f"{t / timedelta(days=1):g} days"


def explain(estimate: PersonalityEstimate, params: ModelParameters = DEFAULT_PARAMETERS) -> Explanation:
    """Every dimension with its uncertainty, the evidence behind it, and how the colour follows."""
    ev = estimate.evidence
    b = ev.behaviour
    steps = [
        "every dimension starts at the prior N(0, 1) on a z scale",
        "a questionnaire scale with reliability alpha observes z = sqrt(alpha) T + noise: it adds precision "
        f"alpha / (1 - alpha) at z / sqrt(alpha), discounted by 0.5 ** (age / {_days(params.questionnaire_half_life)})",
    ]
    steps += [
        f"{w.instrument} of {w.observed_at.isoformat()}: weight {w.weight:.3f} after {w.age_days:.0f} days"
        for w in ev.questionnaire_weights
    ]
    beta = params.tone_slope
    steps += [
        *(f"{axis.value} starts from what the Big Five imply: {_formula(axis)}" for axis in AXES),
        "the colour form adds its precision to dominance and warmth",
        f"behaviour is weighed against the customer's baseline engagement rate b on the channel (a matched tone "
        f"assumed to lift the odds {params.matched_lift:g}x, beta {beta:.3f}): an engaged message scores "
        f"+beta (1 - b), an ignored one -beta b (at b = 5 %: +{beta * 0.95:.3f} / -{beta * 0.05:.4f}), "
        "each with precision beta^2 b (1 - b)",
        f"behaviour: {b.engaged} engaged and {b.ignored} ignored messages, precision {b.precision_decayed:.4f} "
        f"after decay (half-life {_days(params.behaviour_half_life)}), {b.precision_discounted:.4f} after the "
        f"correlation discount, {b.precision:.4f} used (cap {params.behaviour_precision_cap})"
        + (" - capped" if b.capped else ""),
        "behaviour moves each axis by its score / the axis' total precision (at most "
        f"{params.behaviour_shift_cap:g} z), relative to the other evidence: "
        + ", ".join(f"{axis.value} score {lean:+.4f}" for axis, lean in b.lean.items()),
    ]
    if ev.future_records:
        steps.append(f"{ev.future_records} record(s) observed after {estimate.as_of.isoformat()} left out")
    colour = derive_colour(estimate)
    return Explanation(
        as_of=estimate.as_of,
        dimensions=tuple(
            DimensionValue(
                dimension=d,
                mean=p.mean,
                sd=p.sd,
                interval_90=p.interval_90,
                precision_by_source=p.precision_by_source,
            )
            for d, p in estimate.dimensions.items()
        ),
        evidence=ev,
        colour=colour,
        derivation=(*steps, *colour.steps),
    )
