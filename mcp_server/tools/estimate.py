# mypy: disable-error-code="valid-type,name-defined"
# (parameter types come from `Params`, built at run time from the catalog: mypy cannot follow them;
# they are evaluated when the tool is defined, so a wrong name fails at registration, in every test)
"""``estimate_video_cost``: what a request would cost, every default filled in, without paying."""

from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations

from core import catalog
from mcp_server.errors import tool_errors
from mcp_server.inputs import build_request
from mcp_server.params import Params, request_fields, tool_state
from mcp_server.schemas import EstimateOut

DESCRIPTION = (
    "What a generate_video request would cost (tokens or credits, and US dollars where the price is "
    "known), with every default filled in, without paying or sending anything. Free; no prompt needed. "
    "Takes the same options as generate_video and checks them, so an error here means generate_video "
    "would refuse too."
)


async def estimate(ctx: Context, fields: dict[str, Any], media: dict[str, Any], provider: str | None) -> EstimateOut:
    state = tool_state(ctx)
    with tool_errors():
        request = build_request(remote=state.http, **media, **request_fields(**fields))
        service = await state.service()
        # A price never depends on the words: no prompt is needed to answer.
        found = service.estimate(catalog.for_pricing(request), provider)
        usd = catalog.request_usd(found.request, found.provider, found.unit, found.amount)
        rule = catalog.price_text(catalog.get_model(found.provider, found.model))
    dollars = "the US dollar price is unknown (none published)" if usd is None else (
        "it is free" if usd == 0 else f"about {catalog.format_usd(usd)}")
    return EstimateOut(
        provider=found.provider,
        model=found.model,
        unit=found.unit,
        estimated=round(found.amount, 2),
        usd=None if usd is None else round(usd, 4),
        price_rule=rule,
        params=found.request.params(),
        next_step=f"Tell the user the cost ({catalog.format_amount(found.unit, found.amount)}; {dollars}); "
        "call generate_video with the same options to make the video.",
    )


def register(server: MCPServer, p: Params) -> None:
    @server.tool(
        title="Estimate a video's cost",
        description=DESCRIPTION,
        annotations=ToolAnnotations(title="Estimate a video's cost", read_only_hint=True, idempotent_hint=True,
                                    open_world_hint=False),
    )
    async def estimate_video_cost(
        ctx: Context,
        prompt: p.EstimatePrompt = "",
        model: p.Model = None,
        resolution: p.Resolution = None,
        ratio: p.Ratio = None,
        duration: p.Duration = None,
        generate_audio: p.Audio = None,
        first_frame: p.FirstFrame = None,
        last_frame: p.LastFrame = None,
        reference_images: p.RefImages = None,
        reference_videos: p.RefVideos = None,
        reference_audios: p.RefAudios = None,
        service_tier: p.Tier = None,
        draft: p.Draft = None,
        provider: p.Provider = None,
    ) -> EstimateOut:
        fields = dict(prompt=prompt, model=model, resolution=resolution, ratio=ratio, duration=duration,
                      generate_audio=generate_audio, service_tier=service_tier, draft=draft)
        media = dict(first_frame=first_frame, last_frame=last_frame, reference_images=reference_images,
                     reference_videos=reference_videos, reference_audios=reference_audios)
        return await estimate(ctx, fields, media, provider)
