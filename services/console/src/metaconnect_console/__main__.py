"""`python -m metaconnect_console [serve | migrate]`: serve the console (the default) or apply its
migrations (see `metaconnect_common.service.main`)."""

from __future__ import annotations

from metaconnect_common.service import main as service_main
from metaconnect_console.config import ConsoleSettings


def main() -> None:
    service_main("metaconnect_console", ConsoleSettings)


if __name__ == "__main__":
    main()
