"""Core errors as one-line `ToolError`s that tell the assistant what to do next."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from mcp.server.mcpserver.exceptions import ToolError

from core.errors import (
    InvalidRequestError,
    LimitReachedError,
    NotSupportedError,
    ProviderError,
    SeedanceError,
    TaskNotFoundError,
)
from core.models import Task, TaskStatus
from mcp_server.state import NotAuthenticatedError

log = logging.getLogger("seedance.mcp")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def invalid_message(exc: InvalidRequestError) -> str:
    """The error as one line that starts with the field it is about."""
    text = _one_line(str(exc))
    if exc.field and not text.startswith(exc.field):
        text = f"{exc.field}: {text}"
    return text


@contextlib.contextmanager
def tool_errors(*, submitted: Task | None = None, submitting: bool = False) -> Iterator[None]:
    """Turn core errors into one-line `ToolError`s that say what to do next.

    ``submitted``: the task exists, so whatever fails, the assistant must poll it, not start again.
    ``submitting``: an unexpected failure might have left a task behind: look before retrying.
    """
    try:
        yield
    except ToolError:
        raise
    except NotAuthenticatedError as exc:
        raise ToolError(f"not authenticated: {exc}") from None
    except InvalidRequestError as exc:
        suffix = "; nothing was sent and nothing was charged" if submitting else ""
        raise ToolError(invalid_message(exc) + suffix) from None
    except LimitReachedError as exc:
        raise ToolError(f"{_one_line(str(exc))} [{exc.code}]; nothing was sent and nothing was charged") from None
    except TaskNotFoundError as exc:
        raise ToolError(f"{_one_line(str(exc))} (list_video_tasks shows your tasks)") from None
    except (NotSupportedError, ProviderError, SeedanceError) as exc:
        raise ToolError(_refusal(exc, submitted, submitting)) from None
    except Exception as exc:
        log.exception("tool failed unexpectedly")
        raise ToolError(_internal(exc, submitted, submitting)) from None


def _refusal(exc: SeedanceError, submitted: Task | None, submitting: bool) -> str:
    if submitted is not None:
        return _keeps_running(submitted, f"{_one_line(str(exc))} [{exc.code}]")
    if submitting and isinstance(exc, ProviderError):
        return f"the provider refused the request: {_one_line(str(exc))} [{exc.code}]; no video task was started"
    return f"{_one_line(str(exc))} [{exc.code}]"


def _internal(exc: Exception, submitted: Task | None, submitting: bool) -> str:
    if submitted is not None:
        return _keeps_running(submitted, f"an internal error ({type(exc).__name__})")
    if submitting:
        return (
            f"an internal error ({type(exc).__name__}) happened while submitting; a task may have been "
            "created: call list_video_tasks to look for it before calling generate_video again"
        )
    return f"an internal error ({type(exc).__name__}); see the server log"


def already_final(task: Task) -> str:
    """Why an ended task cannot be cancelled, in plain words."""
    if task.status is TaskStatus.CANCELLED:
        return f"task {task.id} has already been cancelled; nothing to cancel"
    return f"task {task.id} has already finished ({task.status.value}); nothing to cancel"


def _keeps_running(task: Task, what: str) -> str:
    return (
        f'{what} while waiting; task "{task.id}" was submitted and keeps running on the server: call '
        f'get_video_task with task_id "{task.id}" to follow it (do not call generate_video again)'
    )
