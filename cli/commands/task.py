"""``seedance status TASK`` and ``seedance cancel TASK``: one task (or story) of yours."""

from __future__ import annotations

import argparse

from cli.commands import story
from cli.output import EXIT_OK, Session, exit_code, show
from cli.progress import wait_with_progress
from core.errors import InvalidRequestError
from core.models import Task, TaskStatus
from core.service import VideoService


async def status(service: VideoService, user: str, args: argparse.Namespace, session: Session) -> int:
    if service.is_story_id(args.task):
        return await story.run(service, user, args, session)
    task = session.task = await service.get(user, args.task)
    if not args.no_wait and not task.is_final:
        task = session.task = await wait_with_progress(service, user, task)
    show(task, args.json)
    return exit_code(task) if task.is_final else EXIT_OK


def already_final(task: Task) -> str:
    """Why a final task cannot be cancelled, in plain words."""
    if task.status is TaskStatus.CANCELLED:
        return f"task {task.id} has already been cancelled; nothing to cancel"
    return f"task {task.id} has already finished ({task.status.value}); nothing to cancel"


async def cancel(service: VideoService, user: str, args: argparse.Namespace, session: Session) -> int:
    if service.is_story_id(args.task):
        return await story.cancel(service, user, args, session)
    task = session.task = await service.get(user, args.task)
    if task.status.is_final:
        raise InvalidRequestError(already_final(task), field="task")
    task = session.task = await service.cancel(user, args.task)
    show(task, args.json)
    return EXIT_OK
