"""The built-in offline provider: the real state machine, real MP4s, no key, no network.

Each task is a small JSON file under ``<home>/sandbox/`` holding its request and creation time,
so its state survives restarts and is shared by every process, exactly like a remote provider's.
Its status follows the clock: queued for a moment, running for a few seconds, then succeeded.
The video is rendered when it is first fetched, at the size the real model would give for the
asked resolution and ratio, starting on the first-frame image and ending on the last-frame image
when given (a ``data:`` URL is decoded; a web address is never fetched: a placeholder says so in
the picture), with the prompt drawn on it. A prompt containing ``#fail`` ends in a failed task (as
an output-moderation refusal would), so the failure path can be tried offline too.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from core import catalog
from core.errors import InvalidRequestError, NotSupportedError, TaskNotFoundError
from core.http import HttpClient
from core.models import TaskError, TaskStatus, VideoRequest
from core.providers.base import Provider, RemoteTask
from core.sandbox.images import load_still, output_size
from core.sandbox.render import render_last_frame, render_video

QUEUED_SECONDS = 1.0
RUNNING_BASE_SECONDS = 2.0
RUNNING_PER_VIDEO_SECOND = 0.2
FAIL_MARKER = "#fail"
URL_SCHEME = "sandbox://"


class SandboxProvider(Provider):
    name: ClassVar[str] = "sandbox"
    supports_cancel: ClassVar[bool] = True
    supports_reconcile: ClassVar[bool] = True

    def __init__(self, *, http: HttpClient, home: Path, speed: float = 1.0, **_: Any) -> None:
        super().__init__(http=http, api_key="", base_url=URL_SCHEME)
        self._dir = home / "sandbox"
        self._speed = speed

    def __repr__(self) -> str:
        return f"<SandboxProvider dir={str(self._dir)!r}>"

    def timings(self, request: VideoRequest) -> tuple[float, float]:
        """(queued, running) seconds for this request."""
        duration = request.duration if request.duration and request.duration > 0 else 5
        running = RUNNING_BASE_SECONDS + RUNNING_PER_VIDEO_SECOND * duration
        return QUEUED_SECONDS / self._speed, running / self._speed

    def expected_seconds(self, request: VideoRequest) -> float | None:
        return sum(self.timings(request))

    async def submit(self, request: VideoRequest, *, callback_url: str | None = None) -> str:
        if request.model is None:
            raise InvalidRequestError("model: the sandbox needs a resolved request", field="model")
        remote_id = "sbx-" + time.strftime("%Y%m%d%H%M%S", time.gmtime()) + "-" + secrets.token_hex(4)
        record = {"request": request.model_dump(mode="json"), "created": time.time(), "cancelled": False}
        self._write(remote_id, record)
        return remote_id

    async def get(self, remote_id: str, *, model: str | None = None) -> RemoteTask:
        record = self._read(remote_id)
        request = VideoRequest.model_validate(record["request"])
        created = float(record["created"])
        queued, running = self.timings(request)
        elapsed = time.time() - created
        base = {
            "remote_id": remote_id,
            "created_at": datetime.fromtimestamp(created, UTC),
            "prompt": request.prompt,
        }
        if record.get("cancelled"):
            return RemoteTask(status=TaskStatus.CANCELLED, **base)  # type: ignore[arg-type]
        if elapsed < queued:
            return RemoteTask(status=TaskStatus.QUEUED, progress=0.0, **base)  # type: ignore[arg-type]
        if elapsed < queued + running:
            progress = (elapsed - queued) / running
            return RemoteTask(status=TaskStatus.RUNNING, progress=progress, **base)  # type: ignore[arg-type]
        if FAIL_MARKER in request.prompt.lower():
            error = TaskError(
                code="OutputVideoSensitiveContentDetected",
                message="The sandbox refused this video, as a provider's moderation would "
                "(the prompt asked for #fail).",
            )
            return RemoteTask(status=TaskStatus.FAILED, error=error, **base)  # type: ignore[arg-type]
        _, cost = catalog.estimate_cost(request, self.name)
        return RemoteTask(
            status=TaskStatus.SUCCEEDED,
            video_url=f"{URL_SCHEME}{remote_id}/video.mp4",
            last_frame_url=f"{URL_SCHEME}{remote_id}/last_frame.png" if request.return_last_frame else None,
            actual_cost=cost,
            progress=1.0,
            **base,  # type: ignore[arg-type]
        )

    async def cancel(self, remote_id: str, *, model: str | None = None) -> None:
        record = self._read(remote_id)
        request = VideoRequest.model_validate(record["request"])
        queued, _ = self.timings(request)
        if record.get("cancelled"):
            raise NotSupportedError("this task is already cancelled")
        if time.time() - float(record["created"]) >= queued:
            raise NotSupportedError("only a queued task can be cancelled; this one is already running")
        record["cancelled"] = True
        self._write(remote_id, record)

    async def find_submitted(self, request: VideoRequest, *, since: datetime) -> list[RemoteTask]:
        found = []
        if not self._dir.is_dir():
            return []
        for path in sorted(self._dir.glob("sbx-*.json")):
            record = json.loads(path.read_text())
            if float(record["created"]) >= since.timestamp() - 1 and record["request"] == request.model_dump(
                mode="json"
            ):
                found.append(await self.get(path.stem))
        return found

    async def download(self, url: str, dest: Path, *, max_bytes: int) -> int:
        remote_id, _, name = url.removeprefix(URL_SCHEME).partition("/")
        record = self._read(remote_id)
        request = VideoRequest.model_validate(record["request"])
        video = self._dir / f"{remote_id}.mp4"
        if not video.exists():
            await asyncio.to_thread(self._render, request, video)
        if name == "last_frame.png":
            tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.part")
            await asyncio.to_thread(render_last_frame, video, tmp)
            os.chmod(tmp, 0o600)
            os.replace(tmp, dest)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.part")
            tmp.write_bytes(video.read_bytes())
            os.chmod(tmp, 0o600)
            os.replace(tmp, dest)
        return dest.stat().st_size

    def _render(self, request: VideoRequest, video: Path) -> None:
        spec = catalog.get_model(self.name, request.model)
        resolution = request.resolution or spec.default_resolution
        first_input, last_input = request.first_frame(), request.last_frame()
        first = load_still(first_input.url) if first_input else None
        last = load_still(last_input.url) if last_input else None
        ratio = request.ratio or (spec.frame_ratio if first and spec.frame_ratio else spec.default_ratio)
        shape = first.image.size if first and first.image else None
        ratio, width, height = output_size(spec, resolution, ratio, shape)
        duration = request.duration if request.duration and request.duration > 0 else spec.default_duration
        seed = request.seed if request.seed is not None and request.seed >= 0 else 0
        label = f"SANDBOX · {spec.id} · {resolution} {ratio} · {duration} s"
        render_video(
            video,
            width=width,
            height=height,
            duration=duration,
            audio=bool(request.generate_audio),
            prompt=request.prompt,
            seed=seed,
            first_frame=first.picture(width, height, "first frame") if first else None,
            last_frame=last.picture(width, height, "last frame") if last else None,
            label=label,
            camera_fixed=bool(request.camera_fixed),
        )

    def _path(self, remote_id: str) -> Path:
        if not remote_id.startswith("sbx-") or "/" in remote_id or ".." in remote_id:
            raise TaskNotFoundError(f"sandbox has no task {remote_id!r}")
        return self._dir / f"{remote_id}.json"

    def _read(self, remote_id: str) -> dict[str, Any]:
        path = self._path(remote_id)
        try:
            data: dict[str, Any] = json.loads(path.read_text())
        except FileNotFoundError:
            raise TaskNotFoundError(f"sandbox has no task {remote_id!r}") from None
        return data

    def _write(self, remote_id: str, record: dict[str, Any]) -> None:
        self._dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self._path(remote_id)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, path)
