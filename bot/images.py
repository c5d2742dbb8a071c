"""Where a new video's images come from: a member's attachments, or a finished task's last frame.

An attachment is refused from what Discord says about it before anything is downloaded
(`check_attachment_meta`), then read and checked (`read_images`); Extend starts from the task's last
frame (`last_frame`).
"""

from __future__ import annotations

from pathlib import Path

import discord

from core.catalog import ModelSpec
from core.errors import InvalidRequestError
from core.inputs import MAX_IMAGE_BYTES, MAX_SIDE, MIN_SIDE, image_from_bytes, image_input
from core.models import ImageInput, ImageRole, Task


def check_attachment_meta(attachment: discord.Attachment, field: str) -> None:
    """Refuse from what Discord says about a file, before downloading it.

    Raises:
        InvalidRequestError: too big, not an image, or (when Discord knows them) too few pixels.
    """
    name = attachment.filename
    if attachment.size > MAX_IMAGE_BYTES:
        raise InvalidRequestError(f"{field}: {name} is {attachment.size / 1e6:.1f} MB; images must be under 30 MB",
                                  field=field)
    kind = (attachment.content_type or "").split(";")[0].strip().lower()
    if kind and not kind.startswith("image/") and kind != "application/octet-stream":
        raise InvalidRequestError(f"{field}: {name} is {kind}, not an image (use JPEG, PNG or WebP)", field=field)
    if attachment.width and attachment.height:
        small, large = min(attachment.width, attachment.height), max(attachment.width, attachment.height)
        if small < MIN_SIDE or large > MAX_SIDE:
            raise InvalidRequestError(
                f"{field}: {name} is {attachment.width}×{attachment.height} px; each side must be between "
                f"{MIN_SIDE} and {MAX_SIDE} px", field=field)


async def read_images(
    uploads: list[tuple[discord.Attachment, ImageRole, str]], spec: ModelSpec | None
) -> tuple[ImageInput, ...]:
    """Each upload downloaded and checked (or, for a provider that takes only web URLs, Discord's URL).

    Raises:
        InvalidRequestError: a file could not be downloaded, or is not a usable image.
    """
    images = []
    for attachment, role, name in uploads:
        try:
            data = await attachment.read()
        except discord.HTTPException:
            raise InvalidRequestError(f"{name}: {attachment.filename} could not be downloaded from Discord; "
                                      "attach it again", field=name) from None
        checked = image_from_bytes(data, role=role, field=name, name=attachment.filename)
        # Providers that take only web URLs get Discord's (signed for about a day): the
        # task is sent right away, long before that runs out.
        web_only = spec is not None and not spec.data_url_images
        images.append(ImageInput(url=attachment.url, role=role) if web_only else checked)
    return tuple(images)


def last_frame(task: Task, spec: ModelSpec | None) -> ImageInput | None:
    """The task's last frame as the next clip's first frame: the local copy, else the provider's link."""
    accepts_data = spec is None or spec.data_url_images
    if accepts_data and task.last_frame_path and Path(task.last_frame_path).is_file():
        return image_input(task.last_frame_path, role=ImageRole.FIRST_FRAME, field="task")
    if task.last_frame_url and task.last_frame_url.startswith(("https://", "http://")):
        return ImageInput(url=task.last_frame_url, role=ImageRole.FIRST_FRAME)
    return None
