"""What the benchmarks measure with and how they print it.

CPU per party from `/proc` (`CpuMeter`), table cells and the CPU table with its
disturbed-machine flag, the JSON line, and cProfile output grouped by package.
"""

from __future__ import annotations

import functools
import json
import os
import pstats
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench._harness import log

# Busy CPU (% of one core) of processes outside the bench above which a phase is flagged.
OTHER_LOAD_WARN = 25.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- CPU accounting


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after the command name: [state, ppid, ...] (field 3 of proc(5) first)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rfind(")") + 2 :].split()


def own_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads) so far."""
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / CLK_TCK if fields else 0.0


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of a process, of its reaped children (cutime, cstime) and of its live children.

    Between two samples the difference counts a child that exited meanwhile once: live at the
    first, reaped into the parent's cutime at the second (PostgreSQL's backends, here)."""
    fields = _stat_fields(pid)
    if not fields:
        return 0.0
    total = sum(int(v) for v in fields[11:15]) / CLK_TCK
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and entry.name != str(pid):
            child = _stat_fields(int(entry.name))
            if child and child[1] == str(pid):
                total += (int(child[11]) + int(child[12])) / CLK_TCK
    return total


def system_busy_s() -> float:
    """Busy CPU seconds of the whole machine (all cores) so far."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / CLK_TCK


def processes(pids: dict[str, int]) -> dict[str, Callable[[], float]]:
    """Parties that are single processes: name -> their CPU seconds so far."""
    return {name: functools.partial(own_cpu_s, pid) for name, pid in pids.items()}


CpuSample = tuple[float, dict[str, float]]  # (monotonic time, cumulative CPU seconds per party and of the machine)


class CpuMeter:
    """CPU of named parties and of the whole machine (`total`), in % of one core, between two samples.

    `other` is the machine's busy time none of the parties used: other sessions' work on a
    shared box. A phase with much of it measured a disturbed machine."""

    def __init__(self, parties: dict[str, Callable[[], float]], *, total: str = "machine") -> None:
        self.parties = parties
        self.total = total
        self._start: CpuSample | None = None

    def sample(self) -> CpuSample:
        out = {name: read() for name, read in self.parties.items()}
        out[self.total] = system_busy_s()
        return time.monotonic(), out

    def between(self, first: CpuSample, last: CpuSample) -> tuple[dict[str, float], dict[str, float]]:
        """(% of one core per party, CPU seconds per party) from sample `first` to sample `last`."""
        wall = max(last[0] - first[0], 1e-9)
        seconds = {name: last[1][name] - first[1][name] for name in last[1]}
        seconds["other"] = max(0.0, seconds[self.total] - sum(seconds[name] for name in self.parties))
        usage = {name: round(100 * value / wall, 1) for name, value in seconds.items()}
        return usage, {name: round(value, 3) for name, value in seconds.items()}

    @property
    def started(self) -> bool:
        return self._start is not None

    def start(self) -> None:
        self._start = self.sample()

    def stop(self) -> tuple[dict[str, float], dict[str, float]]:
        assert self._start is not None
        return self.between(self._start, self.sample())


# --------------------------------------------------------------------------- tables and the JSON line


def num(value: float | None, width: int, fmt: str = ",.0f") -> str:
    """A table cell: `value` formatted to `width`, or a right-aligned `-` when there is none."""
    return f"{value:{width}{fmt}}" if value is not None else " " * (width - 1) + "-"


CpuRow = tuple[str, str, dict[str, float], str]  # (key, label, % of one core per party, text after the parties)


def print_cpu_table(
    label_width: int, columns: Sequence[tuple[str, str]], tail_head: str, rows: Sequence[CpuRow]
) -> list[str]:
    """The CPU table: a row per phase, a column per (title, party); returns the keys of disturbed phases.

    A phase is disturbed when processes outside the bench used over OTHER_LOAD_WARN % of a core."""
    print(f"{'CPU, % of one core':<{label_width}} " + " ".join(f"{title:>8}" for title, _ in columns) + tail_head)
    disturbed = []
    for key, label, cpu, tail in rows:
        print(f"{label:<{label_width}} " + " ".join(num(cpu.get(party), 8) for _, party in columns) + tail)
        if cpu.get("other", 0.0) > OTHER_LOAD_WARN:
            disturbed.append(key)
    print(f"(machine: all {os.cpu_count()} cores together; other: busy time of processes outside this bench)")
    if disturbed:
        print(
            f"WARNING: other processes used over {OTHER_LOAD_WARN:.0f}% of a core during {disturbed}: "
            "those figures measured a shared machine; rerun when it is quiet."
        )
    return disturbed


def print_json_line(bench: str, elapsed_s: float, fields: dict[str, Any]) -> None:
    """One JSON line with every number, for notes and CI logs."""
    line = {
        "bench": bench,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "elapsed_s": round(elapsed_s, 1),
        **fields,
    }
    print(json.dumps(line, separators=(",", ":")))


# --------------------------------------------------------------------------- cProfile output

OURS = ("metaconnect_common", "metaconnect_ingest", "metaconnect_profile", "bench")


def package_of(filename: str) -> str:
    """Who owns a profiled function: a site-package, a stdlib module, or our code."""
    if filename.startswith("<sqlalchemy "):  # SQLAlchemy's generated wrappers
        return "sqlalchemy"
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    for ours in OURS:
        if f"/{ours}/" in filename:
            return ours
    if "/lib/python3" in filename:
        rest = filename.split("/lib/python3", 1)[1].split("/", 2)
        return "stdlib " + (rest[1].removesuffix(".py") if len(rest) > 1 else "?")
    return filename


@dataclass
class Profile:
    """A cProfile dump: own time by package (C built-ins charged to their Python callers), counted calls."""

    path: Path
    stats: pstats.Stats
    total: float  # seconds profiled
    by_package: dict[str, float]
    calls: dict[str, int]  # primitive calls of the functions asked for, by their label


def load_profile(path: Path, counted: dict[tuple[str, str], str] | None = None) -> Profile | None:
    """The profile at `path` (None, logged, when there is none); `counted`: (file suffix, function) -> label."""
    if not path.is_file():
        log(f"no profile written at {path}")
        return None
    counted = counted or {}
    stats = pstats.Stats(str(path))
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, dict[Any, Any]]] = stats.stats  # type: ignore[attr-defined]
    by_package: dict[str, float] = {}
    total = 0.0
    calls = dict.fromkeys(counted.values(), 0)
    for (filename, _line, name), (cc, _nc, tottime, _ct, callers) in raw.items():
        total += tottime
        for (suffix, function), label in counted.items():
            if name == function and filename.endswith(suffix):
                calls[label] += cc
        if filename == "~":  # a C function: its time goes to whoever called it
            if "run_until_complete" in name or not callers:
                by_package["event loop (C)"] = by_package.get("event loop (C)", 0.0) + tottime
                continue
            for (caller_file, _l, _n), entry in callers.items():
                owner = package_of(caller_file)
                by_package[owner] = by_package.get(owner, 0.0) + entry[2]
            continue
        owner = package_of(filename)
        by_package[owner] = by_package.get(owner, 0.0) + tottime
    return Profile(path, stats, total, by_package, calls)


def print_packages(profile: Profile, events: int) -> None:
    """The 25 packages with the most own time, with their share and time per event."""
    for owner, seconds in sorted(profile.by_package.items(), key=lambda kv: -kv[1])[:25]:
        per_event = f"{1e6 * seconds / events:8.1f} us/event" if events else ""
        print(f"  {owner:<32} {seconds:7.3f}s {100 * seconds / max(profile.total, 1e-9):5.1f}%  {per_event}")


def print_top(profile: Profile, limit: int) -> None:
    print(f"\n== top {limit} functions by own time")
    profile.stats.sort_stats(pstats.SortKey.TIME).print_stats(limit)
