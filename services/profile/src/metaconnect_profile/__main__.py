"""`python -m metaconnect_profile [serve | migrate | topics]`: serve the profile service (the default),
apply its migrations, or create the topics (see `metaconnect_common.service.main`)."""

from __future__ import annotations

from metaconnect_common.service import main as service_main
from metaconnect_profile.config import ProfileSettings


def main() -> None:
    service_main("metaconnect_profile", ProfileSettings)


if __name__ == "__main__":
    main()
