"""The `seedance` command, run as a subprocess the way a user runs it.

Every case gets its own SEEDANCE_HOME; the sandbox runs 20x faster (SEEDANCE_SANDBOX_SPEED=20).
The contract (design.md): exit 0/1/2, `--json` puts exactly one JSON value on stdout, errors are
one line on stderr and never a traceback, invalid input is refused before anything is stored or sent.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from core.sandbox.render import probe_video
from tests.conftest import clean_environ

SEEDANCE = shutil.which("seedance", path=str(Path(sys.executable).parent)) or ""
pytestmark = pytest.mark.skipif(not SEEDANCE, reason="the seedance console script is not installed in this venv")

PROMPT = "a red fox running through snow"
SMALL = ["--resolution", "480p", "--duration", "4"]  # quick to render
TIMEOUT = 60


def seedance(env: dict[str, str], *args: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SEEDANCE, *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=env["SEEDANCE_HOME_PARENT"]
    )


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = clean_environ(home, **extra)
    env["SEEDANCE_HOME_PARENT"] = str(home.parent)  # run from a scratch folder, never the repo
    return env


@pytest.fixture
def env(home: Path) -> dict[str, str]:
    return env_for(home)


def one_json(proc: subprocess.CompletedProcess[str]) -> Any:
    """stdout must hold exactly one JSON value on one line."""
    assert proc.stdout.endswith("\n") and proc.stdout.count("\n") == 1, proc.stdout
    return json.loads(proc.stdout)


def assert_clean_stderr(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stderr and 'File "' not in proc.stderr, proc.stderr


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert_clean_stderr(proc)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("seedance: "), proc.stderr
    return lines[0]


def task_rows(home: Path) -> list[dict[str, Any]]:
    db = home / "seedance.db"
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM tasks")]


def sandbox_submits(home: Path) -> int:
    return len(list((home / "sandbox").glob("*.json")))


# -- the happy paths ---------------------------------------------------------------------------------------


def test_generate_json_makes_a_playable_mp4_and_history_lists_it(env: dict[str, str], home: Path,
                                                                 tmp_path: Path) -> None:
    copy = tmp_path / "out" / "fox.mp4"
    proc = seedance(env, "generate", PROMPT, "--json", "--output", str(copy))
    assert proc.returncode == 0, proc.stderr
    assert_clean_stderr(proc)
    task = one_json(proc)
    assert task["status"] == "succeeded" and task["error"] is None
    assert task["provider"] == "sandbox" and task["prompt"] == PROMPT and task["user"] == "cli:tester"
    assert set(task) >= {"id", "remote_id", "params", "video_url", "video_path", "cost", "created_at", "finished_at"}
    video = Path(task["video_path"])
    assert video.parent == home / "media"
    info = probe_video(video)
    assert info.width > 0 and info.height > 0 and info.fps == pytest.approx(24)
    assert info.duration == pytest.approx(task["params"]["duration"], abs=0.1)
    assert copy.read_bytes() == video.read_bytes()
    assert task["id"] in proc.stderr or "succeeded" in proc.stderr  # progress went to stderr

    history = seedance(env, "history", "--json")
    assert history.returncode == 0
    listed = one_json(history)
    assert isinstance(listed, list) and [t["id"] for t in listed] == [task["id"]]
    assert listed[0]["video_path"] == task["video_path"]

    plain = seedance(env, "history")
    assert plain.returncode == 0 and task["id"] in plain.stdout


def test_no_wait_then_status_finishes_the_task(env: dict[str, str], home: Path) -> None:
    submitted = seedance(env, "generate", PROMPT, *SMALL, "--no-wait", "--json")
    assert submitted.returncode == 0, submitted.stderr
    task = one_json(submitted)
    assert task["status"] in ("queued", "running") and task["remote_id"]

    status = seedance(env, "status", task["id"], "--json")
    assert status.returncode == 0, status.stderr
    done = one_json(status)
    assert done["id"] == task["id"] and done["status"] == "succeeded" and Path(done["video_path"]).is_file()

    again = seedance(env, "status", task["id"], "--no-wait")
    assert again.returncode == 0 and "succeeded" in again.stdout and done["video_path"] in again.stdout
    assert sandbox_submits(home) == 1


def test_cancel_a_queued_task(home: Path) -> None:
    env = env_for(home, SEEDANCE_SANDBOX_SPEED="0.2")  # queued for 5 s
    task = one_json(seedance(env, "generate", PROMPT, *SMALL, "--no-wait", "--json"))

    cancelled = seedance(env, "cancel", task["id"], "--json")
    assert cancelled.returncode == 0, cancelled.stderr
    assert one_json(cancelled)["status"] == "cancelled"

    status = seedance(env, "status", task["id"], "--json")
    assert status.returncode == 1 and one_json(status)["status"] == "cancelled"  # a cancelled task exits 1
    assert one_json(status)["charge"] == {"state": "not_charged", "text": "not charged (cancelled before it ran)"}
    again = seedance(env, "cancel", task["id"])
    assert again.returncode == 2
    assert f"task {task['id']} has already been cancelled; nothing to cancel" in one_line_error(again)
    plain = seedance(env, "status", task["id"])
    assert "billing: not charged (cancelled before it ran)" in plain.stdout


def test_models_and_estimate_print_json(env: dict[str, str]) -> None:
    models = seedance(env, "models", "--json")
    assert models.returncode == 0
    specs = one_json(models)
    assert isinstance(specs, list) and specs
    assert {s["provider"] for s in specs} == {"sandbox"} and "seedance-2-0" in {s["id"] for s in specs}
    assert all(s["price"]["rule"] == "free (offline sandbox)" for s in specs)
    byteplus = one_json(seedance(env, "models", "--provider", "byteplus", "--json"))
    assert "dreamina-seedance-2-0-260128" in {s["id"] for s in byteplus}

    estimate = seedance(env, "estimate", PROMPT, "--resolution", "1080p", "--duration", "10", "--json")
    assert estimate.returncode == 0, estimate.stderr
    data = one_json(estimate)
    assert data["provider"] == "sandbox" and data["unit"] == "tokens" and data["estimated"] > 0
    assert data["params"]["resolution"] == "1080p" and data["params"]["duration"] == 10
    assert data["usd"] == 0.0 and data["price_rule"] == "free (offline sandbox)"
    smaller = one_json(seedance(env, "estimate", PROMPT, *SMALL, "--json"))
    assert smaller["estimated"] < data["estimated"]
    credits = one_json(seedance(env, "estimate", "--provider", "seedanceapi", "--duration", "10", "--json"))
    assert (credits["unit"], credits["estimated"], credits["usd"]) == ("credits", 480, 4.8)
    plain = seedance(env, "estimate", "--provider", "byteplus", "--duration", "5", "--ratio", "16:9")
    assert plain.returncode == 0 and "108,900 tokens (price unknown)" in plain.stdout
    assert "price: tokens (width × height" in plain.stdout


def test_estimate_needs_no_prompt(env: dict[str, str]) -> None:
    proc = seedance(env, "estimate", "--resolution", "720p", "--json")
    assert proc.returncode == 0, proc.stderr
    assert one_json(proc)["estimated"] > 0


# -- refusals ---------------------------------------------------------------------------------------------

INVALID: dict[str, tuple[list[str], str]] = {
    "duration-99": (["generate", PROMPT, "--duration", "99"], "duration"),
    "resolution-4k": (["generate", PROMPT, "--resolution", "4k"], "4k"),
    "missing-first-frame": (["generate", PROMPT, "--first-frame", "{tmp}/missing.png"], "--first-frame"),
    "first-frame-not-an-image": (["generate", PROMPT, "--first-frame", "{tmp}/notes.txt"], "--first-frame"),
    "http-first-frame": (["generate", PROMPT, "--first-frame", "http://example.com/a.png"], "https URL"),
    "inline-flags": (["generate", "a cat --dur 99 --wm true"], "--dur 99"),
    "empty-prompt": (["generate", "  "], "prompt"),
    "huge-prompt": (["generate", "a " * 50_000], "at most 4000"),
    "bad-ratio": (["generate", PROMPT, "--ratio", "5:1"], "ratio"),
    "bad-seed": (["generate", PROMPT, "--seed", "-7"], "seed"),
    "bad-expiry": (["generate", PROMPT, "--expires-after", "10"], "--expires-after 10 is out of range"),
    "local-reference-video": (["generate", PROMPT, "--reference-video", "/etc/passwd"], "--reference-video"),
    "output-is-a-folder": (["generate", PROMPT, "--output", "{tmp}"], "is a folder"),
    "output-under-a-file": (["generate", PROMPT, "--output", "{tmp}/notes.txt/video.mp4"], "not a folder"),
    "output-unwritable": (["generate", PROMPT, "--output", "/proc/seedance-video.mp4"], "cannot write"),
    "output-with-no-wait": (["generate", PROMPT, "--no-wait", "--output", "{tmp}/v.mp4"], "--no-wait"),
    "no-prompt": (["generate"], "prompt"),
    "unknown-command": (["frobnicate"], "invalid choice"),
    "history-limit": (["history", "--limit", "0"], "limit"),
    "unknown-task": (["status", "no-such-task"], "no task"),
    "unknown-provider": (["generate", PROMPT, "--provider", "runway"], "runway"),
    "unknown-model": (["generate", PROMPT, "--model", "sora-2"], "sora-2"),
}


@pytest.fixture(scope="module")
def invalid_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[subprocess.CompletedProcess[str], Path]]:
    """Every invalid invocation, run in parallel (each in its own home) to keep the suite quick."""

    def one(name: str) -> tuple[str, subprocess.CompletedProcess[str], Path]:
        tmp = tmp_path_factory.mktemp(name)
        (tmp / "notes.txt").write_text("not an image")
        home = tmp / "home"
        args = [a.replace("{tmp}", str(tmp)) for a in INVALID[name][0]]
        return name, seedance(env_for(home), *args), home

    with ThreadPoolExecutor(max_workers=8) as pool:
        return {name: (proc, home) for name, proc, home in pool.map(one, INVALID)}


@pytest.mark.parametrize("case", list(INVALID))
def test_invalid_input_exits_2_with_one_line_and_stores_nothing(
    invalid_runs: dict[str, tuple[subprocess.CompletedProcess[str], Path]], case: str
) -> None:
    proc, home = invalid_runs[case]
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    line = one_line_error(proc)
    assert INVALID[case][1] in line, line
    assert "execution_expires_after" not in line and "first_frame" not in line  # option names, not fields
    assert proc.stdout == ""
    assert task_rows(home) == [] and sandbox_submits(home) == 0


def test_a_failed_task_exits_1_with_the_reason(env: dict[str, str]) -> None:
    proc = seedance(env, "generate", "a storm at sea #fail", *SMALL, "--json")
    assert proc.returncode == 1, proc.stderr
    assert_clean_stderr(proc)
    task = one_json(proc)
    assert task["status"] == "failed" and task["video_path"] is None
    assert task["error"]["code"] == "OutputVideoSensitiveContentDetected" and "refused" in task["error"]["message"]

    assert task["charge"]["state"] == "not_charged"  # the sandbox never charges
    plain = seedance(env, "status", task["id"])
    assert plain.returncode == 1 and "error: The sandbox refused" in plain.stdout
    assert "billing: not charged" in plain.stdout and "estimated cost" not in plain.stdout


# -- crashes -----------------------------------------------------------------------------------------------


def _lines(stream: Any, sink: queue.Queue[str]) -> None:
    for line in stream:
        sink.put(line)


def test_sigkill_after_queued_then_status_finishes_with_one_submit(home: Path) -> None:
    env = env_for(home, SEEDANCE_SANDBOX_SPEED="2")  # ~2 s task: the kill lands mid-task
    proc = subprocess.Popen([SEEDANCE, "generate", PROMPT, *SMALL], env=env, cwd=home.parent,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_lines, args=(proc.stderr, lines), daemon=True).start()
    try:
        while True:  # "submitted task ID to sandbox" is printed once the provider accepted it
            line = lines.get(timeout=TIMEOUT)
            if line.startswith("submitted task "):
                task_id = line.split()[2]
                break
        (row,) = task_rows(home)
        assert row["id"] == task_id and row["remote_id"] and row["status"] == "queued"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(TIMEOUT)
        assert proc.stdout is not None
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    (row,) = task_rows(home)
    assert row["finished_at"] is None  # killed before it could finish

    status = seedance(env, "status", task_id, "--json", timeout=30)
    assert status.returncode == 0, status.stderr
    done = one_json(status)
    assert done["status"] == "succeeded" and Path(done["video_path"]).is_file()
    assert sandbox_submits(home) == 1  # never resubmitted
    assert [t["id"] for t in one_json(seedance(env, "history", "--json"))] == [task_id]


# -- users --------------------------------------------------------------------------------------------------


def test_users_never_see_each_others_tasks(home: Path) -> None:
    alice, bob = env_for(home, SEEDANCE_USER="cli:alice"), env_for(home, SEEDANCE_USER="cli:bob")
    task = one_json(seedance(alice, "generate", PROMPT, *SMALL, "--no-wait", "--json"))
    assert task["user"] == "cli:alice"

    for args in (["status", task["id"], "--json"], ["cancel", task["id"], "--json"]):
        proc = seedance(bob, *args)
        assert proc.returncode == 2 and one_json(proc)["error"]["code"] == "task_not_found"
        assert task["id"] in one_line_error(proc) and "task" not in one_json(proc)  # never another's task
    assert one_json(seedance(bob, "history", "--json")) == []
    assert [t["id"] for t in one_json(seedance(alice, "history", "--json"))] == [task["id"]]
    (row,) = task_rows(home)
    assert row["user"] == "cli:alice" and row["status"] in ("queued", "running", "succeeded")


# -- a real provider's wire format, against a local fake ------------------------------------------------------

KEY = "sk-cli-test-secret-0123456789abcdef"


@pytest.fixture
def fake_ark() -> Iterator[Any]:
    fakes = pytest.importorskip("tests.fakes", reason="the fake provider servers (tests/fakes) are not available")
    clock = fakes.ManualClock()
    with fakes.FakeArk("byteplus", api_key=KEY, clock=clock) as server:
        server.media.secrets = (KEY,)
        server.test_clock = clock
        yield server


def test_byteplus_through_the_cli_never_leaks_the_key(fake_ark: Any, home: Path) -> None:
    env = env_for(home, SEEDANCE_PROVIDER="byteplus", SEEDANCE_API_KEY=KEY, SEEDANCE_BASE_URL=fake_ark.base_url)
    runs: list[subprocess.CompletedProcess[str]] = []

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        runs.append(seedance(env, *args))
        return runs[-1]

    bad = cli("generate", PROMPT, "--duration", "99", "--json")
    assert bad.returncode == 2 and fake_ark.requests == []  # refused before any request

    submitted = cli("generate", PROMPT, "--resolution", "720p", "--duration", "5", "--no-wait", "--json")
    assert submitted.returncode == 0, submitted.stderr
    task = one_json(submitted)
    assert task["provider"] == "byteplus" and task["remote_id"] in fake_ark.task_ids
    (record,) = fake_ark.requests_for("submit")
    assert record.headers["Authorization"] == f"Bearer {KEY}"
    assert record.json["duration"] == 5 and record.json["resolution"] == "720p"

    fake_ark.test_clock.advance(600)  # the fake task is done
    done = cli("status", task["id"], "--json")
    assert done.returncode == 0, done.stderr
    finished = one_json(done)
    assert finished["status"] == "succeeded" and Path(finished["video_path"]).is_file()
    probe_video(Path(finished["video_path"]))
    assert fake_ark.media.requests, "the video was not fetched from the media host"
    assert fake_ark.media.auth_leaks() == []
    assert fake_ark.submits == 1

    fake_ark.script("failed", error_code="OutputVideoSensitiveContentDetected",
                    error_message="The output video may contain sensitive content.")
    failing = one_json(cli("generate", "a storm", "--no-wait", "--json"))
    fake_ark.test_clock.advance(600)
    failed = cli("status", failing["id"], "--json")
    assert failed.returncode == 1
    assert one_json(failed)["error"]["code"] == "OutputVideoSensitiveContentDetected"
    assert "sensitive content" in one_json(failed)["error"]["message"]

    for proc in runs:
        assert KEY not in proc.stdout and KEY not in proc.stderr
        assert_clean_stderr(proc)
    for path in home.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def test_a_missing_key_for_a_real_provider_exits_2(home: Path) -> None:
    proc = seedance(env_for(home, SEEDANCE_PROVIDER="byteplus"), "generate", PROMPT)
    assert proc.returncode == 2 and "SEEDANCE_API_KEY" in one_line_error(proc)
    assert task_rows(home) == []


# -- issue 12: what a first-time user meets ----------------------------------------------------------------


def test_output_is_checked_before_anything_is_sent_and_a_missing_folder_is_made(env: dict[str, str], home: Path,
                                                                                 tmp_path: Path) -> None:
    """Bug 1: an existing folder as --output used to be found only after the provider was paid."""
    folder = tmp_path / "videos"
    folder.mkdir()
    proc = seedance(env, "generate", PROMPT, *SMALL, "--output", str(folder), "--json")
    assert proc.returncode == 2
    assert f"--output {folder} is a folder" in one_line_error(proc)
    assert one_json(proc) == {"error": {"code": "invalid_request", "message": one_line_error(proc)[10:]}}
    assert task_rows(home) == [] and sandbox_submits(home) == 0

    deep = tmp_path / "a" / "b" / "fox.mp4"
    made = seedance(env, "generate", PROMPT, *SMALL, "-o", str(deep))
    assert made.returncode == 0, made.stderr
    assert deep.read_bytes()[4:8] == b"ftyp"


@pytest.mark.parametrize(("argv", "code", "exit_code"), [
    (["generate", PROMPT, "--duration", "99", "--json"], "invalid_request", 2),
    (["status", "no-such-task", "--json"], "task_not_found", 2),
    (["frobnicate", "--json"], "usage_error", 2),
    (["history", "--limit", "0", "--json"], "invalid_request", 2),
])
def test_json_errors_are_one_json_object_on_stdout(env: dict[str, str], argv: list[str], code: str,
                                                   exit_code: int) -> None:
    """Bug 4: with --json, stdout holds one JSON value on exit 1 and 2 too."""
    proc = seedance(env, *argv)
    assert proc.returncode == exit_code
    line = one_line_error(proc)
    error = one_json(proc)
    assert error == {"error": {"code": code, "message": line.removeprefix("seedance: ")}}


def test_a_json_error_after_submitting_carries_the_task(monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str], home: Path) -> None:
    """Exit 1 with --json: the error, and the task that exists (so the user can follow it)."""
    from cli import app as cli
    from core.errors import ProviderError
    from core.models import Task, TaskStatus, VideoRequest

    monkeypatch.setenv("SEEDANCE_HOME", str(home))
    task = Task(id="abc123", user="cli:tester", provider="sandbox", model="seedance-2-0",
                request=VideoRequest(prompt="x"), status=TaskStatus.QUEUED)

    async def failing_run(args: Any, settings: Any, session: cli.Session) -> int:
        session.task = task
        raise ProviderError("the provider went away while waiting", code="provider_unavailable")

    monkeypatch.setattr(cli, "run", failing_run)
    assert cli.main(["generate", "x", "--json"]) == 1
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert data["error"] == {"code": "provider_unavailable", "message": "the provider went away while waiting"}
    assert data["task"]["id"] == "abc123" and data["task"]["status"] == "queued"
    assert err == "seedance: the provider went away while waiting\n"

    assert cli.main(["generate", "x"]) == 1  # without --json stdout stays empty
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("seedance: ")


def test_serve_refuses_to_start_with_nothing_to_serve(env: dict[str, str]) -> None:
    """Bug 5: no MCP token and no Discord token: refuse, as seedance-mcp --http does."""
    proc = seedance(env, "serve", "--host", "127.0.0.1", "--port", "0", timeout=30)
    assert proc.returncode == 2
    line = one_line_error(proc)
    assert "no MCP tokens configured" in line and "SEEDANCE_MCP_TOKENS" in line and "DISCORD_TOKEN" in line
    help_text = seedance(env, "serve", "--help").stdout
    assert "--host" in help_text and "--port" in help_text and "SEEDANCE_MCP_PORT" in help_text


def test_version_and_help_on_every_generate_option(env: dict[str, str]) -> None:
    import argparse

    from cli.parser import build_parser

    proc = seedance(env, "--version")
    assert proc.returncode == 0 and proc.stdout.startswith("seedance ") and proc.stdout.strip() != "seedance"
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    generate = commands.choices["generate"]
    missing = [a.dest for a in generate._actions if not a.help]
    assert missing == []


def test_history_past_the_end_says_so(env: dict[str, str]) -> None:
    assert "no tasks yet" in seedance(env, "history").stdout
    one_json(seedance(env, "generate", PROMPT, *SMALL, "--no-wait", "--json"))
    beyond = seedance(env, "history", "--offset", "999")
    assert beyond.returncode == 0
    assert "nothing at --offset 999" in beyond.stdout and "no tasks yet" not in beyond.stdout


def test_models_show_price_rules_and_all_providers(env: dict[str, str]) -> None:
    plain = seedance(env, "models")
    assert plain.returncode == 0 and "price: free (offline sandbox)" in plain.stdout
    assert "--all" in plain.stdout
    everything = seedance(env, "models", "--all")
    for model_id in ("seedance-2-0", "dreamina-seedance-2-0-260128", "doubao-seedance-2-0-260128", "seedance-2.0",
                     "doubao-seedance-2.0"):
        assert f" {model_id} " in everything.stdout
    assert "$2.40 per million with audio, $1.20 silent; flex half price" in everything.stdout
    assert "$0.01 per credit" in everything.stdout and "USD price unknown" in everything.stdout
    specs = one_json(seedance(env, "models", "--all", "--json"))
    assert {s["provider"] for s in specs} == {"sandbox", "byteplus", "volcengine", "apiyi", "acedata",
                                              "seedanceapi", "apimart"}
    assert all(s["price"]["rule"] for s in specs)


def test_progress_line_time_left_and_percent_agree() -> None:
    import asyncio
    import io

    from cli.progress import ProgressLine, progress_figures
    from core.models import Task, TaskStatus, VideoRequest
    from core.scheduling import Progress

    task = Task(id="t1", user="u", provider="sandbox", model="seedance-2-0", request=VideoRequest(prompt="x"),
                status=TaskStatus.RUNNING)
    assert progress_figures(task, Progress(30.0, 60.0, 0.5, 90.0, False)) == (25, 90.0)
    assert progress_figures(task, Progress(40.0, 60.0, 0.97, 0.0, False))[0] == 99
    reported = task.model_copy(update={"progress": 0.5})
    assert progress_figures(reported, Progress(40.0, 100.0, 0.5, 60.0, False)) == (50, 40.0)
    stream = io.StringIO()
    asyncio.run(ProgressLine(stream)(task, Progress(30.0, 60.0, 0.5, 90.0, False)))
    assert "about 90s left (25%)" in stream.getvalue()


def test_progress_line_shows_a_waiting_task_s_place_in_line() -> None:
    import asyncio
    import io

    from cli.progress import ProgressLine
    from core.models import QueuePlace, Task, TaskStatus, VideoRequest
    from core.scheduling import Progress

    task = Task(id="t1", user="u", provider="sandbox", model="seedance-2-0", request=VideoRequest(prompt="x"),
                status=TaskStatus.WAITING, queue=QueuePlace(yours=1, overall=2, waiting=5))
    stream = io.StringIO()
    line = ProgressLine(stream)
    asyncio.run(line(task, Progress(3.0, 60.0, 0.0, None, False)))
    asyncio.run(line(task, Progress(4.0, 60.0, 0.0, None, False)))  # same place: no second line
    moved = task.model_copy(update={"queue": QueuePlace(yours=1, overall=1, waiting=4)})
    asyncio.run(line(moved, Progress(5.0, 60.0, 0.0, None, False)))
    assert stream.getvalue().splitlines() == [
        "t1: waiting, 2nd in line (5 waiting); nothing was sent or paid yet",
        "t1: waiting, 1st in line (4 waiting); nothing was sent or paid yet",
    ]
