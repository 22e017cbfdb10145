"""The one-page HTML export rendered as production renders it: its stylesheet allowed by exactly
its hash, no script, names escaped, long histories cut to what one page holds."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import timedelta

from metaconnect_console.progress.document import EXPORT_CSP, FILE_CSP, SHOWN, export_html
from metaconnect_console.progress.report import progress_report
from metaconnect_console.web import templates
from tests.console.progress.test_timeline import CHANGES, SPEC, T0, WALK, change

PROFILE = {"id": "5a4b0f4e-0000-4000-8000-000000000001", "lifecycle_stage": "sales", "reachability": {}}


def test_the_stylesheet_inside_is_allowed_by_its_hash_and_nothing_else_runs() -> None:
    report = progress_report(PROFILE, CHANGES, [WALK], {("onboarding", 2): SPEC}, T0 + timedelta(days=5))
    html = export_html(templates(), report)
    [style] = re.findall(r"<style>(.*?)</style>", html, re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in FILE_CSP
    assert f"'sha256-{digest}'" in EXPORT_CSP
    assert f'<meta http-equiv="Content-Security-Policy" content="{FILE_CSP}">'.replace("'", "&#39;") in html
    assert "script-src 'self'" in EXPORT_CSP
    assert "<script" not in html
    assert "style=" not in html
    assert "<td>qualified</td>" in html
    assert "onboarding</strong>: at step wait-visit" in html


def test_names_are_escaped_and_a_long_history_is_cut_to_one_page() -> None:
    history = [change(None, "<b>lead</b>", 0, "app.opened")]
    history += [change(f"s{i}", f"s{i + 1}", i + 1, "lifecycle.moved", 3600) for i in range(40)]
    walks = [{**WALK, "journey": f"j{i}", "history": []} for i in range(20)]
    report = progress_report(PROFILE, history, walks, {}, T0 + timedelta(days=5))
    html = export_html(templates(), report)
    assert "<b>lead</b>" not in html
    assert html.count("<tr><td>") == SHOWN["stays"]
    assert f"{41 - SHOWN['stays']} earlier stages are on the customer page." in html
    assert f"{20 - SHOWN['walks']} earlier walks are on the customer page." in html
    assert html.count("then not known: the journey is no longer there") == SHOWN["walks"]
