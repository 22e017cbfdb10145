"""The local Kafka broker's pure parts."""

from __future__ import annotations

import base64
from collections.abc import Iterator

from hypothesis import given
from hypothesis import strategies as st

from metaconnect_cli.local.kafka import new_cluster_id


@given(st.lists(st.binary(min_size=16, max_size=16), min_size=1, max_size=5))
def test_a_cluster_id_never_reads_as_an_option(draws: list[bytes]) -> None:
    # Bytes that encode to a leading `-` (0xf8..0xfb) are drawn again, then the last draw is taken.
    leading_dash = [b"\xf8" + d[1:] for d in draws]
    queue: Iterator[bytes] = iter([*leading_dash, b"\x00" * 16])
    cluster_id = new_cluster_id(lambda: next(queue))
    assert not cluster_id.startswith("-")
    assert base64.urlsafe_b64decode(cluster_id + "==") == b"\x00" * 16
    assert len(new_cluster_id()) == 22
