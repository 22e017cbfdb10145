"""Nothing lost, nothing doubled: the whole pipeline under every fault while traffic flows.

    uv run python bench/chaos.py                         # 100,000 events, every fault, minutes long
    uv run python bench/chaos.py --events 5000 --rate 150 --kills 2   # what CI runs (tests/chaos/test_pipeline.py)

Starts the pipeline (`bench/_pipeline.py`), posts new customers' visits at `--rate` events/s
(`bench/_traffic.py`) and meanwhile, in a random order at random gaps (`--seed`): SIGKILLs
each service `--kills` times, restarts the Kafka broker and PostgreSQL, and makes the push
provider answer 503s, 429s with `Retry-After`, too slowly, or refuse connections
(`bench/_chaos.py`). When the last fault is over and at least `--events` were accepted, it
waits for the pipeline to drain and audits everything accepted (`bench/_audit.py`).

Prints accepted, applied, decided, deliveries expected / sent, lost, duplicated, double sends
(explained: after an unknown outcome), unknown outcomes and the time to drain after the last
fault, with one JSON line. Exit code 1 on any loss or duplicate, 2 when something did not start.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `bench._*` from `python bench/chaos.py`

from bench._chaos import CHAOS_SETTINGS, PROVIDER_TIMEOUT_S, ChaosResult, run
from bench._harness import default_workdir, run_loop, run_main
from bench._measure import print_json_line
from bench._pipeline import Stack


async def measure_async(opts: argparse.Namespace) -> ChaosResult:
    async with Stack(
        opts.workdir,
        partitions=opts.partitions,
        settings=CHAOS_SETTINGS,
        provider_timeout_s=PROVIDER_TIMEOUT_S,
        keep_data=opts.keep_data,
    ) as stack:
        return await run(
            stack, min_events=opts.events, rate=opts.rate, kills=opts.kills, seed=opts.seed, drain_timeout_s=opts.drain
        )


def report(result: ChaosResult, elapsed_s: float) -> int:
    a = result.audit
    print()
    print(f"faults ({len(result.faults)}):")
    for fault in result.faults:
        print(f"  {fault.started:7.1f}s  {fault.name:<32} back after {fault.took_s:.1f}s")
    print(
        f"\naccepted {a.accepted} events in {result.traffic_s:.0f}s ({result.accepted_per_s:g}/s,"
        f" {result.posts_retried} posts retried)"
    )
    print(f"applied {a.applied}, decided {a.decided} of {a.decisions_expected}")
    print(f"deliveries expected {a.deliveries_expected}, sent {a.deliveries_sent}, lost {a.lost}")
    print(f"decisions doubled {a.decisions_doubled}, receipts doubled {a.receipts_doubled}")
    print(
        f"double sends {a.double_sends} ({a.double_sends_explained} after an unknown outcome),"
        f" unknown outcomes {a.unknown_outcomes}, calls after a recorded success {a.calls_after_success}"
    )
    print(
        f"dead letters {a.dead_letters}; drained {result.drain_s:.1f}s after the last fault"
        f" ({result.drain_after_traffic_s:.1f}s after the last post)"
    )
    for failure in a.failures:
        print(f"FAILED: {failure} {a.examples}")
    print_json_line(
        "chaos",
        elapsed_s,
        {
            "events": result.events,
            "traffic_s": round(result.traffic_s, 1),
            "posts_retried": result.posts_retried,
            "faults": [f.__dict__ for f in result.faults],
            "drain_s": result.drain_s,
            "drain_after_traffic_s": result.drain_after_traffic_s,
            "audit": a.fields(),
            "failures": a.failures,
        },
    )
    return 1 if a.failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000, help="accepted events at least (100000)")
    parser.add_argument("--rate", type=float, default=400.0, help="offered events/s (400)")
    parser.add_argument("--kills", type=int, default=2, help="SIGKILLs per service (2)")
    parser.add_argument("--seed", type=int, default=1, help="order and gaps of the faults (1)")
    parser.add_argument("--partitions", type=int, default=6, help="partitions per topic (6)")
    parser.add_argument("--drain", type=float, default=600.0, help="longest wait for the drain, seconds (600)")
    parser.add_argument("--workdir", type=Path, default=None, help="logs and data (default .metaconnect/bench/RUN)")
    parser.add_argument("--keep-data", action="store_true", help="keep Kafka/PostgreSQL data after the run")
    opts = parser.parse_args()
    default_workdir(opts, "chaos")
    return run_main(opts, lambda: run_loop(measure_async(opts)), report)


if __name__ == "__main__":
    sys.exit(main())
