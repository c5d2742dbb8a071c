"""Structured tool output: the task JSON of the design, plus what an assistant needs to go on.

These models are the tools' ``outputSchema``; every structured result is validated against them
by the SDK, so a field renamed here is a contract change for MCP clients (design.md, "The task as
JSON").
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Status = Literal["waiting", "pending", "queued", "running", "succeeded", "failed", "expired", "cancelled"]


class CostOut(BaseModel):
    unit: Literal["tokens", "credits"] = Field(description="the provider's own unit")
    estimated: float | None = None
    actual: float | None = None
    usd_estimated: float | None = Field(None, description="in US dollars; null where no price is published")
    usd_actual: float | None = Field(None, description="in US dollars; null where no price is published")


class ChargeOut(BaseModel):
    state: Literal["charged", "not_charged", "may_have_been_charged"]
    text: str = Field(description="says plainly whether the provider billed the task, for the user")


class QueueOut(BaseModel):
    """Where a waiting task stands in line (1-based); nothing was sent or paid yet."""

    yours: int = Field(description="place among the caller's own waiting tasks")
    overall: int = Field(description="place in the whole queue it waits in")
    waiting: int = Field(description="how many tasks wait in that queue in all")


class ErrorOut(BaseModel):
    code: str
    message: str


class ShotOut(BaseModel):
    """One shot of a story: its task and how far it got."""

    index: int = Field(description="1-based place in the story")
    task_id: str
    status: Status
    prompt: str
    progress_percent: float
    video_link: str | None = None
    error: ErrorOut | None = None


class TaskOut(BaseModel):
    """One task as design.md's task JSON, plus guidance for the assistant."""

    id: str
    user: str
    provider: str
    model: str
    remote_id: str | None = None
    status: Status
    prompt: str
    params: dict[str, Any] = Field(default_factory=dict)
    video_url: str | None = Field(None, description="the provider's link (usually expires after 24 h)")
    video_path: str | None = Field(None, description="the video file on this computer, when the server shares it")
    last_frame_url: str | None = None
    last_frame_path: str | None = None
    cost: CostOut
    error: ErrorOut | None = None
    charge: ChargeOut | None = Field(None, description="once the task is done: whether it was billed")
    created_at: str
    updated_at: str
    finished_at: str | None = None
    queue: QueueOut | None = Field(None, description="a waiting task's place in line")
    # What the MCP server adds to the task JSON:
    done: bool = Field(description="true when the task will not change any more")
    video_link: str | None = Field(
        None, description="the best link to give the user: served by this server in HTTP mode, else the provider's"
    )
    last_frame_link: str | None = None
    progress_percent: float | None = Field(None, description="an estimate while the task runs")
    seconds_left: float | None = Field(None, description="estimated seconds until done; null when it runs late")
    poll_after_seconds: int | None = Field(
        None, description="when not done: call get_video_task after about this many seconds"
    )
    next_step: str = Field(description="what to do next, in one sentence")
    # A story (generate_story) comes back in this shape too:
    kind: Literal["task", "story"] = Field("task", description="story: one long video made of `shots`")
    shots: list[ShotOut] | None = Field(None, description="a story's shots in order, each with its progress")


class TaskListOut(BaseModel):
    tasks: list[TaskOut]
    total: int | None = Field(
        None, description="how many of this user's tasks match the filter, given when this page reaches the end "
        "(null while has_more is true: counting every page would be slow)"
    )
    has_more: bool = Field(description="true when older tasks (matching the filter) follow this page")
    offset: int
    next_step: str


class PriceOut(BaseModel):
    unit: Literal["tokens", "credits"]
    usd_per_million_tokens: float | None = None
    usd_per_million_tokens_silent: float | None = None
    table: list[dict[str, Any]] | None = None
    per_second: list[dict[str, Any]] | None = None
    usd_per_credit: float | None = None
    rule: str | None = Field(None, description="the price rule in words, with US dollars where published")


class ModelOut(BaseModel):
    """One model as a provider serves it (the catalog's `ModelSpec.to_json`)."""

    id: str
    provider: str
    label: str
    family: str
    default: bool
    modes: list[str] = Field(description="text, first_frame, first_last_frame, reference")
    resolutions: list[str]
    default_resolution: str
    ratios: list[str]
    default_ratio: str
    durations: list[int] | None = None
    duration_range: list[int] | None = None
    auto_duration: bool
    default_duration: int
    audio: bool
    default_audio: bool | None = None
    max_images: int
    max_reference_images: int
    max_reference_videos: int
    max_reference_audios: int
    audio_alone: bool
    camera_fixed: bool
    watermark: bool
    seed: bool
    return_last_frame: bool
    flex: bool
    draft: bool
    execution_expiry: bool
    data_url_images: bool
    max_prompt_chars: int
    price: PriceOut


class ModelListOut(BaseModel):
    default_provider: str
    models: list[ModelOut]
    next_step: str


class EstimateOut(BaseModel):
    provider: str
    model: str
    unit: Literal["tokens", "credits"]
    estimated: float = Field(description="the estimated amount in `unit`")
    usd: float | None = Field(None, description="the estimate in US dollars; null where no price is published")
    price_rule: str = Field(description="how the model is billed, in words")
    params: dict[str, Any] = Field(description="the request with every default filled in")
    next_step: str
