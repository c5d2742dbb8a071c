"""``seedance``: parse the words, open the service, run one command, turn errors into exit codes.

Exit status: 0 success (or submitted, with ``--no-wait``); 1 the task ended failed, expired or
cancelled, or the provider refused it; 2 the input was invalid and nothing was sent.
With ``--json`` stdout holds exactly one JSON value, also on an error: ``{"error": {"code",
"message"}}`` (plus ``"task"`` when a task exists); progress always goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from cli.commands import catalog, generate, history, story, task
from cli.output import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_INVALID, EXIT_OK, Session, print_json, task_json
from cli.parser import UsageError, build_parser
from cli.request import cli_words
from core.config import Settings, local_user
from core.errors import ConfigError, InvalidRequestError, SeedanceError, StoreError, TaskNotFoundError
from core.service import VideoService, open_service

Command = Callable[[VideoService, str, argparse.Namespace, Session], Awaitable[int]]

COMMANDS: dict[str, Command] = {
    "generate": generate.run,
    "status": task.status,
    "history": history.run,
    "cancel": task.cancel,
    "estimate": catalog.estimate,
    "story": story.run,
    "retry": story.run,
}


async def run(args: argparse.Namespace, settings: Settings, session: Session | None = None) -> int:
    """Run one command that needs the service (every one but ``models`` and ``serve``)."""
    session = session or Session(as_json=bool(getattr(args, "json", False)))
    command = COMMANDS.get(args.command)
    if command is None:
        raise UsageError(f"unknown command {args.command!r}")
    user = settings.user or local_user()
    async with open_service(settings, resume=False) as service:
        return await command(service, user, args, session)


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
        print_json(data)
    return code


def _dispatch(args: argparse.Namespace, session: Session) -> int:
    settings = Settings.from_env()
    if args.command == "serve":
        # The composition root that runs the other front ends; imported only for this command.
        from serve import serve

        serve(settings, host=args.host, port=args.port)
        return EXIT_OK
    if args.command == "models":
        return catalog.models(settings, args)  # the catalog only: no database, no key needed
    return asyncio.run(run(args, settings, session))


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
        return _dispatch(args, session)
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
