# mypy: disable-error-code="valid-type,name-defined"
# (parameter types come from `Params`, built at run time from the catalog: mypy cannot follow them;
# they are evaluated when the tool is defined, so a wrong name fails at registration, in every test)
"""``list_video_models``: the configured providers' models and limits, from the catalog."""

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations

from mcp_server.choices import Choices
from mcp_server.params import Params
from mcp_server.schemas import ModelListOut, ModelOut

DESCRIPTION = (
    "The Seedance models of the configured providers: modes (text, first_frame, first_last_frame, "
    "reference), resolutions, ratios, durations, audio, reference limits and price rule. Free. Use it to "
    "pick generate_video's model and options."
)


def model_list(choices: Choices, provider: str | None) -> ModelListOut:
    specs = [s for s in choices.specs if provider is None or s.provider == provider]
    return ModelListOut(
        default_provider=choices.default_provider,
        models=[ModelOut.model_validate(s.to_json()) for s in specs],
        next_step="Call estimate_video_cost to price a request, or generate_video to make one.",
    )


def register(server: MCPServer, p: Params) -> None:
    @server.tool(
        title="List video models",
        description=DESCRIPTION,
        annotations=ToolAnnotations(title="List video models", read_only_hint=True, idempotent_hint=True,
                                    open_world_hint=False),
    )
    async def list_video_models(ctx: Context, provider: p.Provider = None) -> ModelListOut:
        return model_list(p.choices, provider)
