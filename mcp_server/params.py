# mypy: disable-error-code="valid-type"
# (the parameter types are built at run time from the catalog; mypy cannot follow them)
"""The tools' parameter types, built once from the catalog's choices (`Choices`).

No ``from __future__ import annotations``: the SDK reads the live annotations of each tool to publish
its input schema, so the enums (models, resolutions, ratios) and bounds (durations, reference counts)
must be real types when a tool is defined.
"""

from typing import TYPE_CHECKING, Annotated, Any, Literal

from mcp.server.mcpserver import Context
from pydantic import Field

from core import catalog
from mcp_server.choices import Choices
from mcp_server.state import AppState

if TYPE_CHECKING:
    from core.service import VideoService

MAX_WAIT = 50  # a tool call must end before the common 60 s client limit, with room to spare
STATUSES = ("waiting", "pending", "queued", "running", "succeeded", "failed", "expired", "cancelled")


def one_of(values: tuple[str, ...]) -> Any:
    """``Literal[*values]`` built at run time: an enum in the JSON schema, checked on every call."""
    return Literal.__getitem__(values)


def tool_state(ctx: Context) -> AppState:
    """The server's state (settings, the service, the caller) from a tool's context."""
    state = ctx.request_context.lifespan_context
    assert isinstance(state, AppState)
    return state


async def caller(ctx: Context) -> tuple[AppState, str, "VideoService"]:
    """The server's state, the calling user and the open service (call inside `tool_errors`)."""
    state = tool_state(ctx)
    return state, state.current_user(), await state.service()


def request_fields(**kwargs: Any) -> dict[str, Any]:
    """The request options the caller gave (None: not given, the model's default applies)."""
    return {k: v for k, v in kwargs.items() if v is not None}


class Params:
    """Every parameter type the video tools share, for one server's configured providers."""

    def __init__(self, choices: Choices) -> None:
        self.choices = choices
        self.cost_note = (
            "The configured provider is the offline sandbox: videos are free (and made locally)."
            if choices.free
            else "COSTS MONEY: every call that starts a task is billed by the provider; use estimate_video_cost "
            "first when the user has not agreed to the cost."
        )
        self._video_options(choices)
        self._media(choices)
        self.Provider = Annotated[one_of(choices.providers) | None, Field(
            description=f"Which configured provider; default {choices.default_provider}.")]
        self.Wait = Annotated[int, Field(
            ge=0, le=MAX_WAIT,
            description=f"Seconds to wait for the result before returning the running task (0-{MAX_WAIT}).")]
        self.TaskId = Annotated[str, Field(
            min_length=1, max_length=64, description="The task id (the `id` field).")]
        self.Status = one_of(STATUSES)

    def _video_options(self, choices: Choices) -> None:
        """What the video is: prompt, model, shape, length, sound, seed."""
        default = choices.default_spec
        self.Prompt = Annotated[str, Field(
            max_length=choices.max_prompt_chars,
            description="What the video shows: subject, action, setting, camera movement, style. English or "
            "Chinese. May be empty only when a first_frame image is given.",
        )]
        self.EstimatePrompt = Annotated[str, Field(
            max_length=choices.max_prompt_chars,
            description="Optional: a price never depends on the words (a prompt given is checked as "
            "generate_video would).",
        )]
        self.Model = Annotated[one_of(choices.models) | None, Field(
            description=f"Model id; default {default.id}. list_video_models shows each model's limits.")]
        self.Resolution = Annotated[one_of(choices.resolutions) | None, Field(
            description=f"Output resolution; default {default.default_resolution}.")]
        self.Ratio = Annotated[one_of(choices.ratios) | None, Field(
            description=f"Aspect ratio; default {default.default_ratio} (adaptive follows the first frame).")]
        self.Duration = Annotated[int | None, Field(
            ge=-1 if choices.auto_duration else choices.duration_min,
            le=choices.duration_max,
            description=f"Length in seconds, {choices.duration_min}-{choices.duration_max} depending on the model "
            f"(default {default.default_duration})" + ("; -1 lets the model choose." if choices.auto_duration else "."),
        )]
        self.Audio = Annotated[bool | None, Field(description="Generate a soundtrack (models with audio only).")]
        self.Seed = Annotated[int | None, Field(
            ge=-1, le=catalog.SEED_MAX, description="Seed for repeatable results; -1 random.")]
        self.Camera = Annotated[bool | None, Field(description="Keep the camera still (not every model).")]
        self.Watermark = Annotated[bool | None, Field(description="Add the provider's watermark.")]
        self.Tier = Annotated[Literal["default", "flex"] | None, Field(
            description="flex: cheaper, slower queue (models with flex only).")]
        self.Draft = Annotated[bool | None, Field(description="Cheap 480p draft (models with draft only).")]

    def _media(self, choices: Choices) -> None:
        """Images, clips and sounds the video starts from, ends on or follows."""
        self.FirstFrame = Annotated[str | None, Field(
            description="Image the video starts from: an https URL, a data:image/...;base64 URL, or a local "
            "file path (only when the server runs on the user's computer, over stdio).")]
        self.LastFrame = Annotated[str | None, Field(
            description="Image the video ends on (needs first_frame); same forms as first_frame.")]
        self.RefImages = Annotated[list[str] | None, Field(
            max_length=choices.max_reference_images,
            description="Reference images (style, character, product), same forms as first_frame. Cannot be "
            "combined with first_frame/last_frame.")]
        self.RefVideos = Annotated[list[str] | None, Field(
            max_length=choices.max_reference_videos, description="Reference video clips as public https URLs.")]
        self.RefAudios = Annotated[list[str] | None, Field(
            max_length=choices.max_reference_audios, description="Reference audio clips as public https URLs.")]
        self.ReturnLastFrame = Annotated[bool, Field(
            description="Also return the video's last frame as a PNG (to chain clips).")]
