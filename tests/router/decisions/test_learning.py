"""The router learns each personality pattern's tone on a simulated population, and the holdout shows the uplift.

IDEALISED: the router is handed each customer's true colour as the pattern (4 error-free patterns,
nobody unknown). These figures show the ranking rule works when labels are right; they do not
carry over to production. On realistic customers (questionnaires for some, 24 patterns plus
`unknown`, ~21 % of labels in the wrong quadrant: tests/cli/test_learning.py, docs/router.md)
no policy reaches 80 % within 120,000 events (matched share 0.36 over the run, ceiling 0.79).

Population: CUSTOMERS customers, the four colours alike, HOLDOUT_SHARE held out; engagement
BASE_RATE, times MATCHED_LIFT for the customer's best tone (RESEARCH.md: 1.1-1.5x). Twenty arms
learn (4 patterns x 5 tones on push); `ranking.rank` explores at most 0.2, of which every tone
keeps a floor of 0.01.

Expected figures once learned: a treated customer gets the best tone with probability m ~ 0.9
(0.8 while Thompson sampling is unsure of the greedy arm, up to 0.96 once it is sure), so
engages at BASE_RATE x (1 + 0.4 m) ~ 0.068 against the holdout's 0.05: treated / holdout ~ 1.36
(1.32 at m = 0.8). Over the post-learning
window (~45,000 treated and ~3,500-6,000 holdout events) the log of that ratio has a standard
deviation of ~0.07, so the asserted 1.1 lies ~3 deviations below the expected 1.36.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

import numpy as np
import pytest

from metaconnect_common.schemas.profiled import Colour
from metaconnect_router.routes.spec import Tone
from metaconnect_router.simulation import (
    Learner,
    Outcome,
    ResponseModel,
    best_tone,
    demo_route,
    event_for,
    match_share,
    population,
    profile_of,
    run,
    uplift,
)

SEED: Final = 0
CUSTOMERS: Final = 400
HOLDOUT_SHARE: Final = 0.1
BASE_RATE: Final = 0.05
MATCHED_LIFT: Final = 1.4
# The stated number of events after which >= 80 % of treated decisions use the best tone
# (~15,750 treated decisions per pattern). Measured on seeds 0-39 with 150,000 events, the share
# over the EVENTS_AFTER that follow is >= 0.8 for 40 of 40 seeds (lowest 0.90), and in every
# 2,000-decision block for 40 of 40 (lowest 0.85). After 50,000 events: 40 and 37 of 40; after
# 30,000: 38 and 31. The slowest are patterns whose best tone was unlucky early; the floor keeps
# sending it (0.01 of its pattern's decisions) until its posterior catches up.
# Without floor and challengers (cap x Thompson q alone) it was 36 and 28 after 30,000, and
# 39 and 39 even after 100,000: seed 19 kept a pattern at 0.01 through 150,000 events.
EVENTS_TO_LEARN: Final = 70_000
# After learning: enough holdout events for the uplift to stand ~3 deviations clear of 1.1.
EVENTS_AFTER: Final = 50_000
BLOCK: Final = 2_000
MIN_MATCH_SHARE: Final = 0.8
MIN_UPLIFT: Final = 1.1
NOW: Final = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)


def simulate(
    seed: int, events: int, customers: int = CUSTOMERS, colours: dict[Colour, float] | None = None
) -> list[Outcome]:
    rng = np.random.default_rng(seed)
    people = population(customers, rng, holdout_share=HOLDOUT_SHARE, colour_weights=colours)
    response = ResponseModel(base_rate=BASE_RATE, matched_lift=MATCHED_LIFT)
    outcomes, _ = run(people, demo_route(), events=events, rng=rng, now=NOW, response=response)
    assert len(outcomes) == events  # every event of this population gets a decision
    return outcomes


def test_after_the_stated_events_the_router_picks_the_best_tone_and_the_holdout_shows_the_uplift() -> None:
    """After EVENTS_TO_LEARN (70,000) events, >= 80 % of treated decisions use the customer's best
    tone, overall and in every block of 2,000, and treated customers engage > 1.1x the holdout."""
    outcomes = simulate(SEED, EVENTS_TO_LEARN + EVENTS_AFTER)
    learned = outcomes[EVENTS_TO_LEARN:]
    treated = [o for o in learned if not o.holdout]
    held = [o for o in learned if o.holdout]

    assert held
    assert all(o.tone is Tone.NEUTRAL for o in held)
    assert match_share(learned) >= MIN_MATCH_SHARE
    blocks = [match_share(treated[i : i + BLOCK]) for i in range(0, len(treated) - BLOCK + 1, BLOCK)]
    assert min(blocks) >= MIN_MATCH_SHARE, blocks

    treated_rate, holdout_rate = uplift(learned)
    assert treated_rate / holdout_rate > MIN_UPLIFT, (treated_rate, holdout_rate)


# Robustness on several seeds, at a size that keeps the test short: 100 customers of two colours,
# so two patterns learn five tones each (~9,000 treated decisions per pattern by ROBUST_LEARN).
# Measured on seeds 0-39: after ROBUST_LEARN events the share over the next ROBUST_WINDOW is
# >= 0.8 for 37 of 40 (seeds 5, 6 and 32 recover later; seed 6, whose best red tone got 1 engaged
# of its first 91 sends, by ~65,000 events). Without floor and challengers also 37 of 40, but the
# failing patterns stay starved (seeds 4 and 26 at <= 0.02 after 30,000 events): seed 4 is here.
ROBUST_SEEDS: Final = (1, 2, 3, 4)
ROBUST_CUSTOMERS: Final = 100
ROBUST_COLOURS: Final = {Colour.RED: 1.0, Colour.BLUE: 1.0}
ROBUST_LEARN: Final = 20_000
ROBUST_WINDOW: Final = 5_000
MIN_PATTERN_SHARE: Final = 0.7  # a starved pattern sits below 0.1


@pytest.mark.parametrize("seed", ROBUST_SEEDS)
def test_learning_does_not_depend_on_a_lucky_seed(seed: int) -> None:
    outcomes = simulate(seed, ROBUST_LEARN + ROBUST_WINDOW, ROBUST_CUSTOMERS, ROBUST_COLOURS)
    learned = outcomes[ROBUST_LEARN:]
    assert match_share(learned) >= MIN_MATCH_SHARE
    for colour in ROBUST_COLOURS:
        share = match_share(o for o in learned if o.customer.colour is colour)
        assert share >= MIN_PATTERN_SHARE, (colour, share)


def test_population_and_run_are_deterministic_for_a_seed() -> None:
    first = population(50, np.random.default_rng(7))
    assert first == population(50, np.random.default_rng(7))
    assert first != population(50, np.random.default_rng(8))

    def replay(seed: int) -> tuple[list[Outcome], Learner]:
        rng = np.random.default_rng(seed)
        return run(population(50, rng), demo_route(), events=300, rng=rng, now=NOW)

    outcomes, learner = replay(7)
    assert (outcomes, learner) == replay(7)
    assert outcomes != replay(8)[0]


def test_a_customer_engages_more_with_their_colour_tone_and_the_profile_reports_it() -> None:
    customer = population(1, np.random.default_rng(3))[0]
    response = ResponseModel(base_rate=BASE_RATE, matched_lift=MATCHED_LIFT)
    best = best_tone(customer)
    assert best.value == customer.colour.value == customer.pattern
    assert response.probability(customer, best) == BASE_RATE * MATCHED_LIFT
    assert response.probability(customer, Tone.NEUTRAL) == BASE_RATE

    known = profile_of(customer)
    assert known.personality.pattern == customer.pattern
    assert known.personality.colour is customer.colour
    assert profile_of(customer, known=False).personality.pattern is None
    assert set(demo_route().messages[0].variants) == set(Tone)
    assert event_for(customer, NOW).event_id == event_for(customer, NOW).event_id
