"""The ``seedance`` command line: generate, status, history, cancel, models, estimate, serve.

Exit status: 0 success (or submitted, with ``--no-wait``); 1 the task ended failed, expired or
cancelled, or the provider refused it; 2 the input was invalid and nothing was sent.
With ``--json`` stdout holds exactly one JSON value, also on an error: ``{"error": {"code",
"message"}}`` (plus ``"task"`` when a task exists); progress always goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import re
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, NoReturn, TextIO

from core import catalog
from core.config import Settings, local_user
from core.errors import (
    ConfigError,
    InvalidRequestError,
    SeedanceError,
    StoreError,
    TaskNotFoundError,
)
from core.inputs import image_input, media_input, validated_request
from core.models import ImageInput, ImageRole, MediaInput, Story, StoryStatus, Task, TaskStatus, VideoRequest
from core.scheduling import Progress
from core.service import VideoService, open_service

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2
EXIT_INTERRUPTED = 130

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


class UsageError(Exception):
    """Bad command-line words: exit 2 with one line."""


class OutputError(SeedanceError):
    """The finished video could not be copied to ``--output``."""

    code = "output_failed"


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
    _add_request_options(gen)
    gen.add_argument("--no-wait", action="store_true", help="submit and return at once (follow it with 'status')")
    gen.add_argument("--output", "-o", type=Path, metavar="FILE",
                     help="also copy the finished video to FILE (checked before anything is sent; missing "
                          "folders are made)")
    gen.add_argument("--json", action="store_true", help="print the task as one JSON object")

    est = sub.add_parser("estimate", help="what a video would cost, without paying")
    est.add_argument("prompt", nargs="?", default="", help="optional: a price never depends on the words")
    _add_request_options(est)
    est.add_argument("--json", action="store_true", help="print the estimate as one JSON object")

    status = sub.add_parser("status", help="show a task, waiting for it to finish")
    status.add_argument("task", help="the task id")
    status.add_argument("--no-wait", action="store_true", help="show the current state and return")
    status.add_argument("--json", action="store_true", help="print the task as one JSON object")

    history = sub.add_parser("history", help="your tasks, newest first")
    history.add_argument("--limit", type=int, default=20, help="how many tasks (1-100, default 20)")
    history.add_argument("--offset", type=int, default=0, help="skip this many of the newest tasks")
    history.add_argument("--json", action="store_true", help="print the tasks as one JSON list")

    cancel = sub.add_parser("cancel", help="cancel a queued task (a cancelled task is not charged)")
    cancel.add_argument("task", help="the task id")
    cancel.add_argument("--json", action="store_true", help="print the task as one JSON object")

    models = sub.add_parser("models", help="models, limits and price rules of the configured providers")
    models.add_argument("--provider", help="only this provider's models (configured or not)")
    models.add_argument("--all", action="store_true", help="every provider's models, configured or not")
    models.add_argument("--json", action="store_true", help="print the models as one JSON list")

    story = sub.add_parser("story", help="one long video from 2-6 shots, each starting where the one before ended")
    story.add_argument("shots", nargs="+", metavar="SHOT", help="one prompt per shot, in order (2-6)")
    _add_request_options(story)  # --first-frame is shot 1's; every other option applies to every shot
    story.add_argument("--no-wait", action="store_true", help="start it and return at once (follow it with 'status')")
    story.add_argument("--output", "-o", type=Path, metavar="FILE", help="also copy the joined video to FILE")
    story.add_argument("--json", action="store_true", help="print the story as one JSON object")
    story.set_defaults(prompt="")

    serve = sub.add_parser("serve", help="MCP over streamable HTTP, plus the Discord bot when DISCORD_TOKEN is set")
    serve.add_argument("--host", help="interface to listen on (default SEEDANCE_MCP_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default SEEDANCE_MCP_PORT or 8000; 0 picks a free one)")
    return parser


def _add_request_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", "-m", help="model id of the provider ('seedance models' lists them)")
    p.add_argument("--provider", help="which configured provider (default SEEDANCE_PROVIDER, else the sandbox)")
    p.add_argument("--resolution", "-r", choices=("480p", "720p", "1080p"), help="output resolution")
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


# -- output ------------------------------------------------------------------------------------


def _print_json(value: Any) -> None:
    try:
        sys.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")
    except UnicodeEncodeError:  # a terminal that cannot show it, or text echoed from a non-UTF-8 argument
        sys.stdout.write(json.dumps(value) + "\n")


def task_json(task: Task) -> dict[str, Any]:
    """The task JSON, with US dollars where the catalog knows a price and whether it was charged."""
    data = task.to_json()
    usd_estimated, usd_actual = catalog.task_usd(task)
    data["cost"] = {**data["cost"], "usd_estimated": usd_estimated, "usd_actual": usd_actual}
    charged = catalog.charge(task)
    data["charge"] = None if charged is None else {"state": charged.state, "text": charged.text}
    return data


def money(unit: str, amount: float, usd: float | None) -> str:
    """``108,900 tokens (price unknown)``, ``240 credits ($2.40)``."""
    return f"{catalog.format_amount(unit, amount)} ({catalog.format_usd(usd)})"


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
    usd_estimated, usd_actual = catalog.task_usd(task)
    charged = catalog.charge(task)
    if task.cost.actual is not None:
        lines.append(f"cost: {money(task.cost.unit, task.cost.actual, usd_actual)}")
    elif task.cost.estimated is not None and (charged is None or charged.state == "charged"):
        lines.append(f"estimated cost: {money(task.cost.unit, task.cost.estimated, usd_estimated)}")
    if charged is not None and charged.state != "charged":
        lines.append(f"billing: {charged.text}")
    return "\n".join(lines)


def progress_figures(task: Task, progress: Progress) -> tuple[int, float | None]:
    """(percent, seconds left) that agree with each other.

    Our own estimate has both from one clock: percent = elapsed / (elapsed + left). When the
    provider reports its progress, the time left follows from it instead.
    """
    elapsed = max(progress.elapsed, 0.0)
    if task.progress is not None:
        fraction = min(max(task.progress, 0.0), 0.99)
        left = elapsed * (1 - fraction) / fraction if fraction >= 0.05 else progress.remaining
        return int(fraction * 100), left
    if progress.remaining is None:
        return min(int(progress.fraction * 100), 99), None
    total = elapsed + progress.remaining
    percent = 99 if total <= 0 else int(elapsed / total * 100)
    return min(percent, 99), progress.remaining


class ProgressLine:
    """A one-line progress display on stderr (rewritten in place on a terminal)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._last = ""

    async def __call__(self, task: Task, progress: Progress) -> None:
        percent, left = progress_figures(task, progress)
        if task.status is TaskStatus.SUCCEEDED:
            eta = "fetching the video"
        elif left is None:
            eta = f"taking longer than usual ({percent}%)"
        elif left < 1:
            eta = f"under a second left ({percent}%)"
        else:
            eta = f"about {left:.0f}s left ({percent}%)"
        text = f"{task.id}: {task.status.value}, {progress.elapsed:.0f}s elapsed, {eta}"
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


@dataclass
class Session:
    """What one command run has done so far: the task it started, for an error report."""

    as_json: bool = False
    task: Task | None = None


async def _generate(service: VideoService, user: str, args: argparse.Namespace, session: Session) -> int:
    output = None
    if args.output is not None:
        if args.no_wait:
            raise InvalidRequestError("--output needs the finished video: it cannot be used with --no-wait",
                                      field="output")
        output = check_output(args.output)
    request = request_from_args(args)
    task = session.task = await service.submit(user, request, provider=args.provider)
    if not args.json:
        print(f"submitted task {task.id} to {task.provider} ({task.model})", file=sys.stderr)
    if not args.no_wait:
        task = session.task = await _wait(service, user, task)
    if output is not None and task.video_path:
        try:
            shutil.copyfile(task.video_path, output)
        except OSError as exc:
            raise OutputError(
                f"the video is at {task.video_path}, but copying it to {args.output} failed "
                f"({exc.strerror or exc})"
            ) from None
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
        _print_json(task_json(task))
    else:
        print(_describe(task))


async def _status(service: VideoService, user: str, args: argparse.Namespace, session: Session) -> int:
    if service.is_story_id(args.task):
        return await _story(service, user, args)
    task = session.task = await service.get(user, args.task)
    if not args.no_wait and not task.is_final:
        task = session.task = await _wait(service, user, task)
    _show(task, args.json)
    return _exit_code(task) if task.is_final else EXIT_OK


async def _story(service: VideoService, user: str, args: argparse.Namespace) -> int:
    """`seedance story SHOT...` (and `seedance status story-...`): start or follow a story, show it."""
    output = getattr(args, "output", None)
    if output is not None:
        if args.no_wait:
            raise InvalidRequestError("--output needs the joined video: it cannot be used with --no-wait",
                                      field="output")
        output = check_output(output)
    if args.command == "story":
        story = await service.create_story(user, args.shots, request_from_args(args), provider=args.provider)
        if not args.json:
            print(f"story {story.id}: {len(story.shots)} shots on {story.shots[0].provider} ({story.shots[0].model})",
                  file=sys.stderr)
    else:
        story = await service.get_story(user, args.task)
    seen: set[str] = set()

    async def show_progress(current: Story) -> None:
        for number, shot in enumerate(current.shots, start=1):
            line = f"{current.id}: shot {number}/{len(current.shots)} {shot.status.value}"
            if line not in seen:  # a line per change, not per second
                seen.add(line)
                print(line, file=sys.stderr)

    if not args.no_wait and not story.is_final:
        story = await service.wait_story(user, story.id, on_progress=show_progress)
    if output is not None and story.video_path:
        shutil.copyfile(story.video_path, output)
    if args.json:
        _print_json(story.to_json())
    else:
        print(f"story {story.id}: {story.status.value}" + (f", {story.video_path}" if story.video_path else ""))
        for number, shot in enumerate(story.shots, start=1):
            print(f"  shot {number} ({shot.id}): {shot.status.value}  {shot.prompt[:60]}")
        if story.error is not None:
            print(f"  {story.error.message}")
    return EXIT_FAILED if story.status in (StoryStatus.FAILED, StoryStatus.CANCELLED) else EXIT_OK


async def _history(service: VideoService, user: str, args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= 100:
        raise InvalidRequestError(f"--limit {args.limit} is out of range: choose 1 to 100", field="limit")
    if args.offset < 0:
        raise InvalidRequestError(f"--offset {args.offset} is negative: choose 0 or more", field="offset")
    tasks = await service.list_tasks(user, limit=args.limit, offset=args.offset)
    if args.json:
        _print_json([task_json(t) for t in tasks])
    elif not tasks and args.offset > 0:
        print(f"nothing at --offset {args.offset}: you have fewer tasks than that (try  seedance history)")
    elif not tasks:
        print("no tasks yet: try  seedance generate \"a red fox running through snow\"")
    else:
        for t in tasks:
            where = t.video_path or (t.error.message if t.error else "")
            print(f"{t.id}  {t.created_at:%Y-%m-%d %H:%M}  {t.status.value:<9}  {_cost_brief(t):<24}  "
                  f"{t.prompt[:50]!r}  {where}")
    return EXIT_OK


def _cost_brief(task: Task) -> str:
    """What a task cost, or would have, in a few words: ``40,594 tokens (free)``, ``not charged``."""
    charged = catalog.charge(task)
    if charged is not None and charged.state == "not_charged":
        return "not charged"
    usd_estimated, usd_actual = catalog.task_usd(task)
    if task.cost.actual is not None:
        return money(task.cost.unit, task.cost.actual, usd_actual)
    if task.cost.estimated is not None:
        return "~" + money(task.cost.unit, task.cost.estimated, usd_estimated)
    return ""


def already_final(task: Task) -> str:
    """Why a final task cannot be cancelled, in plain words."""
    if task.status is TaskStatus.CANCELLED:
        return f"task {task.id} has already been cancelled; nothing to cancel"
    return f"task {task.id} has already finished ({task.status.value}); nothing to cancel"


async def _cancel(service: VideoService, user: str, args: argparse.Namespace, session: Session) -> int:
    task = session.task = await service.get(user, args.task)
    if task.status.is_final:
        raise InvalidRequestError(already_final(task), field="task")
    task = session.task = await service.cancel(user, args.task)
    _show(task, args.json)
    return EXIT_OK


def _model_specs(settings: Settings, args: argparse.Namespace) -> list[catalog.ModelSpec]:
    if args.provider:
        names: Sequence[str] = [args.provider]
    elif args.all:
        names = catalog.providers()
    else:
        names = settings.configured_providers()
    return [spec for name in names for spec in catalog.models(name)]


def _models(settings: Settings, args: argparse.Namespace) -> int:
    specs = _model_specs(settings, args)
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
        print(f"  {'':<11} price: {catalog.price_text(spec)}")
    if not (args.all or args.provider):
        print("(* marks each provider's default; model ids differ per provider: "
              "'seedance models --all' lists every provider)")
    return EXIT_OK


def _estimate(service: VideoService, args: argparse.Namespace) -> int:
    # No prompt is needed to price a video: the cost never depends on the words.
    request = catalog.for_pricing(request_from_args(args))
    estimate = service.estimate(request, args.provider)
    usd = catalog.request_usd(estimate.request, estimate.provider, estimate.unit, estimate.amount)
    spec = catalog.get_model(estimate.provider, estimate.model)
    data = {
        "provider": estimate.provider,
        "model": estimate.model,
        "unit": estimate.unit,
        "estimated": estimate.amount,
        "usd": usd,
        "price_rule": catalog.price_text(spec),
        "params": estimate.request.params(),
    }
    if args.json:
        _print_json(data)
    else:
        print(f"{estimate.provider} {estimate.model}: about {money(estimate.unit, estimate.amount, usd)}")
        print(f"price: {data['price_rule']}")
    return EXIT_OK


async def run(args: argparse.Namespace, settings: Settings, session: Session | None = None) -> int:
    session = session or Session(as_json=bool(getattr(args, "json", False)))
    user = settings.user or local_user()
    async with open_service(settings, resume=False) as service:
        if args.command == "generate":
            return await _generate(service, user, args, session)
        if args.command == "status":
            return await _status(service, user, args, session)
        if args.command == "history":
            return await _history(service, user, args)
        if args.command == "cancel":
            return await _cancel(service, user, args, session)
        if args.command == "estimate":
            return _estimate(service, args)
        if args.command == "story":
            return await _story(service, user, args)
    raise UsageError(f"unknown command {args.command!r}")


def _exit_for(exc: SeedanceError) -> int:
    if isinstance(exc, (InvalidRequestError, ConfigError, TaskNotFoundError, StoreError)):
        return EXIT_INVALID  # nothing was sent: the input or the setup (a damaged database) is wrong
    return EXIT_FAILED


def _fail(session: Session, code: int, error_code: str, message: str) -> int:
    """One line on stderr; with ``--json`` also the error (and the task, if any) on stdout."""
    print(f"seedance: {message}", file=sys.stderr)
    if session.as_json:
        data: dict[str, Any] = {"error": {"code": error_code, "message": message}}
        if session.task is not None:
            data["task"] = task_json(session.task)
        _print_json(data)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    session = Session(as_json="--json" in words)
    try:
        args = build_parser().parse_args(words)
    except UsageError as exc:
        return _fail(session, EXIT_INVALID, "usage_error", cli_words(str(exc)))
    except SystemExit as exc:  # --help and --version print and stop
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    session.as_json = bool(getattr(args, "json", False))
    try:
        settings = Settings.from_env()
        if args.command == "serve":
            # Imported by name: the front ends sit on top of core, not the other way round.
            importlib.import_module("mcp_server.serve").serve(settings, host=args.host, port=args.port)
            return EXIT_OK
        if args.command == "models":
            return _models(settings, args)  # the catalog only: no database, no key needed
        return asyncio.run(run(args, settings, session))
    except SeedanceError as exc:
        return _fail(session, _exit_for(exc), exc.code, cli_words(str(exc)))
    except UsageError as exc:
        return _fail(session, EXIT_INVALID, "usage_error", str(exc))
    except KeyboardInterrupt:
        message = "interrupted; a submitted task keeps running: see  seedance history"
        return _fail(session, EXIT_INTERRUPTED, "interrupted", message)
    except Exception as exc:  # noqa: BLE001 - never show a traceback to a user
        message = f"unexpected error ({type(exc).__name__}); please report it"
        return _fail(session, EXIT_FAILED, "internal_error", message)


if __name__ == "__main__":
    sys.exit(main())
