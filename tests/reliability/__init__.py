"""Reliability suites (issue 5): crash safety under SIGKILL, load, cost safety under concurrency,
provider faults, hostile input, secrets and isolation; figures in docs/reliability.md.

`crash_worker` is the front end the crash test kills; `test_crash` holds the campaign harness that
`bench/soak.py` reuses with bigger numbers. Kept import-free: the worker imports this package on
every restart.
"""
