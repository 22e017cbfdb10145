"""`python -m metaconnect_router`: serve the router API."""

from __future__ import annotations

from metaconnect_common.service import serve
from metaconnect_router.config import RouterSettings


def main() -> None:
    settings = RouterSettings()
    serve("metaconnect_router.app:create_app", host=settings.host, port=settings.port)


if __name__ == "__main__":
    main()
