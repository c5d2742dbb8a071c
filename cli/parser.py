"""The command line's words: every command, its options and their help."""

from __future__ import annotations

import argparse
from importlib import metadata
from pathlib import Path
from typing import NoReturn

from core import catalog


class UsageError(Exception):
    """Bad command-line words: exit 2 with one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        sub = self.prog.split()[1:]
        hint = f"seedance {sub[-1]} --help" if sub else "seedance --help"
        raise UsageError(f"{message} (see '{hint}')")


def version() -> str:
    try:
        return metadata.version("seedance-studio")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="seedance", description="Generate AI videos with ByteDance Seedance models.")
    parser.add_argument("--version", action="version", version=f"seedance {version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    gen = sub.add_parser("generate", help="generate a video and wait for it")
    gen.add_argument("prompt", help="what the video should show")
    add_request_options(gen)
    gen.add_argument("--no-wait", action="store_true", help="submit and return at once (follow it with 'status')")
    gen.add_argument("--output", "-o", type=Path, metavar="FILE",
                     help="also copy the finished video to FILE (checked before anything is sent; missing "
                          "folders are made)")
    gen.add_argument("--json", action="store_true", help="print the task as one JSON object")

    est = sub.add_parser("estimate", help="what a video would cost, without paying")
    est.add_argument("prompt", nargs="?", default="", help="optional: a price never depends on the words")
    add_request_options(est)
    est.add_argument("--json", action="store_true", help="print the estimate as one JSON object")

    status = sub.add_parser("status", help="show a task, waiting for it to finish")
    status.add_argument("task", help="the task id")
    status.add_argument("--no-wait", action="store_true", help="show the current state and return")
    status.add_argument("--json", action="store_true", help="print the task as one JSON object")

    history = sub.add_parser("history", help="your tasks, newest first")
    history.add_argument("--limit", type=int, default=20, help="how many tasks (1-100, default 20)")
    history.add_argument("--offset", type=int, default=0, help="skip this many of the newest tasks")
    history.add_argument("--json", action="store_true", help="print the tasks as one JSON list")

    cancel = sub.add_parser("cancel", help="cancel a queued task or a story (a cancelled task is not charged)")
    cancel.add_argument("task", help="the task id, or a story id (story-...)")
    cancel.add_argument("--json", action="store_true", help="print the task (or story) as one JSON object")

    models = sub.add_parser("models", help="models, limits and price rules of the configured providers")
    models.add_argument("--provider", help="only this provider's models (configured or not)")
    models.add_argument("--all", action="store_true", help="every provider's models, configured or not")
    models.add_argument("--json", action="store_true", help="print the models as one JSON list")

    story = sub.add_parser("story", help="one long video from 2-6 shots, each starting where the one before ended")
    story.add_argument("shots", nargs="+", metavar="SHOT", help="one prompt per shot, in order (2-6)")
    add_request_options(story)  # --first-frame is shot 1's; every other option applies to every shot
    story.add_argument("--no-wait", action="store_true", help="start it and return at once (follow it with 'status')")
    story.add_argument("--output", "-o", type=Path, metavar="FILE", help="also copy the joined video to FILE")
    story.add_argument("--json", action="store_true", help="print the story as one JSON object")
    story.set_defaults(prompt="")

    retry = sub.add_parser("retry", help="make a failed story's failed shot again (only that shot is paid again)")
    retry.add_argument("task", metavar="STORY", help="the story id (story-...)")
    retry.add_argument("--prompt", help="a new prompt for the failed shot (default: its own)")
    retry.add_argument("--no-wait", action="store_true", help="start it and return at once (follow it with 'status')")
    retry.add_argument("--output", "-o", type=Path, metavar="FILE", help="also copy the joined video to FILE")
    retry.add_argument("--json", action="store_true", help="print the story as one JSON object")

    serve = sub.add_parser("serve", help="MCP over streamable HTTP, plus the Discord bot when DISCORD_TOKEN is set")
    serve.add_argument("--host", help="interface to listen on (default SEEDANCE_MCP_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default SEEDANCE_MCP_PORT or 8000; 0 picks a free one)")
    return parser


def add_request_options(p: argparse.ArgumentParser) -> None:
    """The options that shape a video, shared by generate, estimate and story."""
    p.add_argument("--model", "-m", help="model id of the provider ('seedance models' lists them)")
    p.add_argument("--provider", help="which configured provider (default SEEDANCE_PROVIDER, else the sandbox)")
    p.add_argument("--resolution", "-r", choices=catalog.RESOLUTIONS, help="output resolution")
    p.add_argument("--ratio", help="aspect ratio: 16:9, 4:3, 1:1, 3:4, 9:16, 21:9 or adaptive")
    p.add_argument("--duration", "-d", type=int, help="seconds (-1 lets the model choose where allowed)")
    p.add_argument("--audio", dest="audio", action="store_true", default=None,
                   help="generate a soundtrack (models with audio)")
    p.add_argument("--no-audio", dest="audio", action="store_false", help="make a silent video")
    p.add_argument("--seed", type=int, help="seed for repeatable results (-1: random)")
    p.add_argument("--camera-fixed", action="store_true", default=None, help="keep the camera still (not every model)")
    p.add_argument("--watermark", action="store_true", default=None, help="add the provider's watermark")
    p.add_argument("--first-frame", metavar="IMG", help="image the video starts from: an https URL or a local file")
    p.add_argument("--last-frame", metavar="IMG", help="image the video ends on (needs --first-frame)")
    p.add_argument("--reference-image", metavar="IMG", action="append", default=[],
                   help="reference image for style or subject (repeatable; not with frames)")
    p.add_argument("--reference-video", metavar="URL", action="append", default=[],
                   help="reference video clip, an https URL (repeatable)")
    p.add_argument("--reference-audio", metavar="URL", action="append", default=[],
                   help="reference audio clip, an https URL (repeatable)")
    p.add_argument("--return-last-frame", action="store_true", help="also save the video's last frame as a PNG")
    p.add_argument("--service-tier", choices=("default", "flex"), help="flex: half price, slower queue (some models)")
    p.add_argument("--draft", action="store_true", default=None, help="cheap 480p draft (Seedance 1.5 Pro)")
    p.add_argument("--expires-after", type=int, metavar="SECONDS",
                   help="give up when the provider has not finished after this long (3600-259200)")
