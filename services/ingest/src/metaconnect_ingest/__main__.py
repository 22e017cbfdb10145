"""`python -m metaconnect_ingest`: serve the ingest API."""

from __future__ import annotations

from metaconnect_common.service import serve
from metaconnect_ingest.config import IngestSettings


def main() -> None:
    settings = IngestSettings()
    serve("metaconnect_ingest.app:create_app", host=settings.host, port=settings.port)


if __name__ == "__main__":
    main()
