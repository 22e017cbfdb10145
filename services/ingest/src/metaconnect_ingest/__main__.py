"""`python -m metaconnect_ingest [serve | migrate | topics]`: serve the ingest service (the default),
apply its migrations, or create the topics (see `metaconnect_common.service.main`)."""

from __future__ import annotations

from metaconnect_common.service import main as service_main
from metaconnect_ingest.config import IngestSettings


def main() -> None:
    service_main("metaconnect_ingest", IngestSettings)


if __name__ == "__main__":
    main()
