"""`python -m metaconnect_delivery [serve | migrate | topics]`: serve the delivery service (the default),
apply its migrations, or create the topics (see `metaconnect_common.service.main`)."""

from __future__ import annotations

from metaconnect_common.service import main as service_main
from metaconnect_delivery.config import DeliverySettings


def main() -> None:
    service_main("metaconnect_delivery", DeliverySettings)


if __name__ == "__main__":
    main()
