"""Reliability suites: crash safety under SIGKILL, load, and cost safety under concurrency.

`crash_worker` is the front end the crash test kills; `test_crash` holds the campaign harness that
`bench/soak.py` reuses with bigger numbers. Kept import-free: the worker imports this package on
every restart.
"""
