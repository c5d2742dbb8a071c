"""Build the Seedance MCP server: `build_server(settings, ...)`.

The same server object serves stdio, streamable HTTP and in-process test clients. Which user a
call acts for, whether local paths are accepted, and which links a result carries depend on the
transport, and are fixed here when the server is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.types import CallToolResult, InputRequiredResult
from pydantic import ValidationError

from core.config import Settings
from mcp_server.choices import Choices
from mcp_server.state import AppState, make_lifespan
from mcp_server.story_tools import register_story_tools
from mcp_server.tools import register_tools

if TYPE_CHECKING:
    from core.links import MediaLinks
    from core.service import VideoService

VERSION = "0.1.0"

INSTRUCTIONS = """\
Seedance Studio makes short AI videos (about 4-15 seconds) with ByteDance Seedance models, from a prompt and \
optionally a first/last frame image or reference images, videos and audio.
A video takes about 1-5 minutes. generate_video waits up to 40 s and then returns the task while it keeps running \
on the server; call get_video_task with its id (it waits too) until `done` is true, then give the user \
video_link. Always pass a new request_id to generate_video; after a time-out, call get_video_task (or \
generate_video with the same request_id), never generate_video with a new request_id: each new task is paid for.
list_video_models shows what each model allows; estimate_video_cost prices a request for free.
For a longer video, generate_story makes 2-6 shots that continue one another and joins them into one video; \
get_video_task follows its story id the same way.\
"""


class SeedanceMCP(MCPServer[AppState]):
    """`MCPServer` whose argument errors are one line naming the field, like every other tool error."""

    def use_session_manager(self, manager: StreamableHTTPSessionManager) -> None:
        """Serve streamable HTTP through ``manager`` (one with per-user limits) instead of the SDK's own.

        Call after ``streamable_http_app()`` and before the HTTP app starts: ``session_manager`` then
        returns ``manager``, whose ``run()`` the app's lifespan enters.
        """
        self._lowlevel_server._session_manager = manager

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[AppState, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        tool = self._tool_manager.get_tool(name)
        if tool is not None:
            # A misspelt argument (``durration``) would otherwise be dropped silently and the
            # default used: the assistant would pay for something it did not ask for.
            known = set(tool.parameters.get("properties", {}))
            unknown = sorted(set(arguments) - known)
            if unknown:
                raise ToolError(
                    f"Error executing tool {name}: unknown argument {unknown[0]!r}; "
                    f"the arguments are: {', '.join(sorted(known))}; nothing was sent"
                )
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            cause = exc.__cause__
            if not isinstance(cause, ValidationError):
                raise
            raise ToolError(f"Error executing tool {name}: {argument_error(cause)}") from cause


def argument_error(exc: ValidationError) -> str:
    """pydantic's multi-line report as one line: the first bad argument, what is wrong, what was given."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    field = ".".join(str(p) for p in first["loc"]) or "arguments"
    text = f"{field}: {first['msg']}"
    if first["type"] not in ("missing",) and "input" in first:
        given = repr(first["input"])
        text += f" (got {given[:60] + '…' if len(given) > 60 else given})"
    if len(errors) > 1:
        text += f"; and {len(errors) - 1} more problem(s)"
    return " ".join(f"{text}; nothing was sent".split())


def build_server(
    settings: Settings,
    *,
    service: VideoService | None = None,
    http: bool = False,
    links: MediaLinks | None = None,
    expose_paths: bool = True,
    progress_interval: float = 3.0,
) -> SeedanceMCP:
    """The MCP server with its six tools.

    Args:
        settings: the configuration (providers, home, limits, stdio user).
        service: an open service to share (``seedance serve`` shares one with the Discord bot);
            when None the server opens its own for as long as it runs.
        http: callers are remote and identified by bearer tokens; local paths and private URLs are refused.
        links: HTTP mode: signs links to the videos this server serves itself.
        expose_paths: whether results carry local file paths (they mean nothing to a remote caller).
        progress_interval: seconds between progress notifications while a tool waits.
    """
    state = AppState(
        settings=settings,
        http=http,
        links=links,
        expose_paths=expose_paths,
        progress_interval=progress_interval,
    )
    server = SeedanceMCP(
        "seedance",
        title="Seedance Studio",
        instructions=INSTRUCTIONS,
        version=VERSION,
        log_level="WARNING",  # the SDK logs every refused argument at INFO; operators need less
        lifespan=make_lifespan(state, service),
    )
    choices = Choices.from_settings(settings)
    register_tools(server, choices)
    register_story_tools(server, choices)  # generate_story, retry_story
    return server
