"""Soak: the SIGKILL crash campaign of tests/reliability/test_crash.py, bigger and repeatable.

Runs `crash_worker` over a real SQLite home against the sandbox, a fake BytePlus (reconcilable) and
a fake APIMart (not reconcilable), SIGKILLs it at random moments and inside the submit, poll,
download and delivery windows, restarts it each time, and checks that nothing was lost, submitted
twice, delivered twice or corrupted. Prints one summary per round and a total; exits 1 on any problem.

    python bench/soak.py                       # 3 rounds x 300 tasks, 60 kills each
    python bench/soak.py --rounds 1 --tasks 1000 --kills 150 --users 20 --keep /tmp/soak
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.reliability.test_crash import WINDOWS, Campaign, CampaignConfig  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=300)
    parser.add_argument("--users", type=int, default=12)
    parser.add_argument("--kills", type=int, default=60, help="kills per round (fewer if the plan finishes first)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the first round; each round adds 1")
    parser.add_argument("--concurrency", type=int, default=8, help="submits in flight at once in the worker")
    parser.add_argument("--slow", type=float, default=0.3, help="seconds each API answer / media body is held")
    parser.add_argument("--finish-timeout", type=float, default=900.0)
    parser.add_argument("--keep", type=Path, default=None, help="keep each round's home, logs and sink here")
    args = parser.parse_args(argv)

    totals: Counter[str] = Counter()
    windows: Counter[str] = Counter()
    problems = 0
    started = time.monotonic()
    for round_no in range(args.rounds):
        config = CampaignConfig(tasks=args.tasks, users=args.users, kills=args.kills, seed=args.seed + round_no,
                                concurrency=args.concurrency, slow=args.slow, finish_timeout=args.finish_timeout)
        with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
            workdir = (args.keep / f"round-{round_no}") if args.keep else Path(tmp)
            result = Campaign(workdir, config).run()
        print(f"--- round {round_no + 1}/{args.rounds} (seed {config.seed})")
        print(result.summary(), flush=True)
        totals["tasks"] += config.tasks
        totals["kills"] += len(result.kills)
        totals["succeeded"] += result.statuses["succeeded"]
        totals.update({f"error:{code}": n for code, n in result.crash_errors.items()})
        totals["published twice"] += result.double_deliveries
        windows.update(result.window_counts())
        problems += len(result.problems)
    print(f"=== {args.rounds} rounds in {time.monotonic() - started:.0f} s: "
          + ", ".join(f"{k} {v}" for k, v in totals.items())
          + "; kills inside " + ", ".join(f"{w} {windows[w]}" for w in WINDOWS)
          + f"; problems {problems}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
