"""`python -m metaconnect_ingest`: serve the ingest API."""

from __future__ import annotations

import uvicorn

from metaconnect_ingest.config import IngestSettings


def main() -> None:
    settings = IngestSettings()
    uvicorn.run(
        "metaconnect_ingest.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        log_config=None,
        # Paths may hold identifiers (`/v1/profiles/email:...`); the telemetry middleware
        # records route templates instead.
        access_log=False,
        proxy_headers=True,
        timeout_graceful_shutdown=20,
    )


if __name__ == "__main__":
    main()
