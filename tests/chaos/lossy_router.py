"""The router with a planted defect, for the chaos audit's own test: a handler that skips the work
of some records but lets the runner commit their offsets, as a lost commit would. Every
`wishlist.added` whose event id ends in 0-3 (a quarter) is acknowledged and never decided.

Run as `python -m tests.chaos.lossy_router` (the repository on `PYTHONPATH`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from metaconnect_common.schemas.profiled import Profiled
from metaconnect_router.__main__ import main
from metaconnect_router.decisions.service import DecisionService

_apply_all = DecisionService.apply_all


def dropped(profiled: Profiled) -> bool:
    interaction = profiled.interaction
    return interaction is not None and interaction.type == "wishlist.added" and interaction.event_id.hex[-1] in "0123"


async def lossy_apply_all(
    self: DecisionService, records: Sequence[tuple[Profiled, str | None]], *, now: datetime
) -> list[uuid.UUID | None]:
    kept = [(profiled, trace) for profiled, trace in records if not dropped(profiled)]
    return await _apply_all(self, kept, now=now) if kept else []


DecisionService.apply_all = lossy_apply_all  # type: ignore[method-assign]

if __name__ == "__main__":
    main()
