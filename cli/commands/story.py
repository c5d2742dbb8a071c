"""``seedance story SHOT SHOT... [options]``, ``seedance retry STORY`` and ``seedance status|cancel
story-...``: start, retry, follow or cancel a story."""

from __future__ import annotations

import argparse
import shutil
import sys

from cli.output import EXIT_FAILED, EXIT_OK, Session, print_json
from cli.request import check_output, request_from_args
from core.errors import InvalidRequestError
from core.models import Story, StoryStatus
from core.service import VideoService


async def run(service: VideoService, user: str, args: argparse.Namespace, session: Session) -> int:
    """Start or follow a story, show it."""
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
    elif args.command == "retry":
        story = await service.retry_story(user, args.task, prompt=args.prompt)
        if not args.json:
            again = [n for n, shot in enumerate(story.shots, start=1) if not shot.is_final]
            what = f"shot {again[0]} is being made again" if again else "its shots are joined again"
            print(f"story {story.id}: {what}; only that is paid again", file=sys.stderr)
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
    show(story, args.json)
    return EXIT_FAILED if story.status in (StoryStatus.FAILED, StoryStatus.CANCELLED) else EXIT_OK


async def cancel(service: VideoService, user: str, args: argparse.Namespace, session: Session) -> int:
    """Cancel a story: its waiting shots are dropped for free, the running one cancelled where possible."""
    show(await service.cancel_story(user, args.task), args.json)
    return EXIT_OK


def show(story: Story, as_json: bool) -> None:
    if as_json:
        print_json(story.to_json())
        return
    print(f"story {story.id}: {story.status.value}" + (f", {story.video_path}" if story.video_path else ""))
    for number, shot in enumerate(story.shots, start=1):
        print(f"  shot {number} ({shot.id}): {shot.status.value}  {shot.prompt[:60]}")
    if story.error is not None:
        print(f"  {story.error.message}")
