"""Fixtures for the dev-stack tests."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from metaconnect_cli.local._proc import log_tail

RUN_DIR = Path(__file__).resolve().parents[2] / ".metaconnect" / "test"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def dev_dir(request: pytest.FixtureRequest) -> Iterator[Path]:
    """A dev stack's data dir, outside pytest's temporary directories.

    Run as root, PostgreSQL runs as its own user and must traverse every parent of its data
    dir; any pytest session that starts meanwhile (a concurrent run) resets
    `/tmp/pytest-of-<user>` to 0700, so a server there could no longer be stopped.
    When the test fails, the end of every log the stack wrote (and of the command's output,
    `dev.out` here) is printed, so a failure in CI says which process went wrong.
    """
    path = RUN_DIR / f"dev-{uuid.uuid4().hex[:8]}"
    yield path
    if request.node.stash.get(_FAILED, False):
        for log in sorted([*path.rglob("*.log"), *path.glob("*.out")]):
            print(f"--- end of {log.relative_to(path)} ---\n{log_tail(log)}")  # noqa: T201
    shutil.rmtree(path, ignore_errors=True)
