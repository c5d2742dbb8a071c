"""The Ark task format shared by the Ark hosts (`ark.py`) and AceData, whose body is Ark-style.

Building ``content[]`` and the generation fields of a create body, the one Ark status table, a task
object (GET body or list item) as a `RemoteTask`, a list page, and an Ark error body.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx

from core.models import TaskError, TaskStatus, VideoRequest
from core.providers.base import RemoteTask, malformed, present
from core.providers.readers import integer, mapping, number, unix_datetime, verbatim

logger = logging.getLogger(__name__)

TASKS_PATH = "/contents/generations/tasks"

# The one status table (providers.md §1.8). Anything else is logged and treated as still running:
# the task's own execution_expires_after deadline ends it if it never moves on.
ARK_STATUS: dict[str, TaskStatus] = {
    "queued": TaskStatus.QUEUED,
    "running": TaskStatus.RUNNING,
    "succeeded": TaskStatus.SUCCEEDED,
    "failed": TaskStatus.FAILED,
    "expired": TaskStatus.EXPIRED,
    "cancelled": TaskStatus.CANCELLED,
}

# Parameters a task object echoes back; kept in `RemoteTask.extra` (reconciling compares them).
_ECHOED = (
    "model",
    "resolution",
    "ratio",
    "duration",
    "seed",
    "generate_audio",
    "service_tier",
    "draft",
    "safety_identifier",
)


def build_content(request: VideoRequest) -> list[dict[str, Any]]:
    """The Ark ``content[]`` array: the prompt, then images, videos and audio, each with its role.

    Roles are always written out: an image without a role next to a reference video counts as a
    first frame and makes Ark refuse the mix (providers.md §1.4), and AceData requires them.
    """
    content: list[dict[str, Any]] = []
    if request.prompt:
        content.append({"type": "text", "text": request.prompt})
    for image in request.images:
        content.append({"type": "image_url", "image_url": {"url": image.url}, "role": image.role.value})
    for video in request.videos:
        content.append({"type": "video_url", "video_url": {"url": video.url}, "role": "reference_video"})
    for audio in request.audios:
        content.append({"type": "audio_url", "audio_url": {"url": audio.url}, "role": "reference_audio"})
    return content


def generation_fields(request: VideoRequest, *, camera_fixed_key: str = "camera_fixed") -> dict[str, Any]:
    """The top-level generation parameters that are set; ``None`` means "the model's default" and is omitted."""
    values: dict[str, Any] = {
        "resolution": request.resolution,
        "ratio": request.ratio,
        "duration": request.duration,
        "generate_audio": request.generate_audio,
        "seed": request.seed,
        camera_fixed_key: request.camera_fixed,
        "watermark": request.watermark,
        # Sent only when asked for: false is the default, and Ark refuses the field next to draft:true.
        "return_last_frame": True if request.return_last_frame else None,
        "service_tier": request.service_tier,
        "draft": request.draft,
        "execution_expires_after": request.execution_expires_after,
        "safety_identifier": request.safety_identifier,
    }
    return present(**values)


def parse_status(provider: str, raw: Any, table: dict[str, TaskStatus], remote_id: str) -> TaskStatus:
    """Map a provider status word through ``table``; an unknown word means "still running"."""
    if not isinstance(raw, str):
        raise malformed(provider, f"task {remote_id} has no status")
    status = table.get(raw.strip().lower())
    if status is None:
        logger.warning("%s: task %s has an unknown status %r; treating it as running", provider, remote_id, raw)
        return TaskStatus.RUNNING
    return status


def task_error(status: TaskStatus, raw_error: Any) -> TaskError | None:
    """The task's error in our vocabulary; failed and expired tasks always get one, even if the provider is silent."""
    error = mapping(raw_error)
    code = error.get("code")
    message = error.get("message")
    if code or message:
        return TaskError(
            code=str(code) if code else status.value,
            message=" ".join(str(message).split()) if message else f"the task {status.value}",
        )
    if status is TaskStatus.FAILED:
        return TaskError(code="failed", message="the provider reported the task as failed without a reason")
    if status is TaskStatus.EXPIRED:
        return TaskError(code="expired", message="the task did not finish before its execution deadline")
    return None


def parse_ark_task(provider: str, data: Any, *, remote_id: str | None = None) -> RemoteTask:
    """One Ark task object (GET body or list item) as a `RemoteTask`.

    Every field but ``status`` may be missing or null: running tasks carry no ``content`` or
    ``usage``, and successful ones may leave ``error`` out instead of sending null. ``updated_at``
    is the time of the latest status change, so it is the finish time only once the status is final.
    """
    if not isinstance(data, dict):
        raise malformed(provider, "a task is not a JSON object")
    task_id = verbatim(data.get("id")) or remote_id
    if task_id is None:
        raise malformed(provider, "a task has no id")
    raw_status = data.get("status")
    status = parse_status(provider, raw_status, ARK_STATUS, task_id)
    content = mapping(data.get("content"))
    usage = mapping(data.get("usage"))
    extra: dict[str, Any] = {"raw_status": raw_status}
    extra.update({key: data[key] for key in _ECHOED if data.get(key) is not None})
    return RemoteTask(
        remote_id=task_id,
        status=status,
        video_url=verbatim(content.get("video_url")),
        last_frame_url=verbatim(content.get("last_frame_url")),
        actual_cost=number(usage.get("completion_tokens")),
        error=task_error(status, data.get("error")),
        created_at=unix_datetime(data.get("created_at")),
        finished_at=unix_datetime(data.get("updated_at")) if status.is_final else None,
        extra=extra,
    )


def list_page(provider: str, body: Any, status_code: int | None = None) -> tuple[list[Any], int | None]:
    """``(items, total)`` of a list answer ``{"total", "items"}``; ``total`` is None when absent."""
    if not isinstance(body, dict):
        raise malformed(provider, "the task list is not a JSON object", status_code)
    items = body.get("items", [])  # an empty page may leave ``items`` out
    if items is None:
        items = []
    if not isinstance(items, list):
        raise malformed(provider, "the task list has no items array", status_code)
    total = body.get("total")
    return items, integer(total)


def error_parts(response: httpx.Response) -> tuple[str | None, str | None]:
    """``(code, message)`` from an OpenAI-style ``{"error": {...}}`` body; ``(None, None)`` if it is not one."""
    try:
        body = json.loads(response.content or b"null")
    except ValueError:
        return None, None
    error = mapping(body.get("error")) if isinstance(body, dict) else {}
    code, message = error.get("code"), error.get("message")
    if not error and isinstance(body, dict):
        message = body.get("message")
    return (str(code) if code else None), (str(message) if message else None)
