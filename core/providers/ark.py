"""The Ark v3 wire format: BytePlus ModelArk, Volcengine Ark and APIYI's Ark passthrough.

All three serve the same JSON (providers.md §1, §5): create ``POST /contents/generations/tasks``
→ ``{"id": "cgt-…"}``, read ``GET …/{id}``, list ``GET …?page_num=&page_size=&filter.task_ids=…``,
cancel ``DELETE …/{id}``. They differ only in host, and APIYI offers neither cancel nor list. The
format itself (bodies, task parsing, status table) lives in `ark_format`, which AceData shares.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from core.errors import (
    InvalidRequestError,
    NotSupportedError,
    ProviderError,
    SubmitUncertainError,
    TaskNotFoundError,
)
from core.models import TaskStatus, VideoRequest
from core.providers.ark_format import (
    TASKS_PATH,
    build_content,
    error_parts,
    generation_fields,
    list_page,
    parse_ark_task,
)
from core.providers.base import Provider, RemoteRef, RemoteTask, batch_refused
from core.providers.readers import verbatim

logger = logging.getLogger(__name__)

# Reconciling a lost submit: Ark's created_at is whole Unix seconds (truncated) from the provider's
# clock, and ``since`` comes from ours, so a little slack keeps a task created in the same second in
# view. Kept small: a wider window only adds other people's older tasks to the candidates.
RECONCILE_CLOCK_SLACK = timedelta(seconds=2)
RECONCILE_PAGE_SIZE = 50
RECONCILE_MAX_PAGES = 20
# The list endpoint's page_size and page_num are both in [1, 500] (providers.md §1.9).
LIST_MAX_PAGE = 500
# Tasks per batched read. The ids travel in the query string (~42 bytes each), and 500 of them make
# a ~21 KB request line that common front ends refuse (nginx and aiohttp stop at 8 KB): 100 keep it
# near 4 KB and still read a hundred tasks per request.
BATCH_SIZE = 100


class ArkProvider(Provider):
    """The official Ark v3 format. Subclasses set the host and which optional endpoints exist."""

    # Headers some hosts need on every call (APIYI's gateway mislabels gzip).
    extra_headers: ClassVar[dict[str, str]] = {}

    async def _ark_call(
        self, method: str, path: str, *, idempotent: bool, json_body: Any = None, params: Any = None
    ) -> httpx.Response:
        return await self._call(
            method,
            TASKS_PATH + path,
            idempotent=idempotent,
            json_body=json_body,
            params=params,
            headers=dict(self.extra_headers),
        )

    def _raise_for_error(self, response: httpx.Response) -> None:
        code, message = error_parts(response)
        self._raise_for_status(response, code=code, message=message)

    def build_body(self, request: VideoRequest, *, callback_url: str | None = None) -> dict[str, Any]:
        """The create-task JSON for ``request``."""
        body: dict[str, Any] = {"model": request.model, "content": build_content(request)}
        body.update(generation_fields(request))
        if callback_url and self.supports_callback:
            body["callback_url"] = callback_url
        return body

    async def submit(self, request: VideoRequest, *, callback_url: str | None = None) -> str:
        if not request.model:
            raise InvalidRequestError("no model was chosen for this request", field="model")
        response = await self._ark_call(
            "POST", "", idempotent=False, json_body=self.build_body(request, callback_url=callback_url)
        )
        try:
            self._raise_for_error(response)
        except TaskNotFoundError as exc:
            # At create time a 404 means the model or endpoint is unknown or not activated, not a task.
            raise InvalidRequestError(str(exc), field="model", code="provider_rejected") from exc
        try:
            body = json.loads(response.content or b"null")
        except ValueError:
            body = None
        task_id = verbatim(body.get("id")) if isinstance(body, dict) else None
        if task_id is None:
            # The provider accepted the create, so a paid task probably exists but its id is
            # unreadable: let the service reconcile rather than report a clean failure.
            raise SubmitUncertainError(
                f"{self.name} accepted the submit but its answer has no readable task id",
                provider=self.name,
                status_code=response.status_code,
            )
        return task_id

    async def get(self, remote_id: str, *, model: str | None = None) -> RemoteTask:
        response = await self._ark_call("GET", "/" + quote(remote_id, safe=""), idempotent=True)
        self._raise_for_error(response)
        return parse_ark_task(self.name, self._json(response), remote_id=remote_id)

    async def get_many(self, refs: Sequence[RemoteRef]) -> dict[str, RemoteTask]:
        """Up to `max_batch` tasks through the list endpoint filtered by ``filter.task_ids``.

        The list shows one service tier per call (``default`` when none is named) and only the last
        7 days, so a flex task or an older one is absent from the answer and read with `get`.
        Pages are followed while the answer's ``total`` says there are more. A single task is read
        with `get`: as cheap, and it sees every tier and age.
        """
        wanted = list(dict.fromkeys(ref.remote_id for ref in refs))
        if self.max_batch <= 1 or len(wanted) <= 1:
            return await super().get_many(refs)
        if len(wanted) > self.max_batch:
            raise ValueError(f"{self.name} reads at most {self.max_batch} tasks per request, not {len(wanted)}")
        asked = set(wanted)
        found: dict[str, RemoteTask] = {}
        if not wanted:
            return found
        params: list[tuple[str, Any]] = [("filter.task_ids", task_id) for task_id in wanted]
        params.append(("page_size", min(len(wanted), LIST_MAX_PAGE)))
        seen = 0
        for page in range(1, LIST_MAX_PAGE + 1):
            items, total = await self._list_page([*params, ("page_num", page)])
            for item in items:
                self._keep(item, asked, found)
            seen += len(items)
            # A server may serve fewer than page_size per page; one that ignores the filter cannot
            # make us read past as many items as ids were asked for.
            if not items or total is None or seen >= min(total, len(wanted)) or len(found) == len(wanted):
                break
        return found

    async def _list_page(self, params: list[tuple[str, Any]]) -> tuple[list[Any], int | None]:
        response = await self._ark_call("GET", "", idempotent=True, params=params)
        try:
            self._raise_for_error(response)
        except (TaskNotFoundError, InvalidRequestError) as exc:
            raise batch_refused(self.name, exc) from exc
        return list_page(self.name, self._json(response), response.status_code)

    def _keep(self, item: Any, asked: set[str], found: dict[str, RemoteTask]) -> None:
        """Add one list item if it is a task we asked for; an unreadable item is left for `get`."""
        try:
            task = parse_ark_task(self.name, item)
        except ProviderError:
            logger.warning("%s: skipped an unreadable item in a batched task read", self.name)
            return
        if task.remote_id in asked:
            found[task.remote_id] = task

    async def cancel(self, remote_id: str, *, model: str | None = None) -> None:
        """Cancel a queued task.

        Ark's DELETE also *deletes the record* of a finished task (providers.md §1.10), which would
        lose a result not yet downloaded, so the task is read first and only a queued one is deleted.

        Raises:
            NotSupportedError: this host has no cancel endpoint.
            InvalidRequestError: the task is running (or the provider refused); only queued tasks can be cancelled.
            TaskNotFoundError: the provider no longer has the task.
        """
        if not self.supports_cancel:
            raise NotSupportedError(f"{self.name} does not offer cancelling a task")
        current = await self.get(remote_id)
        if current.status is TaskStatus.CANCELLED:
            return
        if current.status is not TaskStatus.QUEUED:
            raise InvalidRequestError(
                f"{self.name}: only a queued task can be cancelled; this one is {current.status.value}",
                code="not_cancellable",
            )
        response = await self._ark_call("DELETE", "/" + quote(remote_id, safe=""), idempotent=True)
        if response.status_code == 404:
            self._raise_for_error(response)
        if response.status_code >= 400:
            # The task started between the read and the DELETE (or was already cancelled).
            code, message = error_parts(response)
            detail = f" ({message})" if message else ""
            raise InvalidRequestError(
                f"{self.name}: only a queued task can be cancelled; the provider refused{detail}",
                code="not_cancellable",
            )

    async def find_submitted(self, request: VideoRequest, *, since: datetime) -> list[RemoteTask]:
        """Tasks that may be the one a lost submit created, oldest first.

        Heuristic (Ark list items do not echo the prompt): the first page (newest 50) of the list
        filtered by model and service tier, keeping tasks created at or after ``since`` (less
        `RECONCILE_CLOCK_SLACK`) whose model, resolution, ratio, duration, seed, audio and service
        tier agree with the request wherever both sides have a concrete value (``adaptive`` and
        ``-1`` resolve to a concrete value, so they match anything). Another submit with the same
        settings in the same window matches too, so the oldest comes first (ours was sent at
        ``since``) and the caller should skip any task it has already linked to another row.
        """
        if not self.supports_reconcile:
            raise NotSupportedError(f"{self.name} cannot list tasks")
        params: dict[str, Any] = {"page_num": 1, "page_size": RECONCILE_PAGE_SIZE}
        if request.model:
            params["filter.model"] = request.model
        if request.service_tier:
            # The list shows only one tier per call, and "default" when none is named.
            params["filter.service_tier"] = request.service_tier
        earliest = since - RECONCILE_CLOCK_SLACK
        tasks: list[RemoteTask] = []
        # Newest first, page by page, until a page reaches back past ``since``: under load the
        # lost task may sit behind many newer ones.
        for page in range(1, RECONCILE_MAX_PAGES + 1):
            params["page_num"] = page
            response = await self._ark_call("GET", "", idempotent=True, params=params)
            self._raise_for_error(response)
            items, _ = list_page(self.name, self._json(response), response.status_code)
            page_tasks = [parse_ark_task(self.name, item) for item in items]
            tasks += page_tasks
            oldest = min((t.created_at for t in page_tasks if t.created_at), default=None)
            if len(items) < RECONCILE_PAGE_SIZE or oldest is None or oldest < earliest:
                break
        found = [t for t in tasks if t.created_at is not None and t.created_at >= earliest and _matches(request, t)]
        # Ark lists newest first and created_at is whole seconds: break ties by list position so
        # same-second submits come back in the order they were made.
        ordered = sorted(enumerate(found), key=lambda pair: (pair[1].created_at or earliest, -pair[0]))
        return [task for _, task in ordered]


def _matches(request: VideoRequest, task: RemoteTask) -> bool:
    """True unless a parameter that both the request and the listed task state concretely differs."""
    got = task.extra
    # An endpoint id (ep-…) is echoed back as the model name, so only a plain model id can be compared.
    if request.model and not request.model.startswith("ep-") and "model" in got and got["model"] != request.model:
        return False
    wanted: dict[str, Any] = {
        "resolution": request.resolution,
        "ratio": None if request.ratio == "adaptive" else request.ratio,
        "duration": None if request.duration == -1 else request.duration,
        "seed": None if request.seed == -1 else request.seed,
        "generate_audio": request.generate_audio,
        "service_tier": request.service_tier,
        # Per-user: one user's lost submit is never matched with another user's task.
        "safety_identifier": request.safety_identifier,
    }
    return all(value is None or key not in got or got[key] == value for key, value in wanted.items())


class BytePlusProvider(ArkProvider):
    """BytePlus ModelArk (international)."""

    name = "byteplus"
    supports_cancel = True
    supports_reconcile = True
    supports_callback = True
    max_batch = BATCH_SIZE
    default_base_url = "https://ark.ap-southeast.bytepluses.com/api/v3"


class VolcengineProvider(ArkProvider):
    """Volcengine Ark (China)."""

    name = "volcengine"
    supports_cancel = True
    supports_reconcile = True
    supports_callback = True
    max_batch = BATCH_SIZE
    default_base_url = "https://ark.cn-beijing.volces.com/api/v3"


class ApiyiProvider(ArkProvider):
    """APIYI's Ark passthrough: same JSON, no cancel and no list, so one task per read (providers.md §5)."""

    name = "apiyi"
    supports_cancel = False
    supports_reconcile = False
    # APIYI documents no callback_url, so none is sent; the service polls.
    supports_callback = False
    default_base_url = "https://api.apiyi.com/seedance/api/v3"
    # APIYI's gateway can label a plain body as gzip; ask for no encoding at all.
    extra_headers: ClassVar[dict[str, str]] = {"Accept-Encoding": "identity"}
