"""The services `metaconnect dev` runs and `metaconnect db upgrade` migrates: one table, one line each."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy.engine import make_url

from metaconnect_common.migrations import upgrade


@dataclass(frozen=True)
class ServiceSpec:
    """One service: its package (run as `python -m <package>`), default port, migrations."""

    name: str
    package: str
    port: int
    migrations: bool = True

    @property
    def env_prefix(self) -> str:
        return f"MC_{self.name.upper()}_"


# Every service, in start order. A new service adds one line; `db upgrade` and the dev
# stack both read this table.
SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("ingest", "metaconnect_ingest", 8001),
    ServiceSpec("profile", "metaconnect_profile", 8002),
    ServiceSpec("router", "metaconnect_router", 8003),
    ServiceSpec("delivery", "metaconnect_delivery", 8004),
    ServiceSpec("console", "metaconnect_console", 8000),
)


def service_named(name: str) -> ServiceSpec:
    for spec in SERVICES:
        if spec.name == name:
            return spec
    raise KeyError(name)


def upgrade_databases(url: str, services: Iterable[ServiceSpec], *, say: Callable[[str], None] = print) -> None:
    """Run each service's Alembic migrations up to head (each service owns its schema)."""
    shown = make_url(url).render_as_string(hide_password=True)
    for spec in services:
        if spec.migrations:
            say(f"Migrating {spec.name} at {shown}")
            upgrade(spec.package, url)
