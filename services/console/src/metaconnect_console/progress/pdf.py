"""A customer's progress report as a one-page PDF for the customer's file (pure: report in, bytes out).

Drawn with ReportLab's canvas (BSD licence), text only: nothing is interpreted as markup, so a
stage or journey name is printed as written. The page holds what fits; what does not (a long
history) is cut with a line saying how much more the console shows, so it is always one page.
The standard PDF fonts know Windows-1252 only: any other character prints as `?`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Final, Literal

from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import simpleSplit
from reportlab.pdfgen.canvas import Canvas

from metaconnect_console.progress.report import ProgressReport
from metaconnect_console.progress.timeline import shown_time

MARGIN: Final = 48.0
SIZES: Final = {"title": 16.0, "heading": 12.0, "text": 9.5, "hint": 8.5}
LEADING: Final = 1.35
FONTS: Final = {
    "title": "Helvetica-Bold",
    "heading": "Helvetica-Bold",
    "text": "Helvetica",
    "hint": "Helvetica-Oblique",
}

Style = Literal["title", "heading", "text", "hint"]


@dataclass(frozen=True)
class Line:
    style: Style
    text: str


def printable(text: str) -> str:
    """The text in the characters the standard fonts have (Windows-1252), `?` for any other."""
    return text.encode("cp1252", "replace").decode("cp1252")


def report_lines(report: ProgressReport) -> list[Line]:
    """The report's lines in reading order, before wrapping."""
    lines = [
        Line("title", "Progress report"),
        Line("hint", f"Customer {report.customer_id} · made {shown_time(report.made_at)} by Metaconnect"),
        Line("text", f"Stage now: {report.stage or 'none'}"),
    ]
    if report.identifiers:
        lines.append(Line("text", "Identities: " + ", ".join(f"{kind} {value}" for kind, value in report.identifiers)))
    lines.append(Line("heading", "Stages"))
    lines += [
        Line(
            "text",
            f"{s.stage}: entered {shown_time(s.entered_at)} on {s.event_type}, "
            + (f"there for {s.lasted}" if s.current else f"lasted {s.lasted}"),
        )
        for s in report.stays
    ] or [Line("hint", "No stage history yet.")]
    lines.append(Line("heading", "What comes next"))
    lines += [
        Line("text", f"{n.journey}: at step {n.step_id}, waiting {n.waits_for}; then {n.then}.")
        for n in report.next_steps
    ] or [Line("hint", "Nothing is scheduled: the customer is in no active journey.")]
    lines.append(Line("heading", "Journeys"))
    lines += [
        Line("text", f"{w.journey}: {w.status}, entered {shown_time(w.entered_at)}{', ' + w.ended if w.ended else ''}")
        for w in report.walks
    ] or [Line("hint", "In no journey.")]
    lines.append(Line("heading", "Milestones"))
    lines += [Line("text", f"{shown_time(m.at)} · {m.text}") for m in report.milestones] or [
        Line("hint", "No milestones yet.")
    ]
    return lines


def progress_pdf(report: ProgressReport) -> bytes:
    """The report on one A4 page."""
    out = io.BytesIO()
    width, height = A4
    canvas = Canvas(out, pagesize=A4, invariant=True)
    canvas.setTitle("Progress report")
    canvas.setAuthor("Metaconnect")
    wrapped: list[tuple[Style, str]] = []
    for line in report_lines(report):
        parts = simpleSplit(printable(line.text), FONTS[line.style], SIZES[line.style], width - 2 * MARGIN)
        wrapped += [(line.style, part) for part in parts or [""]]
    y = height - MARGIN
    for index, (style, text) in enumerate(wrapped):
        step = SIZES[style] * LEADING + (8 if style == "heading" else 0)
        if y - step < MARGIN + SIZES["hint"] * LEADING:  # keep room for the line that says what is cut
            left = len(wrapped) - index
            canvas.setFont(FONTS["hint"], SIZES["hint"])
            canvas.drawString(MARGIN, y - SIZES["hint"] * LEADING, f"... {left} more lines: see the customer page.")
            break
        y -= step
        canvas.setFont(FONTS[style], SIZES[style])
        canvas.drawString(MARGIN, y, text)
    canvas.showPage()
    canvas.save()
    return out.getvalue()
