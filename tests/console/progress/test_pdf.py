"""The progress report as a one-page PDF: read back with pypdf, one page, the stages in it."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from pypdf import PdfReader

from metaconnect_console.progress.pdf import printable, progress_pdf
from metaconnect_console.progress.report import progress_report
from tests.console.progress.test_timeline import CHANGES, SPEC, T0, WALK, change

PROFILE: dict[str, Any] = {
    "id": "5a4b0f4e-0000-4000-8000-000000000001",
    "lifecycle_stage": "sales",
    "reachability": {"identifiers": [{"kind": "phone", "value": "+441234567890"}]},
}


def text_of(pdf: bytes) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(pdf))
    return len(reader.pages), "\n".join(page.extract_text() for page in reader.pages)


def test_the_pdf_is_one_page_with_the_stages_what_comes_next_and_masked_identities() -> None:
    report = progress_report(PROFILE, CHANGES, [WALK], {("onboarding", 2): SPEC}, T0 + timedelta(days=5))
    pdf = progress_pdf(report)
    assert pdf.startswith(b"%PDF")
    pages, text = text_of(pdf)
    assert pages == 1
    for stage in ("lead", "qualified", "sales"):
        assert f"{stage}: entered" in text
    assert "onboarding: at step wait-visit, waiting for visit.booked until 2026-12-12 09:00 UTC" in text
    # The bullets print as bullets; pypdf reads WinAnsi's bullet at 0x7f back as that code.
    assert re.search(r"phone \+44[•\x7f]{5}7890", text), text
    assert "+441234567890" not in text


def test_a_long_history_still_fits_one_page_and_says_what_is_left_out() -> None:
    history = [change(None, "lead", 0, "app.opened")]
    history += [change(f"s{i}", f"s{i + 1}", i + 1, "lifecycle.moved", 3600) for i in range(300)]
    report = progress_report(PROFILE, history, [WALK] * 10, {("onboarding", 2): SPEC}, T0 + timedelta(days=30))
    pages, text = text_of(progress_pdf(report))
    assert pages == 1
    assert "more lines: see the customer page." in text


def test_text_outside_the_standard_fonts_prints_as_a_question_mark() -> None:
    assert printable("Zoë • naïve ✓ 漢") == "Zoë • naïve ? ?"
    report = progress_report(
        {**PROFILE, "lifecycle_stage": "漢字"},
        [change(None, "漢字", 0, "x")],
        [],
        {},
        datetime(2026, 12, 2, tzinfo=UTC),
    )
    pages, text = text_of(progress_pdf(report))
    assert pages == 1
    assert "Stage now: ??" in text
