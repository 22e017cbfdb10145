"""`python -m metaconnect_delivery`: serve the delivery API."""

from __future__ import annotations

from metaconnect_common.service import serve
from metaconnect_delivery.config import DeliverySettings


def main() -> None:
    settings = DeliverySettings()
    serve("metaconnect_delivery.app:create_app", host=settings.host, port=settings.port)


if __name__ == "__main__":
    main()
