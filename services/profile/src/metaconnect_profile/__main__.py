"""`python -m metaconnect_profile`: serve the profile API and run its consumer."""

from __future__ import annotations

import uvicorn

from metaconnect_profile.config import ProfileSettings


def main() -> None:
    settings = ProfileSettings()
    uvicorn.run(
        "metaconnect_profile.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        log_config=None,
        # Paths may hold identifiers (`/v1/profiles/email:...`); the telemetry middleware
        # records route templates instead.
        access_log=False,
        timeout_graceful_shutdown=30,
    )


if __name__ == "__main__":
    main()
