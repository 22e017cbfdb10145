"""Fixtures for the dev-stack tests."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

RUN_DIR = Path(__file__).resolve().parents[2] / ".metaconnect" / "test"


@pytest.fixture
def dev_dir() -> Iterator[Path]:
    """A dev stack's data dir, outside pytest's temporary directories.

    Run as root, PostgreSQL runs as its own user and must traverse every parent of its data
    dir; any pytest session that starts meanwhile (a concurrent run) resets
    `/tmp/pytest-of-<user>` to 0700, so a server there could no longer be stopped.
    """
    path = RUN_DIR / f"dev-{uuid.uuid4().hex[:8]}"
    yield path
    shutil.rmtree(path, ignore_errors=True)
