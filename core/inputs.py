"""Turning what a user hands us (a URL, a local file, uploaded bytes) into request inputs.

Images are checked the way Ark checks them (type, size, pixel bounds, aspect ratio) so a bad file
is refused before anything is paid for. Local files become ``data:`` URLs.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import socket
import struct
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from core.errors import InvalidRequestError
from core.models import ImageInput, ImageRole, MediaInput, VideoRequest

MAX_IMAGE_BYTES = 30 * 1024 * 1024
MIN_SIDE, MAX_SIDE = 300, 6000
MIN_ASPECT, MAX_ASPECT = 0.4, 2.5

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
)


def sniff_image_type(data: bytes) -> str | None:
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def image_size(data: bytes, kind: str) -> tuple[int, int] | None:
    """Pixel size from the file header, without decoding the image."""
    try:
        if kind == "png":
            width, height = struct.unpack(">II", data[16:24])
            return int(width), int(height)
        if kind == "gif":
            width, height = struct.unpack("<HH", data[6:10])
            return int(width), int(height)
        if kind == "bmp":
            width, height = struct.unpack("<ii", data[18:26])
            return abs(int(width)), abs(int(height))
        if kind == "jpeg":
            return _jpeg_size(data)
        if kind == "webp":
            return _webp_size(data)
    except struct.error:
        return None
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return int(width), int(height)
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        i += 2 + int(length)
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", data[26:30])
        return int(width) & 0x3FFF, int(height) & 0x3FFF
    if chunk == b"VP8L":
        b = data[21:25]
        width = 1 + (((b[1] & 0x3F) << 8) | b[0])
        height = 1 + (((b[3] & 0xF) << 10) | (b[2] << 2) | ((b[1] & 0xC0) >> 6))
        return width, height
    if chunk == b"VP8X":
        width = 1 + int.from_bytes(data[24:27], "little")
        height = 1 + int.from_bytes(data[27:30], "little")
        return width, height
    return None


def image_from_bytes(data: bytes, *, role: ImageRole, field: str, name: str = "image") -> ImageInput:
    """Check an uploaded or local image and wrap it as a data URL.

    Raises:
        InvalidRequestError: not an image we can send, too big, or outside the pixel bounds.
    """
    if len(data) > MAX_IMAGE_BYTES:
        raise InvalidRequestError(
            f"{field}: {name} is {len(data) / 1e6:.1f} MB; images must be under 30 MB", field=field
        )
    kind = sniff_image_type(data)
    if kind is None:
        raise InvalidRequestError(
            f"{field}: {name} is not a JPEG, PNG, WebP, GIF, BMP or TIFF image", field=field
        )
    size = image_size(data, kind)
    if size is not None:
        width, height = size
        if min(width, height) < MIN_SIDE or max(width, height) > MAX_SIDE:
            raise InvalidRequestError(
                f"{field}: {name} is {width}×{height} px; each side must be between {MIN_SIDE} and {MAX_SIDE} px",
                field=field,
            )
        aspect = width / height
        if not MIN_ASPECT <= aspect <= MAX_ASPECT:
            raise InvalidRequestError(
                f"{field}: {name} has aspect ratio {aspect:.2f}; it must be between {MIN_ASPECT} and {MAX_ASPECT}",
                field=field,
            )
    encoded = base64.b64encode(data).decode("ascii")
    return ImageInput(url=f"data:image/{kind};base64,{encoded}", role=role)


def image_input(value: str, *, role: ImageRole, field: str, allow_local: bool = True) -> ImageInput:
    """An image from an http(s) URL or, when allowed, a local file path.

    Raises:
        InvalidRequestError: the value is neither, or the file is not a usable image.
    """
    if value.startswith(("https://", "http://")):
        check_url(value, field=field)
        return ImageInput(url=value, role=role)
    if value.startswith("data:image/"):
        return ImageInput(url=value, role=role)
    if not allow_local:
        raise InvalidRequestError(
            f"{field}: give an http(s) URL or a data:image URL (local files are not accepted here)", field=field
        )
    try:
        path = Path(value).expanduser()
        is_file = path.is_file()
    except (OSError, RuntimeError, ValueError):  # ~nosuchuser, names too long, NUL bytes
        is_file = False
    if not is_file:
        raise InvalidRequestError(
            f"{field}: {value[:80]!r} is not an http(s) URL, a data:image URL or an existing file", field=field
        )
    try:
        if path.stat().st_size > MAX_IMAGE_BYTES:
            raise InvalidRequestError(f"{field}: {path.name} is over 30 MB", field=field)
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidRequestError(f"{field}: cannot read {path.name} ({exc.strerror})", field=field) from None
    return image_from_bytes(data, role=role, field=field, name=path.name)


def media_input(value: str, *, field: str, public_only: bool = False) -> MediaInput:
    """A reference video or audio clip: providers fetch these themselves, so only URLs."""
    if not value.startswith(("https://", "http://")):
        raise InvalidRequestError(f"{field}: give an http(s) URL to the clip", field=field)
    check_url(value, field=field, public_only=public_only)
    return MediaInput(url=value)


def check_url(url: str, *, field: str, public_only: bool = False) -> None:
    """Refuse malformed URLs; with ``public_only``, also hosts on loopback, private or link-local nets.

    Raises:
        InvalidRequestError: the URL is not usable.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequestError(f"{field}: {url[:80]!r} is not a valid http(s) URL", field=field)
    if "\\" in url or "@" in parts.netloc:
        # Parsers disagree on these (http://127.0.0.1\@example.com): refuse rather than guess.
        raise InvalidRequestError(f"{field}: URLs with credentials or backslashes are not accepted", field=field)
    if len(url) > 4096:
        raise InvalidRequestError(f"{field}: the URL is longer than 4096 characters", field=field)
    if public_only and not is_public_host(parts.hostname):
        raise InvalidRequestError(
            f"{field}: {parts.hostname} is a local or private address; give a public URL", field=field
        )


def is_public_host(host: str) -> bool:
    """True when every address ``host`` names is a public one (checked on the literal or via DNS)."""
    literal = host_literal_is_public(host)
    if literal is not None:
        return literal
    try:
        infos = socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError):
        return True  # unresolvable here: the provider will fail to fetch it, no risk to us
    return all(address_is_public(str(info[4][0])) for info in infos)


async def host_resolves_public(host: str) -> bool:
    """`is_public_host` without blocking the event loop; an unresolvable name is not public."""
    literal = host_literal_is_public(host)
    if literal is not None:
        return literal
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError):
        return False
    return all(address_is_public(str(info[4][0])) for info in infos)


def host_literal_is_public(host: str) -> bool | None:
    """Decide from the name alone: False for local names, the answer for IP literals, else None."""
    name = host.lower().rstrip(".").strip("[]")
    if name in ("localhost", "localhost.localdomain") or name.endswith(".localhost") or not name:
        return False
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return None
    return address_is_public(name)


def address_is_public(text: str) -> bool:
    addr = ipaddress.ip_address(text.split("%", 1)[0])
    if isinstance(addr, ipaddress.IPv6Address):
        # Addresses that embed an IPv4 one (mapped, NAT64, 6to4) are as public as what they embed.
        embedded = addr.ipv4_mapped or addr.sixtofour
        if embedded is None and addr in ipaddress.ip_network("64:ff9b::/96"):
            embedded = ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
        if embedded is not None:
            return embedded.is_global and not embedded.is_multicast
    return addr.is_global and not addr.is_multicast


def validated_request(fields: dict[str, Any]) -> VideoRequest:
    """`VideoRequest` from loose fields, turning pydantic's errors into one line naming the field."""
    try:
        return VideoRequest.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "request"
        raise InvalidRequestError(f"{field}: {first['msg']}", field=field) from None
