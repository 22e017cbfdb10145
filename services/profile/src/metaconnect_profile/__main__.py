"""`python -m metaconnect_profile`: serve the profile API and run its consumer."""

from __future__ import annotations

from metaconnect_common.service import serve
from metaconnect_profile.config import ProfileSettings


def main() -> None:
    settings = ProfileSettings()
    serve("metaconnect_profile.app:create_app", host=settings.host, port=settings.port)


if __name__ == "__main__":
    main()
