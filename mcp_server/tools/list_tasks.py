# mypy: disable-error-code="valid-type,name-defined"
# (parameter types come from `Params`, built at run time from the catalog: mypy cannot follow them;
# they are evaluated when the tool is defined, so a wrong name fails at registration, in every test)
"""``list_video_tasks``: the caller's tasks, newest first, one page at a time.

No row count: counting every task of a user with 100,000 of them takes most of a second on
PostgreSQL, on every page. ``has_more`` (one row read past the page) drives paging, and ``total``
is given only when this page reaches the end, where it is known for free.
"""

from typing import Annotated

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations
from pydantic import Field

from mcp_server.errors import tool_errors
from mcp_server.params import Params, caller
from mcp_server.results import task_out
from mcp_server.schemas import TaskListOut

DESCRIPTION = (
    "Your video tasks, newest first (also those you started from the command line or Discord under the "
    "same user id). Free. Filter by status; page with offset while has_more is true. Waiting tasks show "
    "their place in line (queue). Call get_video_task for one task's video."
)


def next_step(status: str | None, offset: int, shown: int, more: bool) -> str:
    which = f"{status} tasks" if status else "tasks"
    if shown:
        step = "Call get_video_task with a task's id for its video or to wait for it."
        if more:
            return step + f" Pass offset={offset + shown} for older {which}."
        return step + f" There are no more {which}."
    if offset:
        return f"Nothing at offset {offset}: you have fewer {which} than that; call again with offset=0."
    if status:
        return f"You have no {status} tasks; call again without status to see all your tasks."
    return "No tasks here yet; generate_video starts one."


async def list_tasks(ctx: Context, status: str | None, limit: int, offset: int) -> TaskListOut:
    with tool_errors():
        state, user, service = await caller(ctx)
        page = await service.page(user, limit=limit, offset=offset, status=status)
        outs = [await task_out(state, service, t) for t in page.tasks]
    # The count is known only where the listing ends (and then costs nothing).
    total = None if page.has_more or (offset and not outs) else offset + len(outs)
    return TaskListOut(tasks=outs, total=total, has_more=page.has_more, offset=offset,
                       next_step=next_step(status, offset, len(outs), page.has_more))


def register(server: MCPServer, p: Params) -> None:
    @server.tool(
        title="List your video tasks",
        description=DESCRIPTION,
        annotations=ToolAnnotations(title="List your video tasks", read_only_hint=True, idempotent_hint=True,
                                    open_world_hint=False),
    )
    async def list_video_tasks(
        ctx: Context,
        status: Annotated[p.Status | None, Field(description="Only tasks in this status.")] = None,
        limit: Annotated[int, Field(ge=1, le=100, description="How many tasks (1-100).")] = 20,
        offset: Annotated[int, Field(ge=0, description="Skip this many of the newest tasks.")] = 0,
    ) -> TaskListOut:
        return await list_tasks(ctx, status, limit, offset)
