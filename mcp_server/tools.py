# mypy: disable-error-code="valid-type"
# (the parameter types are built at run time from the catalog; mypy cannot follow them)
"""The six tools: generate, get, list, cancel, models, estimate.

No ``from __future__ import annotations`` here on purpose: the parameter types are built at run
time from the catalog (the configured providers' models and limits), and the SDK reads them from
the live annotations to publish the input schema.

A generation never runs inside a handler: `VideoService.submit` hands the provider call to a
service-owned task, and the handlers only *wait* on the task (bounded by ``wait_seconds``). If the
client gives up, the handler is cancelled and the task goes on; `get_video_task` picks it up.
"""

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from core import catalog
from core.errors import (
    InvalidRequestError,
    LimitReachedError,
    NotSupportedError,
    ProviderError,
    SeedanceError,
    TaskNotFoundError,
)
from core.models import Task, TaskStatus
from core.service import VideoService
from mcp_server.choices import Choices
from mcp_server.inputs import build_request
from mcp_server.results import DEFAULT_WAIT, TARGET, progress_figures, task_out, task_result
from mcp_server.schemas import EstimateOut, ModelListOut, ModelOut, TaskListOut, TaskOut
from mcp_server.state import AppState, NotAuthenticatedError


async def follow_story(ctx: Context, state: AppState, story_id: str, wait_seconds: int) -> CallToolResult:
    from mcp_server import story_tools  # imports this module: loaded on first use

    return await story_tools.follow_story(ctx, state, story_id, wait_seconds)


async def cancel_story(state: AppState, story_id: str) -> CallToolResult:
    from mcp_server import story_tools

    return await story_tools.cancel_story(state, story_id)

log = logging.getLogger("seedance.mcp")

MAX_WAIT = 50  # a tool call must end before the common 60 s client limit, with room to spare
STATUSES = ("pending", "queued", "running", "succeeded", "failed", "expired", "cancelled")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def invalid_message(exc: InvalidRequestError) -> str:
    """The error as one line that starts with the field it is about."""
    text = _one_line(str(exc))
    if exc.field and not text.startswith(exc.field):
        text = f"{exc.field}: {text}"
    return text


@contextlib.contextmanager
def tool_errors(*, submitted: Task | None = None, submitting: bool = False) -> Iterator[None]:
    """Turn core errors into one-line `ToolError`s that say what to do next.

    ``submitted``: the task exists, so whatever fails, the assistant must poll it, not start again.
    ``submitting``: an unexpected failure might have left a task behind: look before retrying.
    """
    try:
        yield
    except ToolError:
        raise
    except NotAuthenticatedError as exc:
        raise ToolError(f"not authenticated: {exc}") from None
    except InvalidRequestError as exc:
        suffix = "; nothing was sent and nothing was charged" if submitting else ""
        raise ToolError(invalid_message(exc) + suffix) from None
    except LimitReachedError as exc:
        raise ToolError(f"{_one_line(str(exc))} [{exc.code}]; nothing was sent and nothing was charged") from None
    except TaskNotFoundError as exc:
        raise ToolError(f"{_one_line(str(exc))} (list_video_tasks shows your tasks)") from None
    except (NotSupportedError, ProviderError, SeedanceError) as exc:
        if submitted is not None:
            raise ToolError(_keeps_running(submitted, f"{_one_line(str(exc))} [{exc.code}]")) from None
        if submitting and isinstance(exc, ProviderError):
            raise ToolError(
                f"the provider refused the request: {_one_line(str(exc))} [{exc.code}]; no video task was started"
            ) from None
        raise ToolError(f"{_one_line(str(exc))} [{exc.code}]") from None
    except Exception as exc:
        log.exception("tool failed unexpectedly")
        if submitted is not None:
            raise ToolError(_keeps_running(submitted, f"an internal error ({type(exc).__name__})")) from None
        if submitting:
            raise ToolError(
                f"an internal error ({type(exc).__name__}) happened while submitting; a task may have been "
                "created: call list_video_tasks to look for it before calling generate_video again"
            ) from None
        raise ToolError(f"an internal error ({type(exc).__name__}); see the server log") from None


def already_final(task: Task) -> str:
    """Why an ended task cannot be cancelled, in plain words."""
    if task.status is TaskStatus.CANCELLED:
        return f"task {task.id} has already been cancelled; nothing to cancel"
    return f"task {task.id} has already finished ({task.status.value}); nothing to cancel"


def _keeps_running(task: Task, what: str) -> str:
    return (
        f'{what} while waiting; task "{task.id}" was submitted and keeps running on the server: call '
        f'get_video_task with task_id "{task.id}" to follow it (do not call generate_video again)'
    )


class ProgressReporter:
    """Sends ``notifications/progress`` while a handler waits: a first one at once, then every few seconds.

    Progress is a percentage that only ever increases (the protocol requires it), with a message
    that says what the task is doing and how long it should still take.
    """

    def __init__(self, ctx: Context, task_id: str, interval: float) -> None:
        self._ctx = ctx
        self._task_id = task_id
        self._interval = interval
        self._last_at = -1e9
        self._last_value = -1.0
        self._last_status = ""

    async def _send(self, value: float, message: str) -> None:
        value = max(value, self._last_value + 0.01)
        self._last_value = value
        self._last_at = time.monotonic()
        try:
            await self._ctx.report_progress(round(value, 2), 100.0, message)
        except Exception:  # noqa: BLE001 - progress is a courtesy: never fail the call over it
            log.debug("progress notification failed", exc_info=True)

    async def __call__(self, task: Task, progress: Any) -> None:
        status = task.status.value
        if time.monotonic() - self._last_at < self._interval and status == self._last_status:
            return
        self._last_status = status
        percent, left = progress_figures(task, progress)
        if task.status.value == "succeeded":
            eta = "fetching the video"
        elif left is None:
            eta = f"taking longer than usual ({percent:.0f}%)"
        elif left < 1:
            eta = f"under a second left ({percent:.0f}%)"
        else:
            eta = f"about {left:.0f} s left ({percent:.0f}%)"
        await self._send(min(percent, 99.0), f"task {self._task_id}: {status}, {eta}")

    async def finish(self, task: Task) -> None:
        if task.is_final:
            await self._send(100.0, f"task {self._task_id}: {task.status.value}")


async def wait_for(ctx: Context, state: AppState, task: Task, user: str, wait_seconds: int) -> Task:
    """Wait at most ``wait_seconds`` for the task to end, reporting progress; the task is unaffected."""
    if task.is_final or wait_seconds <= 0:
        return task
    service = await state.service()
    reporter = ProgressReporter(ctx, task.id, state.progress_interval)
    task = await service.wait(user, task.id, timeout=wait_seconds, on_progress=reporter)
    await reporter.finish(task)
    return task


def one_of(values: tuple[str, ...]) -> Any:
    """``Literal[*values]`` built at run time: an enum in the JSON schema, checked on every call."""
    return Literal.__getitem__(values)  # type: ignore[attr-defined]


def _state(ctx: Context) -> AppState:
    state = ctx.request_context.lifespan_context
    assert isinstance(state, AppState)
    return state


def register_tools(server: MCPServer, choices: Choices) -> None:  # noqa: C901 - one closure per tool
    """Define the tools on ``server`` with the catalog's choices in their schema."""
    ModelId = one_of(choices.models)
    Resolution = one_of(choices.resolutions)
    Ratio = one_of(choices.ratios)
    Provider = one_of(choices.providers)
    Status = one_of(STATUSES)
    default = choices.default_spec
    low = -1 if choices.auto_duration else choices.duration_min
    cost_note = (
        "The configured provider is the offline sandbox: videos are free (and made locally)."
        if choices.free
        else "COSTS MONEY: every call that starts a task is billed by the provider; use estimate_video_cost "
        "first when the user has not agreed to the cost."
    )

    # Parameters shared by generate_video and estimate_video_cost.
    Prompt = Annotated[
        str,
        Field(
            max_length=choices.max_prompt_chars,
            description="What the video shows: subject, action, setting, camera movement, style. English or "
            "Chinese. May be empty only when a first_frame image is given.",
        ),
    ]
    EstimatePrompt = Annotated[
        str,
        Field(
            max_length=choices.max_prompt_chars,
            description="Optional: a price never depends on the words (a prompt given is checked as "
            "generate_video would).",
        ),
    ]
    ModelArg = Annotated[
        ModelId | None,
        Field(description=f"Model id; default {default.id}. list_video_models shows each model's limits."),
    ]
    ResolutionArg = Annotated[
        Resolution | None, Field(description=f"Output resolution; default {default.default_resolution}.")
    ]
    RatioArg = Annotated[
        Ratio | None,
        Field(description=f"Aspect ratio; default {default.default_ratio} (adaptive follows the first frame)."),
    ]
    DurationArg = Annotated[
        int | None,
        Field(
            ge=low,
            le=choices.duration_max,
            description=f"Length in seconds, {choices.duration_min}-{choices.duration_max} depending on the model "
            f"(default {default.default_duration})" + ("; -1 lets the model choose." if choices.auto_duration else "."),
        ),
    ]
    AudioArg = Annotated[bool | None, Field(description="Generate a soundtrack (models with audio only).")]
    SeedArg = Annotated[
        int | None, Field(ge=-1, le=catalog.SEED_MAX, description="Seed for repeatable results; -1 random.")
    ]
    CameraArg = Annotated[bool | None, Field(description="Keep the camera still (not every model).")]
    WatermarkArg = Annotated[bool | None, Field(description="Add the provider's watermark.")]
    FirstFrame = Annotated[
        str | None,
        Field(
            description="Image the video starts from: an https URL, a data:image/...;base64 URL, or a local "
            "file path (only when the server runs on the user's computer, over stdio)."
        ),
    ]
    LastFrame = Annotated[
        str | None, Field(description="Image the video ends on (needs first_frame); same forms as first_frame.")
    ]
    RefImages = Annotated[
        list[str] | None,
        Field(
            max_length=choices.max_reference_images,
            description="Reference images (style, character, product), same forms as first_frame. Cannot be "
            "combined with first_frame/last_frame.",
        ),
    ]
    RefVideos = Annotated[
        list[str] | None,
        Field(max_length=choices.max_reference_videos, description="Reference video clips as public https URLs."),
    ]
    RefAudios = Annotated[
        list[str] | None,
        Field(max_length=choices.max_reference_audios, description="Reference audio clips as public https URLs."),
    ]
    LastFrameArg = Annotated[bool, Field(description="Also return the video's last frame as a PNG (to chain clips).")]
    TierArg = Annotated[
        Literal["default", "flex"] | None,
        Field(description="flex: cheaper, slower queue (models with flex only)."),
    ]
    DraftArg = Annotated[bool | None, Field(description="Cheap 480p draft (models with draft only).")]
    ProviderArg = Annotated[
        Provider | None, Field(description=f"Which configured provider; default {choices.default_provider}.")
    ]
    WaitArg = Annotated[
        int,
        Field(
            ge=0,
            le=MAX_WAIT,
            description=f"Seconds to wait for the result before returning the running task (0-{MAX_WAIT}).",
        ),
    ]
    TaskIdArg = Annotated[str, Field(min_length=1, max_length=64, description="The task id (the `id` field).")]

    def request_fields(**kwargs: Any) -> dict[str, Any]:
        return {k: v for k, v in kwargs.items() if v is not None}

    @server.tool(
        title="Generate a video",
        description=(
            "Generate a short AI video with a ByteDance Seedance model from a prompt, optionally starting from an "
            "image (first_frame, last_frame) or guided by reference images, videos and audio. "
            f"{cost_note} A video takes about 1-5 minutes: this tool waits up to wait_seconds "
            f"(default {DEFAULT_WAIT}) with progress notifications and returns the finished video (link, "
            "local file path, ResourceLink), or the still-running task with poll_after_seconds and next_step: "
            "then call get_video_task with its id. Always pass a fresh request_id per video: if this call times "
            "out, calling again with the same request_id returns the same task instead of paying twice. "
            "Never call generate_video again for a video that is still running.\n\nModels:\n"
            + choices.model_summary()
        ),
        annotations=ToolAnnotations(
            title="Generate a video",
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=False,
            open_world_hint=True,
        ),
    )
    async def generate_video(
        prompt: Prompt,
        ctx: Context,
        model: ModelArg = None,
        resolution: ResolutionArg = None,
        ratio: RatioArg = None,
        duration: DurationArg = None,
        generate_audio: AudioArg = None,
        seed: SeedArg = None,
        camera_fixed: CameraArg = None,
        watermark: WatermarkArg = None,
        first_frame: FirstFrame = None,
        last_frame: LastFrame = None,
        reference_images: RefImages = None,
        reference_videos: RefVideos = None,
        reference_audios: RefAudios = None,
        return_last_frame: LastFrameArg = False,
        service_tier: TierArg = None,
        draft: DraftArg = None,
        provider: ProviderArg = None,
        request_id: Annotated[
            str | None,
            Field(
                min_length=1,
                max_length=200,
                description="Your idempotency key for this video (e.g. a UUID). The same request_id from the same "
                "user returns the existing task instead of starting (and paying for) another one.",
            ),
        ] = None,
        wait_seconds: WaitArg = DEFAULT_WAIT,
    ) -> Annotated[CallToolResult, TaskOut]:
        state = _state(ctx)
        with tool_errors(submitting=True):
            user = state.current_user()
            service = await state.service()
            request = build_request(
                remote=state.http,
                first_frame=first_frame,
                last_frame=last_frame,
                reference_images=reference_images,
                reference_videos=reference_videos,
                reference_audios=reference_audios,
                **request_fields(
                    prompt=prompt, model=model, resolution=resolution, ratio=ratio, duration=duration,
                    generate_audio=generate_audio, seed=seed, camera_fixed=camera_fixed, watermark=watermark,
                    return_last_frame=return_last_frame, service_tier=service_tier, draft=draft,
                ),
            )
            # A repeated request_id returns the task the first call started (the service checks it first).
            task = await service.submit(user, request, provider=provider, target=TARGET, request_key=request_id)
        with tool_errors(submitted=task):
            task = await wait_for(ctx, state, task, user, wait_seconds)
            return await task_result(state, service, task)

    @server.tool(
        title="Get a video task",
        description=(
            "The state of one of your video tasks; when it is finished, the video (link, local file path, "
            "ResourceLink) and the last frame if one was asked for. Free. While the task runs this tool waits up "
            f"to wait_seconds (default {DEFAULT_WAIT}) for it to finish, with progress notifications, so call it "
            "again (after poll_after_seconds) until `done` is true. A task keeps running on the server whatever "
            "happens to this call."
        ),
        annotations=ToolAnnotations(
            title="Get a video task", read_only_hint=True, idempotent_hint=True, open_world_hint=True
        ),
    )
    async def get_video_task(
        task_id: TaskIdArg, ctx: Context, wait_seconds: WaitArg = DEFAULT_WAIT
    ) -> Annotated[CallToolResult, TaskOut]:
        state = _state(ctx)
        if VideoService.is_story_id(task_id.strip()):  # a story (generate_story): its shots, then its video
            with tool_errors():
                return await follow_story(ctx, state, task_id.strip(), wait_seconds)
        with tool_errors():
            user = state.current_user()
            service = await state.service()
            task = await service.get(user, task_id.strip())
        with tool_errors(submitted=task):
            task = await wait_for(ctx, state, task, user, wait_seconds)
            return await task_result(state, service, task)

    @server.tool(
        title="List your video tasks",
        description=(
            "Your video tasks, newest first (also those you started from the command line or Discord under the "
            "same user id). Free. Filter by status; page with offset while has_more is true. Call get_video_task for "
            "one task's video."
        ),
        annotations=ToolAnnotations(
            title="List your video tasks", read_only_hint=True, idempotent_hint=True, open_world_hint=False
        ),
    )
    async def list_video_tasks(
        ctx: Context,
        status: Annotated[Status | None, Field(description="Only tasks in this status.")] = None,
        limit: Annotated[int, Field(ge=1, le=100, description="How many tasks (1-100).")] = 20,
        offset: Annotated[int, Field(ge=0, description="Skip this many of the newest tasks.")] = 0,
    ) -> TaskListOut:
        state = _state(ctx)
        with tool_errors():
            user = state.current_user()
            service = await state.service()
            # has_more comes from reading one row past the page; total counts with the same filter.
            page = await service.page(user, limit=limit, offset=offset, status=status)
            total = await service.count_tasks(user, status=status)
            more = page.has_more
            outs = [await task_out(state, service, t) for t in page.tasks]
        which = f"{status} tasks" if status else "tasks"
        if outs:
            step = "Call get_video_task with a task's id for its video or to wait for it."
            if more:
                step += f" Pass offset={offset + len(outs)} for older {which}."
            else:
                step += f" There are no more {which}."
        elif offset:
            step = f"Nothing at offset {offset}: you have fewer {which} than that; call again with offset=0."
        elif status:
            step = f"You have no {status} tasks; call again without status to see all your tasks."
        else:
            step = "No tasks here yet; generate_video starts one."
        return TaskListOut(tasks=outs, total=total, has_more=more, offset=offset, next_step=step)

    @server.tool(
        title="Cancel a video task",
        description=(
            "Cancel one of your tasks that has not started rendering yet (most providers refuse once it runs; "
            "the error says so). A cancelled task is not charged. Returns the task."
        ),
        annotations=ToolAnnotations(
            title="Cancel a video task",
            read_only_hint=False,
            destructive_hint=True,
            idempotent_hint=True,
            open_world_hint=True,
        ),
    )
    async def cancel_video_task(task_id: TaskIdArg, ctx: Context) -> Annotated[CallToolResult, TaskOut]:
        state = _state(ctx)
        with tool_errors():
            if VideoService.is_story_id(task_id.strip()):
                return await cancel_story(state, task_id.strip())
            user = state.current_user()
            service = await state.service()
            task = await service.get(user, task_id.strip())
            if task.status.is_final:
                raise ToolError(already_final(task))
            task = await service.cancel(user, task.id)
            return await task_result(state, service, task)

    @server.tool(
        title="List video models",
        description=(
            "The Seedance models of the configured providers: modes (text, first_frame, first_last_frame, "
            "reference), resolutions, ratios, durations, audio, reference limits and price rule. Free. Use it to "
            "pick generate_video's model and options."
        ),
        annotations=ToolAnnotations(
            title="List video models", read_only_hint=True, idempotent_hint=True, open_world_hint=False
        ),
    )
    async def list_video_models(
        ctx: Context, provider: ProviderArg = None
    ) -> ModelListOut:
        specs = [s for s in choices.specs if provider is None or s.provider == provider]
        return ModelListOut(
            default_provider=choices.default_provider,
            models=[ModelOut.model_validate(s.to_json()) for s in specs],
            next_step="Call estimate_video_cost to price a request, or generate_video to make one.",
        )

    @server.tool(
        title="Estimate a video's cost",
        description=(
            "What a generate_video request would cost (tokens or credits, and US dollars where the price is "
            "known), with every default filled in, without paying or sending anything. Free; no prompt needed. "
            "Takes the same options as generate_video and checks them, so an error here means generate_video "
            "would refuse too."
        ),
        annotations=ToolAnnotations(
            title="Estimate a video's cost", read_only_hint=True, idempotent_hint=True, open_world_hint=False
        ),
    )
    async def estimate_video_cost(
        ctx: Context,
        prompt: EstimatePrompt = "",
        model: ModelArg = None,
        resolution: ResolutionArg = None,
        ratio: RatioArg = None,
        duration: DurationArg = None,
        generate_audio: AudioArg = None,
        first_frame: FirstFrame = None,
        last_frame: LastFrame = None,
        reference_images: RefImages = None,
        reference_videos: RefVideos = None,
        reference_audios: RefAudios = None,
        service_tier: TierArg = None,
        draft: DraftArg = None,
        provider: ProviderArg = None,
    ) -> EstimateOut:
        state = _state(ctx)
        with tool_errors():
            request = build_request(
                remote=state.http,
                first_frame=first_frame,
                last_frame=last_frame,
                reference_images=reference_images,
                reference_videos=reference_videos,
                reference_audios=reference_audios,
                **request_fields(
                    prompt=prompt, model=model, resolution=resolution, ratio=ratio, duration=duration,
                    generate_audio=generate_audio, service_tier=service_tier, draft=draft,
                ),
            )
            service = await state.service()
            # A price never depends on the words: no prompt is needed to answer.
            estimate = service.estimate(catalog.for_pricing(request), provider)
            usd = catalog.request_usd(estimate.request, estimate.provider, estimate.unit, estimate.amount)
            rule = catalog.price_text(catalog.get_model(estimate.provider, estimate.model))
        dollars = "the US dollar price is unknown (none published)" if usd is None else (
            "it is free" if usd == 0 else f"about {catalog.format_usd(usd)}")
        return EstimateOut(
            provider=estimate.provider,
            model=estimate.model,
            unit=estimate.unit,
            estimated=round(estimate.amount, 2),
            usd=None if usd is None else round(usd, 4),
            price_rule=rule,
            params=estimate.request.params(),
            next_step=f"Tell the user the cost ({catalog.format_amount(estimate.unit, estimate.amount)}; {dollars}); "
            "call generate_video with the same options to make the video.",
        )


