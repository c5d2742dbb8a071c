# mypy: disable-error-code="valid-type,name-defined"
# (parameter types come from `Params`, built at run time from the catalog: mypy cannot follow them;
# they are evaluated when the tool is defined, so a wrong name fails at registration, in every test)
"""``get_video_task``: one task (or story), long-polled up to ``wait_seconds``."""

from typing import Annotated

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, ToolAnnotations

from mcp_server import story_tools
from mcp_server.errors import tool_errors
from mcp_server.params import Params, caller
from mcp_server.progress import wait_for
from mcp_server.results import DEFAULT_WAIT, task_result
from mcp_server.schemas import TaskOut

DESCRIPTION = (
    "The state of one of your video tasks; when it is finished, the video (link, local file path, "
    "ResourceLink) and the last frame if one was asked for. Free. While the task runs this tool waits up "
    f"to wait_seconds (default {DEFAULT_WAIT}) for it to finish, with progress notifications, so call it "
    "again (after poll_after_seconds) until `done` is true. A waiting task shows its place in line (queue). "
    "A task keeps running on the server whatever happens to this call."
)


async def get_task(ctx: Context, task_id: str, wait_seconds: int) -> CallToolResult:
    with tool_errors():
        state, user, service = await caller(ctx)
        if service.is_story_id(task_id):  # a story (generate_story): its shots, then its video
            return await story_tools.follow_story(ctx, state, task_id, wait_seconds)
        task = await service.get(user, task_id)
    with tool_errors(submitted=task):
        task = await wait_for(ctx, state, task, user, wait_seconds)
        return await task_result(state, service, task)


def register(server: MCPServer, p: Params) -> None:
    @server.tool(
        title="Get a video task",
        description=DESCRIPTION,
        annotations=ToolAnnotations(title="Get a video task", read_only_hint=True, idempotent_hint=True,
                                    open_world_hint=True),
    )
    async def get_video_task(
        task_id: p.TaskId, ctx: Context, wait_seconds: p.Wait = DEFAULT_WAIT
    ) -> Annotated[CallToolResult, TaskOut]:
        return await get_task(ctx, task_id.strip(), wait_seconds)
