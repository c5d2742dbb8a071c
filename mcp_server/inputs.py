"""Turn tool arguments into a `VideoRequest`, refusing what must not be accepted from this caller.

Over stdio the server runs on the caller's own machine, so local image paths are fine. Over HTTP
the caller is remote: a local path would read the *server's* files, and a URL on a loopback,
private or link-local address would point inside the server's network, so both are refused.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from core.errors import InvalidRequestError
from core.inputs import check_url, image_from_bytes, image_input, media_input
from core.models import ImageInput, ImageRole, VideoRequest


def image_arg(value: str, *, role: ImageRole, field: str, remote: bool) -> ImageInput:
    """One image argument: an http(s) URL, a ``data:image/...;base64,`` URL, or (stdio) a local path."""
    value = value.strip()
    if value.startswith("data:"):
        return _data_url_image(value, role=role, field=field)
    if value.startswith(("https://", "http://")):
        check_url(value, field=field, public_only=remote)
        return image_input(value, role=role, field=field, allow_local=False)
    if remote:
        raise InvalidRequestError(
            f"{field}: local file paths are not accepted over HTTP; give a public https URL "
            "or a data:image/...;base64 URL",
            field=field,
        )
    return image_input(value, role=role, field=field, allow_local=True)


def _data_url_image(value: str, *, role: ImageRole, field: str) -> ImageInput:
    # Decoded and checked like an uploaded file, so a bad image is refused before anything is paid.
    header, _, payload = value.partition(",")
    if not header.startswith("data:image/") or not header.endswith(";base64") or not payload:
        raise InvalidRequestError(f"{field}: a data URL must look like data:image/png;base64,<data>", field=field)
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequestError(f"{field}: the data URL is not valid base64", field=field) from None
    return image_from_bytes(data, role=role, field=field, name="the data URL image")


def build_request(
    *,
    remote: bool,
    first_frame: str | None = None,
    last_frame: str | None = None,
    reference_images: list[str] | None = None,
    reference_videos: list[str] | None = None,
    reference_audios: list[str] | None = None,
    **fields: Any,
) -> VideoRequest:
    """A validated request from tool arguments. Raises `InvalidRequestError` naming the argument."""
    images: list[ImageInput] = []
    if first_frame:
        images.append(image_arg(first_frame, role=ImageRole.FIRST_FRAME, field="first_frame", remote=remote))
    if last_frame:
        images.append(image_arg(last_frame, role=ImageRole.LAST_FRAME, field="last_frame", remote=remote))
    for value in reference_images or ():
        images.append(image_arg(value, role=ImageRole.REFERENCE_IMAGE, field="reference_images", remote=remote))
    videos = [media_input(v.strip(), field="reference_videos", public_only=remote) for v in reference_videos or ()]
    audios = [media_input(a.strip(), field="reference_audios", public_only=remote) for a in reference_audios or ()]
    from core.inputs import validated_request

    return validated_request(
        {**fields, "images": tuple(images), "videos": tuple(videos), "audios": tuple(audios)}
    )
