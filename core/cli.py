"""The ``seedance`` command line: generate, status, history, cancel, models, estimate, serve.

Exit status: 0 success (or submitted, with ``--no-wait``); 1 the task ended failed, expired or
cancelled, or the provider refused it; 2 the input was invalid and nothing was sent.
With ``--json`` stdout holds exactly one JSON value; progress always goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from core.config import Settings, local_user
from core.errors import (
    ConfigError,
    InvalidRequestError,
    SeedanceError,
    TaskNotFoundError,
)
from core.inputs import image_input, media_input, validated_request
from core.models import ImageInput, ImageRole, MediaInput, Task, TaskStatus, VideoRequest
from core.scheduling import Progress
from core.service import VideoService, open_service

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


class UsageError(Exception):
    """Bad command-line words: exit 2 with one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        sub = self.prog.split()[1:]
        hint = f"seedance {sub[-1]} --help" if sub else "seedance --help"
        raise UsageError(f"{message} (see '{hint}')")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="seedance", description="Generate AI videos with ByteDance Seedance models.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    gen = sub.add_parser("generate", help="generate a video and wait for it")
    gen.add_argument("prompt", help="what the video should show")
    _add_request_options(gen)
    gen.add_argument("--no-wait", action="store_true", help="submit and return at once")
    gen.add_argument("--output", "-o", type=Path, help="also copy the finished video to this file")
    gen.add_argument("--json", action="store_true", help="print the task as JSON")

    est = sub.add_parser("estimate", help="what a video would cost, without paying")
    est.add_argument("prompt", nargs="?", default="", help="optional; some checks depend on it")
    _add_request_options(est)
    est.add_argument("--json", action="store_true")

    status = sub.add_parser("status", help="show a task, waiting for it to finish")
    status.add_argument("task")
    status.add_argument("--no-wait", action="store_true", help="show the current state and return")
    status.add_argument("--json", action="store_true")

    history = sub.add_parser("history", help="your tasks, newest first")
    history.add_argument("--limit", type=int, default=20)
    history.add_argument("--offset", type=int, default=0)
    history.add_argument("--json", action="store_true")

    cancel = sub.add_parser("cancel", help="cancel a queued task")
    cancel.add_argument("task")
    cancel.add_argument("--json", action="store_true")

    models = sub.add_parser("models", help="models, limits and prices of the configured providers")
    models.add_argument("--provider")
    models.add_argument("--json", action="store_true")

    sub.add_parser("serve", help="MCP over streamable HTTP, plus the Discord bot when DISCORD_TOKEN is set")
    return parser


def _add_request_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", "-m")
    p.add_argument("--provider")
    p.add_argument("--resolution", "-r", choices=("480p", "720p", "1080p"))
    p.add_argument("--ratio", help="16:9, 4:3, 1:1, 3:4, 9:16, 21:9 or adaptive")
    p.add_argument("--duration", "-d", type=int, help="seconds (-1 lets the model choose where allowed)")
    p.add_argument("--audio", dest="audio", action="store_true", default=None, help="generate a soundtrack")
    p.add_argument("--no-audio", dest="audio", action="store_false")
    p.add_argument("--seed", type=int)
    p.add_argument("--camera-fixed", action="store_true", default=None)
    p.add_argument("--watermark", action="store_true", default=None)
    p.add_argument("--first-frame", metavar="IMG")
    p.add_argument("--last-frame", metavar="IMG")
    p.add_argument("--reference-image", metavar="IMG", action="append", default=[])
    p.add_argument("--reference-video", metavar="URL", action="append", default=[])
    p.add_argument("--reference-audio", metavar="URL", action="append", default=[])
    p.add_argument("--return-last-frame", action="store_true")
    p.add_argument("--service-tier", choices=("default", "flex"))
    p.add_argument("--draft", action="store_true", default=None)
    p.add_argument("--expires-after", type=int, metavar="SECONDS", help="give up after this long (3600-259200)")


def request_from_args(args: argparse.Namespace) -> VideoRequest:
    """Build the request; local image files become data URLs. Raises `InvalidRequestError`."""
    images: list[ImageInput] = []
    if args.first_frame:
        images.append(image_input(args.first_frame, role=ImageRole.FIRST_FRAME, field="first_frame"))
    if args.last_frame:
        images.append(image_input(args.last_frame, role=ImageRole.LAST_FRAME, field="last_frame"))
    for value in args.reference_image:
        images.append(image_input(value, role=ImageRole.REFERENCE_IMAGE, field="reference_image"))
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


# -- output ------------------------------------------------------------------------------------


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")


def _describe(task: Task) -> str:
    lines = [f"task {task.id}  {task.status.value}  ({task.provider}, {task.model})"]
    if task.video_path:
        lines.append(f"video: {task.video_path}")
    elif task.video_url:
        lines.append(f"video link: {task.video_url}")
    if task.last_frame_path:
        lines.append(f"last frame: {task.last_frame_path}")
    if task.error:
        lines.append(f"error: {task.error.message} [{task.error.code}]")
    cost = task.cost.actual if task.cost.actual is not None else task.cost.estimated
    if cost is not None:
        kind = "cost" if task.cost.actual is not None else "estimated cost"
        lines.append(f"{kind}: {cost:,.0f} {task.cost.unit}")
    return "\n".join(lines)


class ProgressLine:
    """A one-line progress display on stderr (rewritten in place on a terminal)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._last = ""

    async def __call__(self, task: Task, progress: Progress) -> None:
        if progress.remaining is None:
            eta = "taking longer than usual"
        else:
            eta = f"about {progress.remaining:.0f}s left"
        text = f"{task.id}: {task.status.value}, {progress.elapsed:.0f}s elapsed, {eta} ({progress.fraction:.0%})"
        if self._tty:
            self._stream.write("\r" + text.ljust(len(self._last)))
            self._stream.flush()
        elif task.status.value not in self._last:  # a line per status change, not per second
            self._stream.write(text + "\n")
        self._last = text

    def done(self) -> None:
        if self._tty and self._last:
            self._stream.write("\n")


def _exit_code(task: Task) -> int:
    if task.status in (TaskStatus.FAILED, TaskStatus.EXPIRED, TaskStatus.CANCELLED):
        return EXIT_FAILED
    if task.status is TaskStatus.SUCCEEDED and task.is_final and not task.video_path:
        return EXIT_FAILED  # the video could not be fetched
    return EXIT_OK


# -- commands ----------------------------------------------------------------------------------


async def _generate(service: VideoService, user: str, args: argparse.Namespace) -> int:
    request = request_from_args(args)
    task = await service.submit(user, request, provider=args.provider)
    if not args.json:
        print(f"submitted task {task.id} to {task.provider} ({task.model})", file=sys.stderr)
    if not args.no_wait:
        task = await _wait(service, user, task)
    if args.output and task.video_path:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(task.video_path, args.output)
    _show(task, args.json)
    return _exit_code(task) if task.is_final else EXIT_OK


async def _wait(service: VideoService, user: str, task: Task) -> Task:
    display = ProgressLine(sys.stderr)
    try:
        return await service.wait(user, task.id, on_progress=display)
    finally:
        display.done()


def _show(task: Task, as_json: bool) -> None:
    if as_json:
        _print_json(task.to_json())
    else:
        print(_describe(task))


async def _status(service: VideoService, user: str, args: argparse.Namespace) -> int:
    task = await service.get(user, args.task)
    if not args.no_wait and not task.is_final:
        task = await _wait(service, user, task)
    _show(task, args.json)
    return _exit_code(task) if task.is_final else EXIT_OK


async def _history(service: VideoService, user: str, args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= 100:
        raise InvalidRequestError(f"--limit {args.limit} is out of range: choose 1 to 100", field="limit")
    tasks = await service.list_tasks(user, limit=args.limit, offset=max(args.offset, 0))
    if args.json:
        _print_json([t.to_json() for t in tasks])
    elif not tasks:
        print("no tasks yet: try  seedance generate \"a red fox running through snow\"")
    else:
        for t in tasks:
            where = t.video_path or (t.error.message if t.error else "")
            print(f"{t.id}  {t.created_at:%Y-%m-%d %H:%M}  {t.status.value:<9}  {t.prompt[:50]!r}  {where}")
    return EXIT_OK


async def _cancel(service: VideoService, user: str, args: argparse.Namespace) -> int:
    task = await service.cancel(user, args.task)
    _show(task, args.json)
    return EXIT_OK


def _models(service: VideoService, args: argparse.Namespace) -> int:
    specs = service.models(args.provider)
    if args.json:
        _print_json([s.to_json() for s in specs])
        return EXIT_OK
    for spec in specs:
        mark = "*" if spec.newest_default else " "
        if spec.durations:
            durations = "/".join(str(d) for d in spec.durations)
        else:
            low, high = spec.duration_range or (spec.default_duration, spec.default_duration)
            durations = f"{low}-{high}"
        print(
            f"{mark} {spec.provider:<11} {spec.id:<36} {'/'.join(spec.resolutions):<16} "
            f"{durations:>6}s  audio={'yes' if spec.audio else 'no ':<3}  {spec.label}"
        )
    return EXIT_OK


def _estimate(service: VideoService, args: argparse.Namespace) -> int:
    request = request_from_args(args)
    if not request.prompt:
        # No prompt is needed to price a video: the cost never depends on the words.
        request = request.model_copy(update={"prompt": "estimate"})
    estimate = service.estimate(request, args.provider)
    data = {
        "provider": estimate.provider,
        "model": estimate.model,
        "unit": estimate.unit,
        "estimated": estimate.amount,
        "params": estimate.request.params(),
    }
    if args.json:
        _print_json(data)
    else:
        print(f"{estimate.provider} {estimate.model}: about {estimate.amount:,.0f} {estimate.unit}")
    return EXIT_OK


async def run(args: argparse.Namespace, settings: Settings) -> int:
    user = settings.user or local_user()
    async with open_service(settings, resume=False) as service:
        if args.command == "generate":
            return await _generate(service, user, args)
        if args.command == "status":
            return await _status(service, user, args)
        if args.command == "history":
            return await _history(service, user, args)
        if args.command == "cancel":
            return await _cancel(service, user, args)
        if args.command == "models":
            return _models(service, args)
        if args.command == "estimate":
            return _estimate(service, args)
    raise UsageError(f"unknown command {args.command!r}")


def _exit_for(exc: SeedanceError) -> int:
    if isinstance(exc, (InvalidRequestError, ConfigError, TaskNotFoundError)):
        return EXIT_INVALID
    return EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        print(f"seedance: {exc}", file=sys.stderr)
        return EXIT_INVALID
    try:
        settings = Settings.from_env()
        if args.command == "serve":
            # Imported by name: the front ends sit on top of core, not the other way round.
            importlib.import_module("mcp_server.serve").serve(settings)
            return EXIT_OK
        return asyncio.run(run(args, settings))
    except SeedanceError as exc:
        print(f"seedance: {exc}", file=sys.stderr)
        return _exit_for(exc)
    except KeyboardInterrupt:
        print("seedance: interrupted; a submitted task keeps running: see  seedance history", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - never show a traceback to a user
        print(f"seedance: unexpected error ({type(exc).__name__}); please report it", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
