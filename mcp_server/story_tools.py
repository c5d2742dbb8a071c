# mypy: disable-error-code="valid-type"
# (the parameter types are built at run time from the catalog; mypy cannot follow them)
"""Stories over MCP: `generate_story` (one long video from 2-6 shots), and following a story id in
`get_video_task` / `cancel_video_task` (`follow_story`, `cancel_story`).

A story comes back in the task's shape (`schemas.TaskOut`: id, status, done, video_link,
progress_percent, poll_after_seconds, next_step) with ``kind: "story"`` and ``shots``: each shot's
task id, status and progress. So an assistant follows a story exactly as it follows a task.

No ``from __future__ import annotations``: the SDK reads the live annotations for the schema.
"""

import json
import time
from pathlib import Path
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, ContentBlock, ResourceLink, TextContent, ToolAnnotations
from pydantic import Field

from core import catalog
from core.models import Story, StoryStatus
from mcp_server.choices import Choices
from mcp_server.errors import tool_errors
from mcp_server.inputs import build_request
from mcp_server.params import MAX_WAIT
from mcp_server.params import one_of as _one_of
from mcp_server.params import tool_state as _state
from mcp_server.results import DEFAULT_WAIT, TARGET
from mcp_server.schemas import CostOut, ErrorOut, ShotOut, TaskOut
from mcp_server.state import AppState

STORY_POLL = 20  # seconds between looks at a running story: its shots take minutes each


def _link(state: AppState, path: str | None) -> str | None:
    """Our link to a file in HTTP mode, else the file itself (stdio: the user's own computer)."""
    if state.links is not None:
        return state.links.url_for(path)
    if path and Path(path).is_file():
        return Path(path).resolve().as_uri()
    return None


def _next_step(story: Story, link: str | None) -> str:
    if story.status is StoryStatus.SUCCEEDED:
        return "Done: give the user the video_link to the joined video." if link else "Done; tell the user."
    if story.status is StoryStatus.CANCELLED:
        return "The story was cancelled; nothing more will happen (shots already made were billed)."
    if story.status is StoryStatus.FAILED:
        reason = story.error.message if story.error else "a shot failed"
        return (
            f"The story stopped: {reason}. Ask the user, then call retry_story with task_id \"{story.id}\" (and a "
            "changed prompt when the shot was refused for its content): only that shot is paid again. Do not call "
            "generate_story again: it would pay for every shot."
        )
    return (
        f'The story is being made shot after shot on the server and nothing is lost: call get_video_task with task_id '
        f'"{story.id}" in about {STORY_POLL} s. Do not call generate_story again for it: that would pay again.'
    )


def story_out(state: AppState, story: Story) -> TaskOut:
    """The story in the task's shape, with each shot's progress."""
    first = story.shots[0]
    link = _link(state, story.video_path)
    shots = [
        ShotOut(
            index=number,
            task_id=task.id,
            status=task.status.value,
            prompt=task.prompt,
            progress_percent=round(100 * (story.progress[number - 1] if number <= len(story.progress) else 0.0), 1),
            video_link=_link(state, task.video_path) if task.is_final else None,
            error=ErrorOut(**task.error.model_dump()) if task.error else None,
        )
        for number, task in enumerate(story.shots, start=1)
    ]
    data = story.to_json()
    params = {k: v for k, v in first.request.params().items() if k not in ("return_last_frame", "images")}
    return TaskOut(
        kind="story",
        id=story.id,
        user=story.user,
        provider=first.provider,
        model=first.model,
        status=story.status.value,
        prompt=" | ".join(t.prompt for t in story.shots),
        params=params,
        video_path=story.video_path if state.expose_paths else None,
        cost=CostOut(**story.cost.model_dump()),
        error=ErrorOut(**story.error.model_dump()) if story.error else None,
        created_at=data["created_at"],
        updated_at=data["updated_at"],
        finished_at=data["finished_at"],
        done=story.is_final,
        video_link=link,
        progress_percent=None if story.is_final else round(100 * min(data["progress"], 0.99), 1),
        poll_after_seconds=None if story.is_final else STORY_POLL,
        next_step=_next_step(story, link),
        shots=shots,
    )


async def story_result(state: AppState, story: Story) -> CallToolResult:
    out = story_out(state, story)
    structured = out.model_dump(mode="json")
    lines = [f"Story {story.id}: {story.status.value}, {len(story.shots)} shots"]
    for shot in out.shots or []:
        lines.append(f"  shot {shot.index} ({shot.task_id}): {shot.status} {shot.progress_percent:.0f}%")
    if out.video_link:
        lines.append(f"Video ready: {out.video_link}")
    if out.cost.estimated is not None:
        lines.append(f"Cost: {catalog.format_amount(out.cost.unit, out.cost.actual or out.cost.estimated)} "
                     f"({catalog.format_usd(out.cost.usd_actual or out.cost.usd_estimated)})")
    lines.append(out.next_step)
    content: list[ContentBlock] = [TextContent(type="text", text="\n".join(lines))]
    if out.done and out.video_link:
        content.append(ResourceLink(type="resource_link", name=f"{story.id}.mp4", title=f"Seedance story {story.id}",
                                    uri=out.video_link, mime_type="video/mp4"))
    content.append(TextContent(type="text", text=json.dumps(structured, ensure_ascii=False)))
    return CallToolResult(content=content, structured_content=structured)


async def follow_story(ctx: Context, state: AppState, story_id: str, wait_seconds: int) -> CallToolResult:
    """`get_video_task` for a story id: the story, after waiting up to ``wait_seconds`` with progress."""
    user = state.current_user()
    service = await state.service()
    story = await service.get_story(user, story_id)
    if not story.is_final and wait_seconds > 0:
        last = [-1.0, 0.0]  # percent sent, when

        async def report(current: Story) -> None:
            percent = round(100 * min(current.to_json()["progress"], 0.99), 1)
            if time.monotonic() - last[1] < state.progress_interval and percent <= last[0]:
                return
            running = next((s for s in current.shots if not s.is_final), None)
            where = f"shot {(running.shot_index or 0) + 1} of {len(current.shots)}" if running else "joining"
            last[:] = [max(percent, last[0] + 0.01), time.monotonic()]
            try:
                await ctx.report_progress(last[0], 100.0, f"story {current.id}: {where}")
            except Exception:  # noqa: BLE001 - progress is a courtesy: never fail the call over it
                return

        story = await service.wait_story(user, story_id, timeout=wait_seconds, on_progress=report)
    return await story_result(state, story)


async def cancel_story(state: AppState, story_id: str) -> CallToolResult:
    """`cancel_video_task` for a story id."""
    service = await state.service()
    return await story_result(state, await service.cancel_story(state.current_user(), story_id))


def register_story_tools(server: MCPServer, choices: Choices) -> None:
    """Define `generate_story` and `retry_story` on ``server`` with the catalog's choices in their schema."""
    ModelId = _one_of(tuple(s.id for s in choices.specs if s.return_last_frame) or choices.models)
    Resolution, Ratio, Provider = _one_of(choices.resolutions), _one_of(choices.ratios), _one_of(choices.providers)
    default = choices.default_spec
    cost_note = (
        "The configured provider is the offline sandbox: stories are free (and made locally)."
        if choices.free
        else "COSTS MONEY: every shot is billed; the whole story is priced (estimate_video_cost for one shot "
        "times the number of shots) and refused before anything is paid when it breaks a limit."
    )

    @server.tool(
        title="Generate a story (one long video from shots)",
        description=(
            "Make one long video from 2-6 shots, one prompt each: shot 1 is generated (from first_frame if given), "
            "each next shot starts from the last frame of the one before, and when all are done they are joined "
            f"into one MP4 (sound included). {cost_note} Shots are made one after another (minutes each): this "
            "tool returns the story (kind 'story', id starting 'story-', status, per-shot progress in `shots`); "
            "follow it with get_video_task and its id until `done`, then give the user video_link. "
            "cancel_video_task with the story id cancels it. Always pass a fresh request_id."
        ),
        annotations=ToolAnnotations(
            title="Generate a story", read_only_hint=False, destructive_hint=False, idempotent_hint=False,
            open_world_hint=True,
        ),
    )
    async def generate_story(
        shots: Annotated[
            list[Annotated[str, Field(min_length=1, max_length=choices.max_prompt_chars)]],
            Field(min_length=2, max_length=6, description="The shots in order, one prompt each (2-6)."),
        ],
        ctx: Context,
        model: Annotated[ModelId | None, Field(description=f"Model id; default {default.id}. Only models that "
                                                            "return a last frame can chain shots.")] = None,
        resolution: Annotated[Resolution | None, Field(description="Output resolution of every shot.")] = None,
        ratio: Annotated[Ratio | None, Field(description="Aspect ratio of every shot.")] = None,
        duration: Annotated[int | None, Field(ge=-1, le=choices.duration_max,
                                              description="Seconds per shot (the model's range).")] = None,
        generate_audio: Annotated[bool | None, Field(description="A soundtrack on every shot.")] = None,
        seed: Annotated[int | None, Field(ge=-1, le=catalog.SEED_MAX, description="Seed; -1 random.")] = None,
        camera_fixed: Annotated[bool | None, Field(description="Keep the camera still.")] = None,
        watermark: Annotated[bool | None, Field(description="Add the provider's watermark.")] = None,
        first_frame: Annotated[str | None, Field(description="Image shot 1 starts from: an https URL, a "
                                                             "data:image URL, or (over stdio) a local file.")] = None,
        provider: Annotated[Provider | None, Field(description="Which configured provider.")] = None,
        request_id: Annotated[str | None, Field(min_length=1, max_length=200, description="Your idempotency "
                                                "key: the same request_id returns the same story.")] = None,
        wait_seconds: Annotated[int, Field(ge=0, le=MAX_WAIT, description="Seconds to wait (with progress) "
                                           "before returning the running story.")] = DEFAULT_WAIT,
    ) -> Annotated[CallToolResult, TaskOut]:
        state = _state(ctx)
        with tool_errors(submitting=True):
            user = state.current_user()
            service = await state.service()
            fields: dict[str, Any] = {
                "model": model, "resolution": resolution, "ratio": ratio, "duration": duration,
                "generate_audio": generate_audio, "seed": seed, "camera_fixed": camera_fixed, "watermark": watermark,
            }
            request = build_request(remote=state.http, first_frame=first_frame,
                                    **{k: v for k, v in fields.items() if v is not None})
            story = await service.create_story(
                user, shots, request, provider=provider, target=TARGET, request_key=request_id
            )
        with tool_errors():
            return await follow_story(ctx, state, story.id, wait_seconds)

    @server.tool(
        title="Retry a failed story",
        description=(
            "Make the failed shot of one of your stories again (only that shot is paid again; the shots made "
            "already are kept and the ones after it follow), or join again a story whose join failed. Give "
            "`prompt` to change the failed shot's prompt (a shot refused for its content would be refused again). "
            "Returns the story; follow it with get_video_task."
        ),
        annotations=ToolAnnotations(
            title="Retry a failed story", read_only_hint=False, destructive_hint=False, idempotent_hint=False,
            open_world_hint=True,
        ),
    )
    async def retry_story(
        task_id: Annotated[str, Field(min_length=1, max_length=64, description="The story id (story-...).")],
        ctx: Context,
        prompt: Annotated[str | None, Field(min_length=1, max_length=choices.max_prompt_chars,
                                            description="A new prompt for the failed shot.")] = None,
        wait_seconds: Annotated[int, Field(ge=0, le=MAX_WAIT, description="Seconds to wait (with progress) "
                                           "before returning the running story.")] = DEFAULT_WAIT,
    ) -> Annotated[CallToolResult, TaskOut]:
        state = _state(ctx)
        with tool_errors(submitting=True):
            service = await state.service()
            story = await service.retry_story(state.current_user(), task_id.strip(), prompt=prompt)
        with tool_errors():
            return await follow_story(ctx, state, story.id, wait_seconds)
