"""The progress report as one self-contained, print-friendly HTML page: its own stylesheet inside,
allowed by its hash, and no script at all (the console's CSP, plus that one stylesheet)."""

from __future__ import annotations

import base64
import hashlib
from typing import Final

from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from metaconnect_console.progress.report import ProgressReport
from metaconnect_console.security import HEADERS

SHOWN: Final = {"stays": 12, "walks": 8, "milestones": 14}
"""At most this many of each on the page (the newest), so it prints on one A4 page; the customer page has all."""

# The export's own stylesheet, inside the file so it stands alone; the console's CSP allows it by hash.
PRINT_CSS: Final = (
    "@page{size:A4;margin:14mm}"
    "body{font:10pt/1.4 system-ui,sans-serif;color:#111;margin:0 auto;max-width:180mm}"
    "h1{font-size:15pt;margin:0 0 2mm}h2{font-size:11.5pt;margin:4mm 0 1mm;border-bottom:1px solid #999}"
    "p,ul,ol{margin:0 0 1.5mm}ul,ol{padding-left:5mm}li{margin:0}"
    "table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:0.6mm 2mm 0.6mm 0;vertical-align:top}"
    "th{font-weight:600;border-bottom:1px solid #bbb}.hint{color:#444;font-size:9pt}"
)
PRINT_CSS_HASH: Final = base64.b64encode(hashlib.sha256(PRINT_CSS.encode()).digest()).decode()
EXPORT_CSP: Final = HEADERS["Content-Security-Policy"].replace(
    "style-src 'self'", f"style-src 'self' 'sha256-{PRINT_CSS_HASH}'"
)
"""The console's policy (no script but its own files, and the export has none), plus this one stylesheet."""
FILE_CSP: Final = (
    f"default-src 'none'; style-src 'sha256-{PRINT_CSS_HASH}'; img-src data:; base-uri 'none'; form-action 'none'"
)
"""The same, inside the file: opened from a disk it still runs nothing."""


def export_html(templates: Jinja2Templates, report: ProgressReport) -> str:
    return templates.get_template("progress/export.html").render(
        report=report, css=Markup(PRINT_CSS), csp=FILE_CSP, shown=SHOWN
    )
