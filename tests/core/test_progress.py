"""One rule for percent and time left, shown by the CLI (whole percent) and MCP (one decimal)."""

from __future__ import annotations

from core.models import Task, TaskStatus, VideoRequest
from core.progress import progress_figures
from core.scheduling import Progress

TASK = Task(id="t1", user="u", provider="sandbox", model="seedance-2-0", request=VideoRequest(prompt="x"),
            status=TaskStatus.RUNNING)


def test_our_estimate_gives_percent_and_time_left_from_one_clock() -> None:
    assert progress_figures(TASK, Progress(30.0, 60.0, 0.5, 90.0, False)) == (25.0, 90.0)
    assert progress_figures(TASK, Progress(40.0, 60.0, 0.97, 0.0, False))[0] == 99.0


def test_the_provider_s_progress_decides_the_time_left() -> None:
    reported = TASK.model_copy(update={"progress": 0.5})
    assert progress_figures(reported, Progress(40.0, 100.0, 0.5, 60.0, False)) == (50.0, 40.0)


def test_a_late_task_has_no_time_left_and_never_reaches_100() -> None:
    assert progress_figures(TASK, Progress(100.0, 60.0, 1.5, None, True)) == (99.0, None)


def test_time_left_in_words() -> None:
    from core.progress import time_left_words

    assert time_left_words(TASK, 50.0, 40.0) == "about 40 s left (50%)"
    assert time_left_words(TASK, 50, 40.0, unit="s") == "about 40s left (50%)"
    assert time_left_words(TASK, 99.0, None) == "taking longer than usual (99%)"
    assert time_left_words(TASK, 98.6, 0.4) == "under a second left (99%)"
    done = TASK.model_copy(update={"status": TaskStatus.SUCCEEDED})
    assert time_left_words(done, 99.0, 0.0) == "fetching the video"
