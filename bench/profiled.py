"""Run a module as `__main__` under cProfile, profiling the windows the bench asks for.

    python bench/profiled.py PREFIX metaconnect_ingest

SIGUSR1 starts a profile, SIGUSR2 stops it and writes `PREFIX<n>.prof` (n = 1, 2, ...),
so start-up and warm-up stay out of it. With `BENCH_PROFILE_ALL=1` it profiles from start
to exit instead (`PREFIXall.prof`). The clock is the main thread's CPU time
(`BENCH_PROFILE_CLOCK=wall` for wall time): on a shared 2-core machine wall time also
counts the moments other processes ran.

(`python -m cProfile` writes nothing for uvicorn servers: uvicorn re-raises SIGTERM after
its graceful shutdown and the default handler kills the process before cProfile dumps.)
"""

from __future__ import annotations

import cProfile
import os
import runpy
import signal
import sys
import time


def main() -> None:
    prefix, module = sys.argv[1], sys.argv[2]
    sys.argv = [module, *sys.argv[3:]]
    clock = time.perf_counter if os.environ.get("BENCH_PROFILE_CLOCK") == "wall" else time.thread_time
    current: list[cProfile.Profile] = []
    written = 0

    def terminate(signum: int, _frame: object) -> None:
        raise SystemExit(0)

    def start(signum: int, _frame: object) -> None:
        if not current:
            current.append(cProfile.Profile(clock))
            current[0].enable()

    def stop(signum: int, _frame: object) -> None:
        nonlocal written
        if current:
            profiler = current.pop()
            profiler.disable()
            written += 1
            profiler.dump_stats(f"{prefix}{written}.prof")

    # uvicorn restores this handler after its own shutdown and re-raises the signal into it.
    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    whole = cProfile.Profile(clock) if os.environ.get("BENCH_PROFILE_ALL") == "1" else None
    if whole is not None:
        whole.enable()
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    finally:
        if whole is not None:
            whole.disable()
            whole.dump_stats(f"{prefix}all.prof")


if __name__ == "__main__":
    main()
