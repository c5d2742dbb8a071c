"""The options of ``/video generate`` (and of the story modal) as one typed object.

Discord hands a command its options as keyword arguments; the command group packs them into a
`GenerateOptions` at once, so the controller, the tests and the request builder share one shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import discord

from core.models import ImageRole


@dataclass(frozen=True, kw_only=True)
class GenerateOptions:
    """What a member chose; ``None`` means "the model's default"."""

    prompt: str
    image: discord.Attachment | None = None
    last_frame: discord.Attachment | None = None
    model: str | None = None
    resolution: str | None = None
    ratio: str | None = None
    duration: int | None = None
    audio: bool | None = None
    seed: int | None = None

    def uploads(self) -> list[tuple[discord.Attachment, ImageRole, str]]:
        """The attached images with their role and option name, first frame first."""
        found = [(self.image, ImageRole.FIRST_FRAME, "image"), (self.last_frame, ImageRole.LAST_FRAME, "last_frame")]
        return [(a, role, name) for a, role, name in found if a is not None]

    def fields(self, *, default_model: str | None = None) -> dict[str, Any]:
        """The request fields (without images) for `core.inputs.validated_request`."""
        return {"prompt": self.prompt, "model": self.model or default_model, "resolution": self.resolution,
                "ratio": self.ratio, "duration": self.duration, "generate_audio": self.audio, "seed": self.seed}
