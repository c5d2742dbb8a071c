"""``seedance history [--limit N] [--offset N]``: your tasks, newest first."""

from __future__ import annotations

import argparse

from cli.output import EXIT_OK, Session, cost_brief, print_json, task_json
from core.errors import InvalidRequestError
from core.service import VideoService


async def run(service: VideoService, user: str, args: argparse.Namespace, session: Session) -> int:
    if not 1 <= args.limit <= 100:
        raise InvalidRequestError(f"--limit {args.limit} is out of range: choose 1 to 100", field="limit")
    if args.offset < 0:
        raise InvalidRequestError(f"--offset {args.offset} is negative: choose 0 or more", field="offset")
    tasks = await service.list_tasks(user, limit=args.limit, offset=args.offset)
    if args.json:
        print_json([task_json(t) for t in tasks])
    elif not tasks and args.offset > 0:
        print(f"nothing at --offset {args.offset}: you have fewer tasks than that (try  seedance history)")
    elif not tasks:
        print("no tasks yet: try  seedance generate \"a red fox running through snow\"")
    else:
        for t in tasks:
            where = t.video_path or (t.error.message if t.error else "")
            if t.queue is not None:
                where = t.queue.in_line()
            print(f"{t.id}  {t.created_at:%Y-%m-%d %H:%M}  {t.status.value:<9}  {cost_brief(t):<24}  "
                  f"{t.prompt[:50]!r}  {where}")
    return EXIT_OK
