"""What the command line prints: exit codes, the task as JSON or as lines, costs in words."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

from core import catalog
from core.errors import SeedanceError
from core.models import Task, TaskStatus

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2
EXIT_INTERRUPTED = 130


class OutputError(SeedanceError):
    """The finished video could not be copied to ``--output``."""

    code = "output_failed"


@dataclass
class Session:
    """What one command run has done so far: the task it started, for an error report."""

    as_json: bool = False
    task: Task | None = None


def print_json(value: Any) -> None:
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


def describe(task: Task) -> str:
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


def cost_brief(task: Task) -> str:
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


def show(task: Task, as_json: bool) -> None:
    if as_json:
        print_json(task_json(task))
    else:
        print(describe(task))


def exit_code(task: Task) -> int:
    if task.status in (TaskStatus.FAILED, TaskStatus.EXPIRED, TaskStatus.CANCELLED):
        return EXIT_FAILED
    if task.status is TaskStatus.SUCCEEDED and task.is_final and not task.video_path:
        return EXIT_FAILED  # the video could not be fetched
    return EXIT_OK
