"""First- and last-frame images for the sandbox, without ever touching the network.

A ``data:`` URL is decoded. Anything else (an https URL, an ``asset://`` id) is never fetched: the
sandbox draws a placeholder that says what it stands for and why, so nobody mistakes it for the image.
The output size follows the request the way Ark's does (``adaptive`` takes the first frame's shape).
"""

from __future__ import annotations

import base64
import binascii
import io
import math
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes, urlsplit

from PIL import Image, ImageOps

from core import catalog
from core.catalog import ModelSpec
from core.sandbox.scene import placeholder_image

__all__ = ["Still", "load_still", "output_size", "short_url"]

_MAX_PIXELS = 6000 * 6000  # Ark's own upper bound on an input image


@dataclass(frozen=True)
class Still:
    """An input image as the sandbox has it: decoded, or only its address and why it is not here."""

    url: str
    image: Image.Image | None  # RGB
    reason: str | None = None  # why `image` is None

    def picture(self, width: int, height: int, role: str) -> Image.Image:
        """The image, or a placeholder of `width`×`height` that names it and says why it is missing."""
        if self.image is not None:
            return self.image
        title = f"{role.upper()} (placeholder)"
        return placeholder_image(width, height, title=title, lines=[self.reason or "", short_url(self.url)])


def load_still(url: str) -> Still:
    """Decode a ``data:`` image URL; for any other address, a `Still` without an image (never fetched)."""
    scheme = urlsplit(url).scheme.lower() if "://" in url or url.startswith("data:") else ""
    if scheme == "data":
        image = _decode_data_url(url)
        if image is None:
            return Still(url, None, "this image could not be decoded")
        return Still(url, image)
    if scheme in ("http", "https"):
        return Still(url, None, "web image not fetched: the sandbox works offline")
    if scheme == "asset":
        return Still(url, None, "asset library image: not available offline")
    return Still(url, None, "unsupported image address")


def _decode_data_url(url: str) -> Image.Image | None:
    header, _, payload = url.partition(",")
    try:
        data = base64.b64decode(payload, validate=False) if header.endswith(";base64") else unquote_to_bytes(payload)
        opened = Image.open(io.BytesIO(data))
        if opened.width * opened.height > _MAX_PIXELS:
            return None
        image = ImageOps.exif_transpose(opened)
        if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
            # Transparent parts over black, as a video frame has no transparency.
            rgba = image.convert("RGBA")
            flat = Image.new("RGB", rgba.size, (0, 0, 0))
            flat.paste(rgba, mask=rgba.getchannel("A"))
            return flat
        return image.convert("RGB")
    except (OSError, ValueError, SyntaxError, binascii.Error, Image.DecompressionBombError):
        return None


def short_url(url: str, limit: int = 64) -> str:
    """Host and file name of a URL, never its query (signed links carry secrets there)."""
    if url.startswith("data:"):
        return url.partition(",")[0][:limit]
    parts = urlsplit(url)
    name = parts.path.rstrip("/").rpartition("/")[2]
    text = f"{parts.scheme}://{parts.netloc}/…/{name}" if name and parts.path.count("/") > 1 else (
        f"{parts.scheme}://{parts.netloc}{parts.path}"
    )
    return text if len(text) <= limit else text[: limit - 1] + "…"


def output_size(
    spec: ModelSpec, resolution: str, ratio: str, first_frame: tuple[int, int] | None
) -> tuple[str, int, int]:
    """(ratio, width, height) of the video, per the real models' size table (providers.md §1.6).

    ``adaptive`` becomes the model's ratio closest to the first frame's shape, or 16:9 without one
    (or when the first frame's shape cannot be known offline).
    """
    if ratio == "adaptive":
        ratio = "16:9"
        if first_frame is not None and first_frame[0] > 0 and first_frame[1] > 0:
            aspect = math.log(first_frame[0] / first_frame[1])
            choices = [r for r in spec.ratios if r != "adaptive"] or ["16:9"]

            def distance(choice: str) -> float:
                w, h = catalog.pixel_size(spec, resolution, choice)
                return abs(math.log(w / h) - aspect)

            ratio = min(choices, key=distance)
    width, height = catalog.pixel_size(spec, resolution, ratio)
    return ratio, width, height
