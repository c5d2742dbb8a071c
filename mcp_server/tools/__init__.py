"""The video tools, one module each; `register_tools` is the one place that puts them on a server.

A generation never runs inside a handler: `VideoService.submit` hands the provider call to a
service-owned task, and the handlers only *wait* on the task (bounded by ``wait_seconds``). If the
client gives up, the handler is cancelled and the task goes on; `get_video_task` picks it up.
"""

from mcp.server.mcpserver import MCPServer

from mcp_server.choices import Choices
from mcp_server.errors import tool_errors
from mcp_server.params import Params
from mcp_server.tools import cancel, estimate, generate, get_task, list_tasks, models

__all__ = ["register_tools", "tool_errors"]

TOOLS = (generate, get_task, list_tasks, cancel, models, estimate)


def register_tools(server: MCPServer, choices: Choices) -> None:
    """Define the six video tools on ``server``, with the catalog's choices in their schema."""
    params = Params(choices)
    for tool in TOOLS:
        tool.register(server, params)
