"""From command-line words to a `VideoRequest`, and core errors back into option names."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from core.errors import InvalidRequestError
from core.inputs import image_input, media_input, validated_request
from core.models import ImageInput, ImageRole, MediaInput, VideoRequest

# Request fields as the command line names them: errors speak of options, not of model fields.
OPTION_NAMES = {
    "execution_expires_after": "--expires-after",
    "generate_audio": "--audio",
    "camera_fixed": "--camera-fixed",
    "return_last_frame": "--return-last-frame",
    "service_tier": "--service-tier",
    "first_frame": "--first-frame",
    "last_frame": "--last-frame",
    "reference_image": "--reference-image",
    "reference_video": "--reference-video",
    "reference_audio": "--reference-audio",
}
_LEADING_OPTIONS = ("model", "provider", "resolution", "ratio", "duration", "seed", "watermark", "draft", "limit")
_FIELD_WORD = re.compile(r"(?<![\w-])(" + "|".join(OPTION_NAMES) + r")(?![\w-])")


def _image(value: str, role: ImageRole, field: str) -> ImageInput:
    if value.lower().startswith("http://"):
        option = OPTION_NAMES[field]
        raise InvalidRequestError(
            f"{option}: {value[:60]!r} is a plain http:// link: give an https URL or a local image file",
            field=field,
        )
    return image_input(value, role=role, field=field)


def request_from_args(args: argparse.Namespace) -> VideoRequest:
    """Build the request; local image files become data URLs. Raises `InvalidRequestError`."""
    images: list[ImageInput] = []
    if args.first_frame:
        images.append(_image(args.first_frame, ImageRole.FIRST_FRAME, "first_frame"))
    if args.last_frame:
        images.append(_image(args.last_frame, ImageRole.LAST_FRAME, "last_frame"))
    for value in args.reference_image:
        images.append(_image(value, ImageRole.REFERENCE_IMAGE, "reference_image"))
    expiry = args.expires_after
    if expiry is not None and not 3600 <= expiry <= 259200:
        raise InvalidRequestError(
            f"--expires-after {expiry} is out of range: choose 3600-259200 seconds (1 hour to 3 days)",
            field="execution_expires_after",
        )
    videos = [media_input(v, field="reference_video") for v in args.reference_video]
    audios: list[MediaInput] = [media_input(a, field="reference_audio") for a in args.reference_audio]
    fields: dict[str, Any] = {
        "prompt": args.prompt or "",
        "model": args.model,
        "resolution": args.resolution,
        "ratio": args.ratio,
        "duration": args.duration,
        "generate_audio": args.audio,
        "seed": args.seed,
        "camera_fixed": args.camera_fixed,
        "watermark": args.watermark,
        "return_last_frame": args.return_last_frame,
        "service_tier": args.service_tier,
        "draft": args.draft,
        "execution_expires_after": args.expires_after,
        "images": tuple(images),
        "videos": tuple(videos),
        "audios": tuple(audios),
    }
    return validated_request(fields)


def cli_words(message: str) -> str:
    """A core error message as the command line says it: option names instead of request fields."""
    message = _FIELD_WORD.sub(lambda m: OPTION_NAMES[m.group(1)], message)
    for name in _LEADING_OPTIONS:
        if message.startswith((f"{name} ", f"{name}:")):
            return "--" + message
    return message


def check_output(path: Path) -> Path:
    """Make sure the video can be copied to ``path`` before anything is paid for.

    Creates missing parent folders (like ``mkdir -p``) and proves the place is writable by creating
    (then removing) the file, or opening an existing one for appending (which changes nothing).

    Raises:
        InvalidRequestError: a folder, or a place that cannot be written.
    """
    target = path.expanduser()
    if target.is_dir():
        raise InvalidRequestError(
            f"--output {path} is a folder: give a file name, e.g. {path / 'video.mp4'}", field="output"
        )
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise InvalidRequestError(
            f"--output: {target.parent} is not a folder (a file has that name)", field="output"
        ) from None
    except OSError as exc:
        raise InvalidRequestError(
            f"--output: cannot create the folder {target.parent} ({exc.strerror or exc})", field="output"
        ) from None
    try:
        if target.exists():
            with open(target, "ab"):
                pass
        else:
            with open(target, "xb"):
                pass
            target.unlink()
    except OSError as exc:
        raise InvalidRequestError(f"--output: cannot write {path} ({exc.strerror or exc})", field="output") from None
    return target
