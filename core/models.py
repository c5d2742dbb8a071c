"""Provider-neutral models: what a user asks for (`VideoRequest`) and what a task is (`Task`).

No provider's JSON lives here; adapters in `core.providers` translate to and from these.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Resolution = Literal["480p", "720p", "1080p"]
RATIOS = ("16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "9:21", "adaptive")
MAX_PROMPT_CHARS = 4000
SEED_MAX = 2**32 - 1  # every provider takes seeds -1 (random) to this


class TaskStatus(StrEnum):
    WAITING = "waiting"  # in our own queue: stored, nothing sent, starts when a slot frees
    PENDING = "pending"  # row written, not yet accepted by the provider
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in _FINAL

    @property
    def is_active(self) -> bool:
        return not self.is_final


_FINAL = frozenset({TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.EXPIRED, TaskStatus.CANCELLED})


class ImageRole(StrEnum):
    FIRST_FRAME = "first_frame"
    LAST_FRAME = "last_frame"
    REFERENCE_IMAGE = "reference_image"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ImageInput(_Frozen):
    """An image by https URL or `data:` URL (local files are turned into data URLs by the service)."""

    url: str
    role: ImageRole = ImageRole.FIRST_FRAME


class MediaInput(_Frozen):
    """A reference video or audio clip, by URL."""

    url: str


class VideoRequest(_Frozen):
    """What the user asks for. ``None`` means "the model's default" (filled in by the catalog)."""

    prompt: str = ""
    model: str | None = None
    resolution: Resolution | None = None
    ratio: str | None = None
    duration: int | None = Field(default=None, description="seconds; -1 lets the model choose")
    generate_audio: bool | None = None
    seed: int | None = Field(default=None, ge=-1, le=SEED_MAX)
    camera_fixed: bool | None = None
    watermark: bool | None = None
    return_last_frame: bool = False
    service_tier: Literal["default", "flex"] | None = None
    draft: bool | None = None
    execution_expires_after: int | None = Field(default=None, ge=3600, le=259200)
    # Set by the service, not the user: a stable hash of the requesting user (Ark's documented
    # `safety_identifier`), which also tells one user's lost submit from another's when reconciling.
    safety_identifier: str | None = Field(default=None, max_length=64)
    images: tuple[ImageInput, ...] = ()
    videos: tuple[MediaInput, ...] = ()
    audios: tuple[MediaInput, ...] = ()

    @field_validator("prompt")
    @classmethod
    def _prompt_is_text(cls, value: str) -> str:
        # Control characters other than newline/tab are never meaningful in a prompt and can
        # corrupt terminals and logs; strip them rather than refuse the whole request.
        cleaned = "".join(ch for ch in value if ch in "\n\t" or ch.isprintable())
        return cleaned.strip()

    def params(self) -> dict[str, Any]:
        """The generation parameters without the prompt and media, for display and JSON."""
        data = self.model_dump(
            exclude={"prompt", "images", "videos", "audios", "model", "safety_identifier"}, exclude_none=True
        )
        if self.images:
            data["images"] = [{"url": _short_url(i.url), "role": i.role.value} for i in self.images]
        if self.videos:
            data["videos"] = [_short_url(v.url) for v in self.videos]
        if self.audios:
            data["audios"] = [_short_url(a.url) for a in self.audios]
        return data

    def first_frame(self) -> ImageInput | None:
        return next((i for i in self.images if i.role is ImageRole.FIRST_FRAME), None)

    def last_frame(self) -> ImageInput | None:
        return next((i for i in self.images if i.role is ImageRole.LAST_FRAME), None)

    def reference_images(self) -> tuple[ImageInput, ...]:
        return tuple(i for i in self.images if i.role is ImageRole.REFERENCE_IMAGE)


def _short_url(url: str) -> str:
    # data: URLs can be megabytes; the task JSON only needs to say one was given.
    if url.startswith("data:"):
        return url.split(",", 1)[0] + ",…"
    return url


class Cost(BaseModel):
    unit: Literal["tokens", "credits"] = "tokens"
    estimated: float | None = None
    actual: float | None = None
    usd_estimated: float | None = None  # US dollars, where the catalog knows a published price
    usd_actual: float | None = None


class QueuePlace(BaseModel):
    """A waiting task's place in line: among its owner's, and in its community's whole queue (1-based)."""

    yours: int
    overall: int
    waiting: int  # how many wait in that queue in all

    def in_line(self) -> str:
        """``2nd in line (5 waiting)``: the words every front end shows for a waiting task."""
        return f"{ordinal(self.overall)} in line ({self.waiting} waiting)"


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 22nd."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


class TaskError(BaseModel):
    code: str
    message: str


# Error codes of a task that provably reached no provider: nothing was charged, and sending the
# same request again (even under the same request key) is safe.
NEVER_SENT_CODES = frozenset({"not_submitted", "not_created"})


def utcnow() -> datetime:
    return datetime.now(UTC)


class Task(BaseModel):
    """One generation as the store keeps it. ``to_json`` is the public task JSON of the design."""

    id: str
    user: str
    provider: str
    model: str
    request: VideoRequest
    status: TaskStatus = TaskStatus.PENDING
    remote_id: str | None = None
    video_url: str | None = None
    video_path: str | None = None
    last_frame_url: str | None = None
    last_frame_path: str | None = None
    cost: Cost = Field(default_factory=Cost)
    error: TaskError | None = None
    progress: float | None = None  # 0..1 as the provider reports it, when it does
    target: str | None = None  # where a front end delivers the result, e.g. "discord:<channel>:<msg>"
    request_key: str | None = None  # caller's idempotency key (MCP request_id)
    scope: str | None = None  # the community the task counts against, e.g. "discord:<guild>"
    story_id: str | None = None  # a shot of this story
    shot_index: int | None = None  # 0-based
    after_task_id: str | None = None  # waits for this task (the story's previous shot) to succeed
    queue: QueuePlace | None = None  # where a waiting task stands in line (filled in when read)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    submitted_at: datetime | None = None
    finished_at: datetime | None = None
    delivered_at: datetime | None = None

    @property
    def prompt(self) -> str:
        return self.request.prompt

    @property
    def ended_without_video(self) -> bool:
        """Final with no video: failed, expired, cancelled, or succeeded but never saved."""
        return self.is_final and (self.status is not TaskStatus.SUCCEEDED or not self.video_path)

    @property
    def never_sent(self) -> bool:
        """Failed before any provider accepted it: not charged, and safe to send again."""
        return self.error is not None and self.error.code in NEVER_SENT_CODES

    @property
    def is_final(self) -> bool:
        """Final for the user: a succeeded task is final only once its video is on disk or failed to."""
        if self.status is TaskStatus.SUCCEEDED:
            return self.finished_at is not None
        return self.status.is_final

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user": self.user,
            "provider": self.provider,
            "model": self.model,
            "remote_id": self.remote_id,
            "status": self.status.value,
            "prompt": self.request.prompt,
            "params": self.request.params(),
            "video_url": self.video_url,
            "video_path": self.video_path,
            "last_frame_url": self.last_frame_url,
            "last_frame_path": self.last_frame_path,
            "cost": self.cost.model_dump(),
            "error": self.error.model_dump() if self.error else None,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            **({"queue": self.queue.model_dump()} if self.queue is not None else {}),
            **({"story_id": self.story_id, "shot": self.shot_index} if self.story_id else {}),
        }


class StoryStatus(StrEnum):
    """A story's status, derived from its shots (see `core.engine.story`)."""

    WAITING = "waiting"  # nothing sent yet: its first shot waits in our queue
    RUNNING = "running"  # shots are being made (or the joined video is being written)
    SUCCEEDED = "succeeded"  # every shot succeeded and the joined video is on disk
    FAILED = "failed"  # a shot (or the join) failed; `retry_story` makes that shot again
    CANCELLED = "cancelled"


class Story(BaseModel):
    """A long video made of 2–6 shots, each a task. ``to_json`` is the public story JSON."""

    id: str
    user: str
    status: StoryStatus
    shots: list[Task]  # the current attempt of each shot, in order
    progress: list[float] = Field(default_factory=list)  # per shot, 0..1 (filled in when read)
    attempts: int = 0  # tasks made for this story, retries included
    video_path: str | None = None  # the joined video
    cost: Cost = Field(default_factory=Cost)
    error: TaskError | None = None
    scope: str | None = None
    target: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    delivered_at: datetime | None = None

    @property
    def is_final(self) -> bool:
        """Final for now: joined, cancelled, or failed (until a retry makes it go on)."""
        return self.finished_at is not None

    @property
    def failed_shot(self) -> Task | None:
        """The first shot that ended without a video: the one `retry_story` makes again."""
        return next((task for task in self.shots if task.ended_without_video), None)

    def to_json(self) -> dict[str, Any]:
        shots = []
        for index, task in enumerate(self.shots):
            shot = task.to_json()
            shot["progress"] = self.progress[index] if index < len(self.progress) else task.progress
            shots.append(shot)
        done = [p for p in self.progress if p is not None]
        return {
            "kind": "story",
            "id": self.id,
            "user": self.user,
            "status": self.status.value,
            "progress": sum(done) / len(self.shots) if self.shots and done else 0.0,
            "shots": shots,
            "video_path": self.video_path,
            "cost": self.cost.model_dump(),
            "error": self.error.model_dump() if self.error else None,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }
