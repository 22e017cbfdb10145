from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from metaconnect_ingest.keys.ratelimit import TokenBucket


def test_bucket_grants_burst_then_waits() -> None:
    bucket = TokenBucket(rate_per_s=2.0, burst=4, updated=0.0)
    assert [bucket.take(1, now=0.0) for _ in range(4)] == [0.0] * 4
    assert bucket.take(1, now=0.0) == 0.5
    assert bucket.take(1, now=0.5) == 0.0


def test_more_than_burst_never_fits() -> None:
    assert math.isinf(TokenBucket(rate_per_s=10, burst=5, updated=0.0).take(6, now=0.0))


@given(st.lists(st.tuples(st.integers(1, 5), st.floats(0, 2)), max_size=50))
def test_never_grants_more_than_rate_allows(requests: list[tuple[int, float]]) -> None:
    bucket = TokenBucket(rate_per_s=3.0, burst=5, updated=0.0)
    now, granted = 0.0, 0
    for n, dt in requests:
        now += dt
        if bucket.take(n, now=now) == 0.0:
            granted += n
    assert granted <= 5 + 3.0 * now + 1e-9
