"""The questionnaire posterior is the one its stated model implies (z = sqrt(alpha) T + e, e ~ N(0, 1 - alpha)):
checked against Gaussian conditioning in numpy and against a Monte Carlo of the generative model."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metaconnect_profile.personality.colour import derive_colour, quadrant_probabilities
from metaconnect_profile.personality.dimensions import COLOUR_SIGNS, Colour, Dimension
from metaconnect_profile.personality.estimate import estimate
from metaconnect_profile.personality.evidence import Observation, QuestionnaireEvidence
from tests.profile.personality.answers import NOW, colours


def conditioned(alphas: list[float], zs: list[float]) -> tuple[float, float]:
    """E[T | z] and Var[T | z] for T ~ N(0, 1), z_k = sqrt(alpha_k) T + e_k, by joint-normal conditioning."""
    loadings = np.sqrt(np.array(alphas))
    cov_zz = np.outer(loadings, loadings) + np.diag(1.0 - np.array(alphas))
    gain = np.linalg.solve(cov_zz, loadings)
    return float(gain @ np.array(zs)), float(1.0 - loadings @ gain)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(0.5, 0.95), st.floats(-3, 3)), min_size=1, max_size=3))
def test_posterior_equals_gaussian_conditioning(forms: list[tuple[float, float]]) -> None:
    rows = [
        QuestionnaireEvidence(
            instrument=f"x{i}",
            instrument_version="1",
            observed_at=NOW,
            observations={Dimension.INTELLECT: Observation(z=z, reliability=alpha)},
        )
        for i, (alpha, z) in enumerate(forms)
    ]
    post = estimate(rows, NOW)[Dimension.INTELLECT]
    mean, variance = conditioned([a for a, _ in forms], [z for _, z in forms])
    assert post.mean == pytest.approx(mean, abs=1e-9)
    assert post.variance == pytest.approx(variance, abs=1e-9)


def test_colour_probabilities_are_calibrated_under_the_generative_model() -> None:
    # 20,000 customers drawn from the model: true axes T ~ N(0, 1), colour form z = sqrt(.75) T + e.
    # Among customers whose derived primary has probability P, a share P must truly be of that colour.
    rng = np.random.default_rng(20261215)
    n, alpha = 20_000, 0.75
    truth = rng.standard_normal((n, 2))
    observed = math.sqrt(alpha) * truth + math.sqrt(1 - alpha) * rng.standard_normal((n, 2))
    predicted, hit = [], []
    for (zd, zw), (td, tw) in zip(observed, truth, strict=True):
        est = estimate([colours(float(zd), float(zw))], NOW)
        probs = quadrant_probabilities(est[Dimension.DOMINANCE], est[Dimension.WARMTH])
        primary = max(Colour, key=lambda c: probs[c])
        predicted.append(probs[primary])
        hit.append(COLOUR_SIGNS[primary] == (1 if td > 0 else -1, 1 if tw > 0 else -1))
    p, h = np.array(predicted), np.array(hit, dtype=float)
    print(f"mean predicted {p.mean():.4f}, observed {h.mean():.4f}")  # noqa: T201  # shown with `pytest -s`
    assert h.mean() == pytest.approx(p.mean(), abs=0.01)  # se about .003
    for lo, hi in ((0.25, 0.5), (0.5, 0.7), (0.7, 0.9), (0.9, 1.0)):
        band = (p >= lo) & (p < hi)
        figure = f"P in [{lo}, {hi}): predicted {p[band].mean():.3f}, observed {h[band].mean():.3f}, n {band.sum()}"
        print(figure)  # noqa: T201
        se = math.sqrt(p[band].mean() * (1 - p[band].mean()) / band.sum())
        assert h[band].mean() == pytest.approx(p[band].mean(), abs=4 * se + 0.005)


def test_the_colour_probability_of_a_known_case() -> None:
    # Colour form z (1, -1), alpha .75: each axis N(+-sqrt(.75), .25) -> P(red) = Phi(sqrt 3)^2 = .9185
    # (with alpha z the mean would be .75 and P(red) = Phi(1.5)^2 = .8709: 4.8 points under-confident).
    derived = derive_colour(estimate([colours(1.0, -1.0)], NOW))
    phi = 0.5 * math.erfc(-math.sqrt(3.0) / math.sqrt(2.0))
    assert derived.probability == pytest.approx(phi**2)
    assert derived.probability == pytest.approx(0.9185, abs=1e-4)
