"""The console's main pages as PNGs in docs/images/ (run through `scripts/screenshots`)."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
from playwright.sync_api import Page, sync_playwright

from metaconnect_cli.dev import DevStack
from metaconnect_cli.local._proc import free_port

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "routes"
CUSTOMER = {"customer_id": "c-1042", "email": "ada@example.com", "device_token": "ada-phone-1"}

# name, path, what to wait for before the picture (a CSS selector)
PAGES: list[tuple[str, str, str]] = [
    ("start", "/", "main h1"),
    ("routes", "/routes", "main table"),
    ("route", "/routes/price-drops", "article.preview"),
    ("route-edit", "/routes/price-drops/edit", "form"),
    ("customer", "/customers?q=ada%40example.com", "#timeline"),
    ("reports", "/reports", "main svg"),
    ("api-keys", "/admin/keys", "main table"),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--width", type=int, default=1280)
    opts = parser.parse_args()
    opts.out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="mc-screenshots-", dir=ROOT / ".metaconnect"))
    names = ["ingest", "profile", "router", "delivery", "console", "sandbox", "sandbox-smtp"]
    stack = DevStack(
        data_dir=workdir / "data",
        state_file=workdir / "dev.json",
        ports={name: free_port() for name in names},
        routes=EXAMPLES,
        say=_say,
    )
    try:
        state = stack.start()
        assert state.api_key
        assert state.console_sign_in_url
        _traffic(workdir / "dev.json", state.ingest_url, state.api_key)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": opts.width, "height": 800})
            page.goto(state.console_sign_in_url)
            console = state.services["console"]
            for name, path, ready in PAGES:
                _take(page, f"{console}{path}", ready, opts.out / f"console-{name}.png")
            browser.close()
    finally:
        stack.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _traffic(state_file: Path, ingest_url: str, api_key: str) -> None:
    """A sign-up and an order for Ada, then demo traffic for the reports."""
    headers = {"Authorization": f"Bearer {api_key}"}
    for event in (
        {"customer": CUSTOMER, "type": "customer.created", "channel": "web"},
        {
            "customer": CUSTOMER,
            "type": "order.placed",
            "channel": "web",
            "properties": {"order_id": "A-1", "total": 42},
        },
    ):
        httpx.post(f"{ingest_url}/v1/events", json=event, headers=headers, timeout=10).raise_for_status()
    command = [sys.executable, "-m", "metaconnect_cli.main", "demo", "traffic", "--state-file", str(state_file)]
    command += ["--customers", "40", "--events", "300", "--rate", "60", "--settle", "5", "--timeout", "180"]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def _take(page: Page, url: str, ready: str, out: Path) -> None:
    page.goto(url)
    page.locator(ready).first.wait_for()
    page.screenshot(path=str(out), full_page=True)
    _say(f"wrote {out.relative_to(ROOT)}")


def _say(line: str) -> None:
    sys.stderr.write(f"{line}\n")


if __name__ == "__main__":
    raise SystemExit(main())
