"""`seedance story SHOT SHOT...`, run as a subprocess: one long video from shots, `--json`, exit codes,
`status` following a story id, and refusals before anything is stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.sandbox.render import probe_video
from tests.core.test_cli import SEEDANCE, env_for, one_json, one_line_error, sandbox_submits, seedance, task_rows

pytestmark = pytest.mark.skipif(not SEEDANCE, reason="the seedance console script is not installed in this venv")

SMALL = ["--resolution", "480p", "--duration", "4"]
SLOW = 120.0


def test_story_json_makes_one_joined_video(home: Path, tmp_path: Path) -> None:
    env = env_for(home)
    copy = tmp_path / "out" / "story.mp4"
    proc = seedance(env, "story", "a lighthouse at dawn", "the sea at noon", *SMALL, "--audio", "--json",
                    "--output", str(copy), timeout=SLOW)
    assert proc.returncode == 0, proc.stderr
    story = one_json(proc)
    assert story["kind"] == "story" and story["status"] == "succeeded" and len(story["shots"]) == 2
    assert [s["progress"] for s in story["shots"]] == [1.0, 1.0]
    info = probe_video(Path(story["video_path"]))
    assert abs(info.duration - 8) <= 2 / 24 and info.has_audio
    assert copy.read_bytes() == Path(story["video_path"]).read_bytes()
    assert sandbox_submits(home) == 2


def test_a_failed_story_exits_1_and_status_follows_a_story_id(home: Path) -> None:
    env = env_for(home)
    started = seedance(env, "story", "the first shot", "refused #fail", *SMALL, "--no-wait", "--json")
    assert started.returncode == 0, started.stderr
    story_id = one_json(started)["id"]
    followed = seedance(env, "status", story_id, "--json", timeout=SLOW)
    assert followed.returncode == 1
    story = one_json(followed)
    assert story["id"] == story_id and story["status"] == "failed" and story["error"]["code"] == "shot_failed"
    plain = seedance(env, "status", story_id, "--no-wait")
    assert plain.returncode == 1 and "shot 2" in plain.stdout and "failed" in plain.stdout


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["only one shot"], "2 to 6 shots"),
        (["one", "two", "--reference-image", "https://example.com/a.png"], "only a first frame"),
        (["one", "two", "--output", "/", "--no-wait"], "--output"),
    ],
)
def test_invalid_stories_exit_2_before_anything_is_stored(home: Path, args: list[str], words: str) -> None:
    proc = seedance(env_for(home), "story", *args, *SMALL)
    assert proc.returncode == 2
    assert words in one_line_error(proc)
    assert task_rows(home) == [] and sandbox_submits(home) == 0


def test_retry_makes_only_the_failed_shot_again_with_a_new_prompt(home: Path) -> None:
    env = env_for(home)
    failed = seedance(env, "story", "the first shot", "refused #fail", *SMALL, "--json", timeout=SLOW)
    assert failed.returncode == 1
    story_id = one_json(failed)["id"]
    assert sandbox_submits(home) == 2
    retried = seedance(env, "retry", story_id, "--prompt", "the sea at noon", "--json", timeout=SLOW)
    assert retried.returncode == 0, retried.stderr
    story = one_json(retried)
    assert story["status"] == "succeeded" and story["shots"][1]["prompt"] == "the sea at noon"
    assert sandbox_submits(home) == 3, "only the failed shot was sent again"
    again = seedance(env, "retry", story_id)
    assert again.returncode == 2 and "only a failed story can be retried" in one_line_error(again)


def test_cancel_takes_a_story_id(home: Path) -> None:
    env = env_for(home)
    started = seedance(env, "story", "one", "two", "three", *SMALL, "--no-wait", "--json")
    story_id = one_json(started)["id"]
    cancelled = seedance(env, "cancel", story_id, "--json")
    assert cancelled.returncode == 0, cancelled.stderr
    assert one_json(cancelled)["status"] == "cancelled"
    assert sandbox_submits(home) <= 1, "the waiting shots were never sent"
