"""Cost safety under concurrency: per-user limits hold when many submits race, in one process or two.

The daily budget and the running-task limit are checked and reserved inside one ``BEGIN IMMEDIATE``
transaction with the insert (core/store.py), so concurrent submits must never overshoot. These
tests fire bursts of submits at a fake BytePlus server (tasks held queued so nothing settles during
the burst) and count what got through; they also check the refusal messages and that the
reservation is settled with the provider's actual cost.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from core import catalog
from core.config import Limits, ProviderSettings, Settings
from core.errors import LimitReachedError
from core.models import Cost, Task, TaskStatus, VideoRequest
from core.service import open_service
from core.store import TaskStore, start_of_day
from tests.fakes import FakeApimart, FakeArk

REPO = Path(__file__).resolve().parents[2]
BURST = 40


def request(n: int, user: str = "u") -> VideoRequest:
    return VideoRequest(prompt=f"{user} budget task {n}: a lighthouse at dusk", duration=4, resolution="480p",
                        ratio="16:9")


def cost_of(provider: str = "byteplus") -> float:
    return catalog.estimate_cost(request(0), provider)[1]


def settings_for(home: Path, fake: FakeArk | FakeApimart, provider: str, limits: Limits) -> Settings:
    return Settings(home=home, provider=provider, limits=limits,
                    providers={provider: ProviderSettings(api_key=fake.api_key, base_url=fake.base_url)})


async def fire(service: Any, user: str, count: int, first: int = 0) -> tuple[list[Task], list[LimitReachedError]]:
    """``count`` submits at once; returns (accepted, refused). Anything else fails the test."""
    results = await asyncio.gather(*(service.submit(user, request(first + n, user)) for n in range(count)),
                                   return_exceptions=True)
    unexpected = [r for r in results if isinstance(r, BaseException) and not isinstance(r, LimitReachedError)]
    assert not unexpected, unexpected
    return ([r for r in results if isinstance(r, Task)], [r for r in results if isinstance(r, LimitReachedError)])


async def test_concurrent_submits_never_overshoot_the_daily_budget(tmp_path: Path) -> None:
    est = cost_of()
    budget = 5.5 * est  # room for five, and half a sixth
    with FakeArk("byteplus", api_key="budget-key", queued_for=120, running_for=1) as fake:
        limits = Limits(max_running_per_user=None, max_tasks_per_day=None, daily_budget=budget)
        async with open_service(settings_for(tmp_path / "home", fake, "byteplus", limits)) as service:
            accepted, refused = await fire(service, "alice", BURST)
            # Another user's budget is their own.
            others, _ = await fire(service, "bob", 2)
        submits = fake.submits
    print(f"\nbudget {budget:,.0f} tokens, {BURST} concurrent submits of {est:,.0f}: {len(accepted)} accepted, "
          f"{len(refused)} refused; reserved {sum(t.cost.estimated or 0 for t in accepted):,.0f}")
    assert len(accepted) == 5 and len(refused) == BURST - 5 and len(others) == 2
    assert sum(t.cost.estimated or 0 for t in accepted) <= budget
    assert submits == 7
    for exc in refused:
        text = str(exc)
        assert exc.code == "limit_reached" and "\n" not in text
        assert "daily" in text and "budget resets at 00:00 UTC" in text, text
        assert f"{est:,.0f} tokens" in text and f"only {budget - 5 * est:,.0f} of your daily {budget:,.0f}" in text


async def test_concurrent_submits_never_overshoot_the_running_limit(tmp_path: Path) -> None:
    with FakeArk("byteplus", api_key="budget-key", queued_for=120, running_for=1) as fake:
        # The queue off: refusals are what is counted here (tests/core/test_queue.py covers waiting).
        limits = Limits(max_running_per_user=3, max_tasks_per_day=None, daily_budget=None, queue=False)
        async with open_service(settings_for(tmp_path / "home", fake, "byteplus", limits)) as service:
            accepted, refused = await fire(service, "alice", BURST)
            assert len(accepted) == 3 and len(refused) == BURST - 3
            for exc in refused:
                assert "3 videos in progress (limit 3)" in str(exc)
                assert "wait for one to finish or cancel one" in str(exc)
            # Freeing a slot (here by cancelling a queued task) lets exactly one more through.
            await service.cancel("alice", accepted[0].id)
            again, refused_again = await fire(service, "alice", 10, first=BURST)
            assert len(again) == 1 and len(refused_again) == 9
        assert fake.submits == 4


async def test_actual_cost_settles_the_reservation(tmp_path: Path) -> None:
    """A cheaper actual cost frees budget; a failed task frees its whole reservation."""
    est = cost_of()
    budget = 2.2 * est
    with FakeArk("byteplus", api_key="budget-key", queued_for=0.2, running_for=0.3) as fake:
        half = float(int(est / 2))  # Ark reports whole tokens
        fake.script(actual_cost=half)
        fake.script(actual_cost=half)
        limits = Limits(max_running_per_user=None, max_tasks_per_day=None, daily_budget=budget)
        async with open_service(settings_for(tmp_path / "home", fake, "byteplus", limits)) as service:
            accepted, refused = await fire(service, "alice", 3)
            assert len(accepted) == 2 and len(refused) == 1  # reserved at the estimate: 2 x est
            done = [await service.wait("alice", t.id, timeout=60) for t in accepted]
            assert [t.cost.actual for t in done] == [half, half]
            # Settled at est/2 each: about est spent, 1.2 est left, one more fits, not two.
            fake.script("failed")
            more, refused = await fire(service, "alice", 2, first=10)
            assert len(more) == 1 and len(refused) == 1
            failed = await service.wait("alice", more[0].id, timeout=60)
            assert failed.status is TaskStatus.FAILED
            # The failed task charged nothing, so its reservation is free again.
            last, _ = await fire(service, "alice", 1, first=20)
            assert len(last) == 1


async def test_budget_resets_at_midnight_utc(tmp_path: Path) -> None:
    """Yesterday's spending does not count today (checked on the store, with an explicit clock)."""
    est = cost_of()
    limits = Limits(max_running_per_user=None, max_tasks_per_day=None, daily_budget=1.5 * est)
    store = await TaskStore.open(tmp_path / "seedance.db")
    try:
        today = start_of_day(datetime.now(UTC).timestamp()) + 3600
        yesterday = today - 86400

        def task(n: int, at: float) -> Task:
            when = datetime.fromtimestamp(at, UTC)
            return Task(id=f"t{n}", user="u", provider="byteplus", model="m", request=request(n),
                        cost=Cost(unit="tokens", estimated=est), created_at=when, updated_at=when)

        await store.insert(task(1, yesterday), limits=limits, now=yesterday)
        with pytest.raises(LimitReachedError):
            await store.insert(task(2, yesterday + 60), limits=limits, now=yesterday + 60)
        await store.insert(task(3, today), limits=limits, now=today)  # a new day, a new budget
        with pytest.raises(LimitReachedError, match="resets at 00:00 UTC"):
            await store.insert(task(4, today + 60), limits=limits, now=today + 60)
    finally:
        await store.close()


@pytest.mark.parametrize("limit", ["budget", "running"])
@pytest.mark.timeout(120)
def test_two_processes_never_overshoot(tmp_path: Path, limit: str) -> None:
    """Two processes on one database, each firing a burst for the same user at the same moment."""
    est = cost_of()
    # Room for 15 of the 80 submits, so both processes get some in and their inserts interleave.
    limits = ({"max_running_per_user": None, "max_tasks_per_day": None, "daily_budget": 15.5 * est}
              if limit == "budget" else {"max_running_per_user": 15, "max_tasks_per_day": None, "daily_budget": None,
                                          "queue": False})
    allowed, per_process = 15, BURST
    with FakeArk("byteplus", api_key="budget-key", queued_for=120, running_for=1) as fake:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SEEDANCE_", "DISCORD_"))}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
        procs, logs = [], []
        for name in ("one", "two"):
            config = {"home": str(tmp_path / "home"), "base_url": fake.base_url, "api_key": fake.api_key,
                      "limits": limits, "user": "alice", "count": per_process, "name": name}
            logs.append(tmp_path / f"burst-{name}.log")
            with open(logs[-1], "wb") as err:  # a file, not a pipe: a chatty child can never block on it
                procs.append(subprocess.Popen(
                    [sys.executable, "-c", "from tests.reliability.test_budget import burst_main; burst_main()",
                     json.dumps(config)],
                    cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err))
        for proc, log in zip(procs, logs, strict=True):
            # Both services open (the database exists) and both wait at the barrier.
            assert proc.stdout is not None
            ready, _, _ = select.select([proc.stdout], [], [], 60)
            assert ready and proc.stdout.readline().strip() == b"ready", log.read_text()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
            proc.stdin.flush()
        outputs = [proc.communicate(timeout=60) for proc in procs]
        submits = fake.submits
    reports = [json.loads(out.decode().strip().splitlines()[-1]) for out, _ in outputs]
    assert all(not r["other"] for r in reports), reports
    accepted = sum(len(r["accepted"]) for r in reports)
    print(f"\ntwo processes, {limit} limit: {accepted} of {2 * per_process} accepted "
          f"({', '.join(str(len(r['accepted'])) for r in reports)}), {submits} submits")
    assert accepted == allowed and submits == allowed
    assert sum(len(r["refused"]) for r in reports) == 2 * per_process - allowed


def burst_main() -> None:
    """Subprocess side of `test_two_processes_never_overshoot`: open, say ready, wait for go, fire."""
    config = json.loads(sys.argv[1])
    asyncio.run(_burst(config))


async def _burst(config: dict[str, Any]) -> None:
    provider = ProviderSettings(api_key=config["api_key"], base_url=config["base_url"])
    settings = Settings(home=Path(config["home"]), provider="byteplus", limits=Limits(**config["limits"]),
                        providers={"byteplus": provider})
    async with open_service(settings, resume=False) as service:
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        user, count, name = config["user"], config["count"], config["name"]
        results = await asyncio.gather(
            *(service.submit(user, request(n, f"{user}-{name}")) for n in range(count)), return_exceptions=True)
        print(json.dumps({
            "accepted": [r.id for r in results if isinstance(r, Task)],
            "refused": [str(r) for r in results if isinstance(r, LimitReachedError)],
            "other": [repr(r) for r in results
                      if isinstance(r, BaseException) and not isinstance(r, LimitReachedError)],
        }), flush=True)


# --- regressions: reliability BUGs R6 and R7, fixed in e0d156f ----------------------------------------


async def test_settled_spending_never_exceeds_the_budget(tmp_path: Path) -> None:
    """Ark bills 24 x s + 1 frames; an estimate of 24 x s let a full budget settle ~1 % over."""
    est = cost_of()
    budget = 2 * est  # exactly two reservations
    with FakeArk("byteplus", api_key="budget-key", queued_for=0.2, running_for=0.3) as fake:
        limits = Limits(max_running_per_user=None, max_tasks_per_day=None, daily_budget=budget)
        async with open_service(settings_for(tmp_path / "home", fake, "byteplus", limits)) as service:
            accepted, _ = await fire(service, "alice", 3)
            done = [await service.wait("alice", t.id, timeout=60) for t in accepted]
    spent = sum(t.cost.actual or 0 for t in done)
    assert len(accepted) == 2
    assert spent <= budget, f"settled {spent:,.0f} tokens against a budget of {budget:,.0f}"


async def test_a_lost_submit_keeps_its_reservation(tmp_path: Path) -> None:
    """A submit_uncertain task may be billed: its reservation must stay until the day resets."""
    est = cost_of("apimart")
    with FakeApimart(api_key="budget-key", queued_for=0.2, running_for=0.3) as fake:
        fake.inject("submit", drop=True, after_create=True)  # created (and billed) at APIMart, answer lost
        limits = Limits(max_running_per_user=None, max_tasks_per_day=None, daily_budget=1.5 * est)
        async with open_service(settings_for(tmp_path / "home", fake, "apimart", limits)) as service:
            first = await service.submit("alice", request(1))
            first = await service.wait("alice", first.id, timeout=30)
            assert first.error is not None and first.error.code == "submit_uncertain"
            assert fake.submits == 1  # the provider has the task and runs it
            with pytest.raises(LimitReachedError):
                await service.submit("alice", request(2))
