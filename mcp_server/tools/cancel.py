# mypy: disable-error-code="valid-type,name-defined"
# (parameter types come from `Params`, built at run time from the catalog: mypy cannot follow them;
# they are evaluated when the tool is defined, so a wrong name fails at registration, in every test)
"""``cancel_video_task``: cancel a task (or story) that has not started rendering; free while waiting."""

from typing import Annotated

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, ToolAnnotations

from mcp_server import story_tools
from mcp_server.errors import already_final, tool_errors
from mcp_server.params import Params, caller
from mcp_server.results import task_result
from mcp_server.schemas import TaskOut

DESCRIPTION = (
    "Cancel one of your tasks that has not started rendering yet (most providers refuse once it runs; "
    "the error says so). A cancelled task is not charged; a waiting one was never sent. Returns the task."
)


async def cancel(ctx: Context, task_id: str) -> CallToolResult:
    with tool_errors():
        state, user, service = await caller(ctx)
        if service.is_story_id(task_id):
            return await story_tools.cancel_story(state, task_id)
        task = await service.get(user, task_id)
        if task.status.is_final:
            raise ToolError(already_final(task))
        task = await service.cancel(user, task.id)
        return await task_result(state, service, task)


def register(server: MCPServer, p: Params) -> None:
    @server.tool(
        title="Cancel a video task",
        description=DESCRIPTION,
        annotations=ToolAnnotations(title="Cancel a video task", read_only_hint=False, destructive_hint=True,
                                    idempotent_hint=True, open_world_hint=True),
    )
    async def cancel_video_task(task_id: p.TaskId, ctx: Context) -> Annotated[CallToolResult, TaskOut]:
        return await cancel(ctx, task_id.strip())
