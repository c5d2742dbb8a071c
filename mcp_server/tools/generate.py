# mypy: disable-error-code="valid-type,name-defined"
# (parameter types come from `Params`, built at run time from the catalog: mypy cannot follow them;
# they are evaluated when the tool is defined, so a wrong name fails at registration, in every test)
"""``generate_video``: validate, submit, wait a bounded time with progress, return the task."""

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from mcp_server.errors import tool_errors
from mcp_server.inputs import build_request
from mcp_server.params import Params, caller, request_fields
from mcp_server.progress import wait_for
from mcp_server.results import DEFAULT_WAIT, TARGET, task_result
from mcp_server.schemas import TaskOut

RequestId = Annotated[str | None, Field(
    min_length=1, max_length=200,
    description="Your idempotency key for this video (e.g. a UUID). The same request_id from the same "
    "user returns the existing task instead of starting (and paying for) another one.",
)]


def description(p: Params) -> str:
    return (
        "Generate a short AI video with a ByteDance Seedance model from a prompt, optionally starting from an "
        "image (first_frame, last_frame) or guided by reference images, videos and audio. "
        f"{p.cost_note} A video takes about 1-5 minutes: this tool waits up to wait_seconds "
        f"(default {DEFAULT_WAIT}) with progress notifications and returns the finished video (link, "
        "local file path, ResourceLink), or the still-running task with poll_after_seconds and next_step: "
        "then call get_video_task with its id. When the user is at their running limit the task waits in "
        "line (status waiting, with its place in queue); nothing is sent or paid until it starts. Always pass "
        "a fresh request_id per video: if this call times out, calling again with the same request_id returns "
        "the same task instead of paying twice. Never call generate_video again for a video that is still "
        "running.\n\nModels:\n" + p.choices.model_summary()
    )


async def generate(
    ctx: Context, fields: dict[str, Any], media: dict[str, Any], provider: str | None, request_id: str | None,
    wait_seconds: int,
) -> CallToolResult:
    with tool_errors(submitting=True):
        state, user, service = await caller(ctx)
        request = build_request(remote=state.http, **media, **request_fields(**fields))
        # A repeated request_id returns the task the first call started (the service checks it first).
        task = await service.submit(user, request, provider=provider, target=TARGET, request_key=request_id)
    with tool_errors(submitted=task):
        task = await wait_for(ctx, state, task, user, wait_seconds)
        return await task_result(state, service, task)


def register(server: MCPServer, p: Params) -> None:
    @server.tool(
        title="Generate a video",
        description=description(p),
        annotations=ToolAnnotations(title="Generate a video", read_only_hint=False, destructive_hint=False,
                                    idempotent_hint=False, open_world_hint=True),
    )
    async def generate_video(
        prompt: p.Prompt,
        ctx: Context,
        model: p.Model = None,
        resolution: p.Resolution = None,
        ratio: p.Ratio = None,
        duration: p.Duration = None,
        generate_audio: p.Audio = None,
        seed: p.Seed = None,
        camera_fixed: p.Camera = None,
        watermark: p.Watermark = None,
        first_frame: p.FirstFrame = None,
        last_frame: p.LastFrame = None,
        reference_images: p.RefImages = None,
        reference_videos: p.RefVideos = None,
        reference_audios: p.RefAudios = None,
        return_last_frame: p.ReturnLastFrame = False,
        service_tier: p.Tier = None,
        draft: p.Draft = None,
        provider: p.Provider = None,
        request_id: RequestId = None,
        wait_seconds: p.Wait = DEFAULT_WAIT,
    ) -> Annotated[CallToolResult, TaskOut]:
        fields = dict(prompt=prompt, model=model, resolution=resolution, ratio=ratio, duration=duration,
                      generate_audio=generate_audio, seed=seed, camera_fixed=camera_fixed, watermark=watermark,
                      return_last_frame=return_last_frame, service_tier=service_tier, draft=draft)
        media = dict(first_frame=first_frame, last_frame=last_frame, reference_images=reference_images,
                     reference_videos=reference_videos, reference_audios=reference_audios)
        return await generate(ctx, fields, media, provider, request_id, wait_seconds)
