"""Tool results as text: what an assistant reads over stdio and over HTTP, and progress that agrees."""

from __future__ import annotations

from pathlib import Path

from core.config import Settings
from core.links import MediaLinks
from core.models import Task, TaskStatus, VideoRequest
from core.scheduling import Progress
from core.service import VideoService
from mcp_server.results import progress_figures, task_result
from mcp_server.state import AppState


async def _finished(service: VideoService) -> Task:
    task = await service.submit("mcp:alice", VideoRequest(prompt="a paper boat", resolution="480p", duration=4))
    return await service.wait("mcp:alice", task.id, timeout=30)


async def test_over_http_a_result_gives_the_signed_link_not_a_server_path(
    settings: Settings, service: VideoService, tmp_path: Path
) -> None:
    """Bug 6: "Saved on this computer: /srv/..." means nothing to a remote caller."""
    task = await _finished(service)
    assert task.video_path
    links = MediaLinks(b"k" * 32, settings.media_dir, "http://127.0.0.1:8000")
    # expose_paths as a loopback `seedance serve` sets it: the structured path may stay, the words may not.
    remote = AppState(settings=settings, http=True, links=links, expose_paths=True)
    result = await task_result(remote, service, task)
    text = result.content[0].text  # type: ignore[union-attr]
    link = links.url_for(task.video_path)
    assert link and f"Video ready: {link}" in text
    assert "Saved on this computer" not in text and task.video_path not in text
    assert "video_path" not in result.structured_content["next_step"]  # type: ignore[index]

    local = AppState(settings=settings)
    text = (await task_result(local, service, task)).content[0].text  # type: ignore[union-attr]
    assert f"Saved on this computer: {task.video_path}" in text


def _task(status: TaskStatus = TaskStatus.RUNNING, progress: float | None = None) -> Task:
    return Task(id="t", user="u", provider="sandbox", model="seedance-2-0", request=VideoRequest(prompt="x"),
                status=status, progress=progress)


def test_progress_percent_and_time_left_agree() -> None:
    # Our estimate: 30 s in, 90 s left -> 25 %, not the 97 % cap or a fraction of another clock.
    percent, left = progress_figures(_task(), Progress(30.0, 60.0, 0.5, 90.0, False))
    assert (percent, left) == (25.0, 90.0)
    # Nothing left by the estimate: never "0 s left (40 %)".
    percent, left = progress_figures(_task(), Progress(60.0, 60.0, 0.4, 0.0, False))
    assert percent == 99.0 and left == 0.0
    # The provider reports 50 % after 40 s: about 40 s left, whatever our prior said.
    percent, left = progress_figures(_task(progress=0.5), Progress(40.0, 100.0, 0.5, 60.0, False))
    assert percent == 50.0 and left == 40.0
    # Running late: no time left to promise.
    percent, left = progress_figures(_task(), Progress(500.0, 60.0, 0.97, None, True))
    assert left is None and percent <= 99.0
