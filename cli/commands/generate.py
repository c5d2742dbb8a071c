"""``seedance generate PROMPT [options]``: submit, wait (unless ``--no-wait``), show, copy to ``--output``."""

from __future__ import annotations

import argparse
import shutil
import sys

from cli.output import EXIT_OK, OutputError, Session, exit_code, show
from cli.progress import wait_with_progress
from cli.request import check_output, request_from_args
from core.errors import InvalidRequestError
from core.service import VideoService


async def run(service: VideoService, user: str, args: argparse.Namespace, session: Session) -> int:
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
        task = session.task = await wait_with_progress(service, user, task)
    if output is not None and task.video_path:
        try:
            shutil.copyfile(task.video_path, output)
        except OSError as exc:
            raise OutputError(
                f"the video is at {task.video_path}, but copying it to {args.output} failed "
                f"({exc.strerror or exc})"
            ) from None
    show(task, args.json)
    return exit_code(task) if task.is_final else EXIT_OK
