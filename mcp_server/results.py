"""Tool results: the task as structured output, a short text for the assistant, and media links.

Every result carries the task JSON of the design (validated against `schemas.TaskOut` by the SDK),
a text summary that says what to do next, and for a finished video a `ResourceLink` (video/mp4)
and, when asked for, one to the last frame (image/png).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

from mcp.types import CallToolResult, ContentBlock, ResourceLink, TextContent

from core import catalog
from core.models import Task, TaskStatus
from core.progress import progress_figures as figures
from mcp_server.schemas import ChargeOut, TaskOut
from mcp_server.state import AppState

if TYPE_CHECKING:
    from core.scheduling import Progress
    from core.service import VideoService

TARGET = "mcp"  # the task's delivery target: results go back in the tool call itself
DEFAULT_WAIT = 40  # seconds a tool waits for a task: under every client's 60 s limit
MIN_POLL, MAX_POLL, LATE_POLL = 5, 30, 15


def _file_uri(path: str | None) -> str | None:
    if path and Path(path).is_file():
        return Path(path).resolve().as_uri()
    return None


def _http_url(url: str | None) -> str | None:
    # Only http(s) links mean anything to a user (the sandbox's are "sandbox://...").
    return url if url and url.startswith(("https://", "http://")) else None


def _links(state: AppState, task: Task) -> tuple[str | None, str | None]:
    """(video link, last frame link): ours in HTTP mode, else the provider's, else the local file."""
    if state.links is not None:
        video = state.links.url_for(task.video_path) or _http_url(task.video_url)
        frame = state.links.url_for(task.last_frame_path) or _http_url(task.last_frame_url)
        return video, frame
    video = _http_url(task.video_url) or _file_uri(task.video_path)
    frame = _http_url(task.last_frame_url) or _file_uri(task.last_frame_path)
    return video, frame


def next_step(task: Task, poll_after: int | None, *, local: bool = True) -> str:
    if task.status is TaskStatus.WAITING:
        place = f", {task.queue.in_line()}" if task.queue is not None else ""
        return (
            f"The task is waiting{place}; nothing was sent or paid yet. It starts by itself when a slot frees: "
            f'call get_video_task with task_id "{task.id}" in about {poll_after} s. Do not call generate_video '
            "again for this video (cancel_video_task removes it from the line for free)."
        )
    if not task.is_final:
        return (
            f'The video is still being made on the server and nothing is lost: call get_video_task with '
            f'task_id "{task.id}" in about {poll_after} s (it waits up to {DEFAULT_WAIT} s for the result). '
            "Do not call generate_video again for this video: that would pay for a second one."
        )
    if task.status is TaskStatus.SUCCEEDED:
        if task.video_path or task.video_url:
            if local:
                return "Done: give the user the video_link (and video_path when they are on this computer)."
            return "Done: give the user the video_link."
        reason = task.error.message if task.error else "no video came back"
        return f"The provider finished but the video could not be fetched ({reason}); tell the user."
    charged = catalog.charge(task)
    billing = f" Billing: {charged.text}." if charged is not None else ""
    if task.status is TaskStatus.CANCELLED:
        return f"The task was cancelled; nothing more will happen.{billing}"
    reason = task.error.message if task.error else f"the task {task.status.value}"
    return (
        f"The task {task.status.value} ({reason}); nothing more will happen.{billing} Tell the user; change the "
        "request if the reason says how before starting a new one."
    )


def progress_figures(task: Task, progress: Progress) -> tuple[float, float | None]:
    """(percent to one decimal, seconds left) that agree with each other (`core.progress.progress_figures`)."""
    percent, left = figures(task, progress)
    return round(percent, 1), left


async def task_out(state: AppState, service: VideoService, task: Task) -> TaskOut:
    data = task.to_json()
    if not state.expose_paths:  # a path on the server's disk means nothing to a remote caller
        data["video_path"] = data["last_frame_path"] = None
    usd_estimated, usd_actual = catalog.task_usd(task)
    data["cost"] = {**data["cost"], "usd_estimated": usd_estimated, "usd_actual": usd_actual}
    charged = catalog.charge(task)
    video_link, frame_link = _links(state, task)
    percent = seconds_left = poll_after = None
    if not task.is_final:
        percent, left = progress_figures(task, await service.progress(task))
        seconds_left = None if left is None else round(left, 1)
        wait = LATE_POLL if left is None else math.ceil(left)
        poll_after = max(MIN_POLL, min(wait, MAX_POLL))
    return TaskOut(
        **data,
        done=task.is_final,
        charge=None if charged is None else ChargeOut(state=charged.state, text=charged.text),
        video_link=video_link,
        last_frame_link=frame_link,
        progress_percent=percent,
        seconds_left=seconds_left,
        poll_after_seconds=poll_after,
        next_step=next_step(task, poll_after, local=not state.http),
    )


def _money(unit: str, amount: float, usd: float | None) -> str:
    return f"{catalog.format_amount(unit, amount)} ({catalog.format_usd(usd)})"


def summary(task: Task, out: TaskOut, *, local: bool = True) -> str:
    """A few lines an assistant (or a person reading the raw result) can act on.

    ``local``: the caller shares this computer (stdio), so a file path means something to them.
    Over HTTP the signed video_link is the way to the file, and no server path is offered.
    """
    head = f"Task {task.id} ({task.provider}, {task.model}): {task.status.value}"
    lines: list[str] = []
    cost = out.cost
    if task.status is TaskStatus.SUCCEEDED and task.is_final and out.video_link:
        lines.append(f"Video ready: {out.video_link}")
        if local and out.video_path:
            lines.append(f"Saved on this computer: {out.video_path}")
        if out.video_url and out.video_url != out.video_link and _http_url(out.video_url):
            lines.append(f"Provider link (expires about 24 h after it was made): {out.video_url}")
        if out.last_frame_link:
            lines.append(f"Last frame: {out.last_frame_link}")
        if cost.actual is not None:
            lines.append(f"Cost: {_money(cost.unit, cost.actual, cost.usd_actual)}")
        elif cost.estimated is not None:
            lines.append(f"Estimated cost: {_money(cost.unit, cost.estimated, cost.usd_estimated)}")
    elif task.status is TaskStatus.WAITING:
        if task.queue is not None:
            head += f", {task.queue.in_line()}"
    elif not task.is_final:
        left = "running late" if out.seconds_left is None else f"about {out.seconds_left:.0f} s left"
        head += f", {left}"
        if out.progress_percent is not None:
            head += f" ({out.progress_percent:.0f}%)"
        if cost.estimated is not None:
            lines.append(f"Estimated cost: {_money(cost.unit, cost.estimated, cost.usd_estimated)}")
    elif task.error:
        lines.append(f"Error [{task.error.code}]: {task.error.message}")
    lines.append(out.next_step)
    return "\n".join([head, *lines])


async def task_result(state: AppState, service: VideoService, task: Task) -> CallToolResult:
    out = await task_out(state, service, task)
    structured = out.model_dump(mode="json")
    content: list[ContentBlock] = [TextContent(type="text", text=summary(task, out, local=not state.http))]
    if out.done and out.video_link:
        size = Path(task.video_path).stat().st_size if task.video_path and Path(task.video_path).is_file() else None
        content.append(
            ResourceLink(
                type="resource_link", name=f"{task.id}.mp4", title=f"Seedance video {task.id}",
                uri=out.video_link, mime_type="video/mp4", size=size,
            )
        )
    if out.done and out.last_frame_link:
        content.append(
            ResourceLink(
                type="resource_link", name=f"{task.id}-last-frame.png", title=f"Last frame of {task.id}",
                uri=out.last_frame_link, mime_type="image/png",
            )
        )
    # The same JSON as text, for clients that ignore structured content.
    content.append(TextContent(type="text", text=json.dumps(structured, ensure_ascii=False)))
    if out.done and (task.target or "").startswith(TARGET):
        await service.mark_delivered(task.id, user=task.user)  # never for a task another front end must still deliver
    return CallToolResult(content=content, structured_content=structured)
