"""The delivery service's schema, migrated once per session on the real PostgreSQL."""

from __future__ import annotations

import pytest

from metaconnect_common.migrations import upgrade


@pytest.fixture(scope="session")
def delivery_migrated(database_url: str) -> str:
    upgrade("metaconnect_delivery", database_url)
    return database_url
