"""`python -m metaconnect_router [serve | migrate | topics]`: serve the router service (the default),
apply its migrations, or create the topics (see `metaconnect_common.service.main`)."""

from __future__ import annotations

from metaconnect_common.service import main as service_main
from metaconnect_router.config import RouterSettings


def main() -> None:
    service_main("metaconnect_router", RouterSettings)


if __name__ == "__main__":
    main()
