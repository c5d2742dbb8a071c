"""AceData Cloud's Seedance API (providers.md §2, seed 000).

Submit ``POST /seedance/videos`` with an Ark-style body and ``"async": true`` (never the sync mode,
which holds the connection for minutes); the answer's ``task_id`` is AceData's own UUID. Read a task
with ``POST /seedance/tasks {"id", "action": "retrieve"}``, which returns a task *record* whose
``response`` is the final envelope ``{success, task_id, trace_id, data}`` once there is one;
``{"ids": [...], "action": "retrieve_batch"}`` answers ``{"items": [records], "count"}``. A callback
POSTs that same envelope (never parsed: the service re-reads the task). No cancel and no list.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import httpx

from core.errors import InvalidRequestError, ProviderError, SubmitUncertainError, TaskNotFoundError
from core.http import parse_retry_after
from core.models import TaskStatus, VideoRequest
from core.providers.ark_format import build_content, generation_fields, parse_status, task_error
from core.providers.base import Provider, RemoteRef, RemoteTask, batch_refused, error_from_status, malformed
from core.providers.readers import mapping, number, unix_datetime, verbatim

logger = logging.getLogger(__name__)

# AceData documents no limit on ``ids`` in a batch retrieve; 50 keeps one answer (each record
# echoes its whole request) small and stays well inside anything a gateway would refuse.
BATCH_SIZE = 50

# The one status table. AceData documents ``processing`` and ``succeeded`` (plus "a failure
# state"); the Ark passthrough form of ``data`` uses Ark's words. Unknown → running, logged.
ACEDATA_STATUS: dict[str, TaskStatus] = {
    "pending": TaskStatus.QUEUED,
    "queued": TaskStatus.QUEUED,
    "processing": TaskStatus.RUNNING,
    "running": TaskStatus.RUNNING,
    "succeeded": TaskStatus.SUCCEEDED,
    "success": TaskStatus.SUCCEEDED,
    "failed": TaskStatus.FAILED,
    "failure": TaskStatus.FAILED,
    "error": TaskStatus.FAILED,
    "expired": TaskStatus.EXPIRED,
    "cancelled": TaskStatus.CANCELLED,
    "canceled": TaskStatus.CANCELLED,
}

# AceData sends some account problems as HTTP 400 (providers.md §2.3 error table); these codes say
# what they really are, so they are mapped as the status that means that. Others keep their status.
_CODE_AS_STATUS: dict[str, int] = {
    "no_token": 401,
    "invalid_token": 401,
    "token_expired": 401,
    "token_mismatched": 401,
    "disabled": 403,
    "used_up": 402,
    "too_many_requests": 429,
    "no_api": 400,  # a wrong base URL, not a missing task
    "api_error": 500,
    "internal_error": 500,
}


class AceDataProvider(Provider):
    """AceData Cloud (``api.acedata.cloud``)."""

    name = "acedata"
    supports_cancel = False
    supports_reconcile = False
    supports_callback = True
    max_batch = BATCH_SIZE
    default_base_url = "https://api.acedata.cloud"

    # -- errors -------------------------------------------------------------------------

    def _error(self, status: int, body: Any, response: httpx.Response | None = None) -> Exception:
        error = mapping(body.get("error")) if isinstance(body, dict) else {}
        code = verbatim(error.get("code"))
        message = verbatim(error.get("message"))
        return error_from_status(
            self.name,
            _CODE_AS_STATUS.get(code or "", status),
            provider_code=code,
            message=message,
            retry_after=parse_retry_after(response.headers.get("Retry-After")) if response is not None else None,
        )

    def _raise_for_error(self, response: httpx.Response) -> None:
        if response.status_code < 400:
            return
        try:
            body = json.loads(response.content or b"null")
        except ValueError:
            body = None
        raise self._error(response.status_code, body, response)

    # -- submit -------------------------------------------------------------------------

    def build_body(self, request: VideoRequest, *, callback_url: str | None = None) -> dict[str, Any]:
        """The ``/seedance/videos`` JSON: Ark-style, but the camera flag is spelled ``camerafixed``."""
        body: dict[str, Any] = {"model": request.model, "content": build_content(request)}
        body.update(generation_fields(request, camera_fixed_key="camerafixed"))
        body["async"] = True  # answer at once with a task id; without it the call blocks until the video is done
        if callback_url:
            body["callback_url"] = callback_url
        return body

    async def submit(self, request: VideoRequest, *, callback_url: str | None = None) -> str:
        if not request.model:
            raise InvalidRequestError("no model was chosen for this request", field="model")
        response = await self._call(
            "POST", "/seedance/videos", idempotent=False, json_body=self.build_body(request, callback_url=callback_url)
        )
        try:
            self._raise_for_error(response)
        except TaskNotFoundError as exc:
            # At create time a 404 is an unknown API or model, never a task.
            raise InvalidRequestError(str(exc), code="provider_rejected") from exc
        try:
            body = json.loads(response.content or b"null")
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("success") is False and isinstance(body.get("error"), dict):
            raise self._error(400, body, response)
        task_id = verbatim(body.get("task_id")) if isinstance(body, dict) else None
        if task_id is None:
            # Accepted but unreadable: a paid task may exist, so the service must not resend blindly.
            raise SubmitUncertainError(
                f"{self.name} accepted the submit but its answer has no readable task id",
                provider=self.name,
                status_code=response.status_code,
            )
        return task_id

    # -- reading tasks ----------------------------------------------------------------------

    async def get(self, remote_id: str, *, model: str | None = None) -> RemoteTask:
        # A retrieve creates nothing, so it may be retried like a GET.
        response = await self._call(
            "POST", "/seedance/tasks", idempotent=True, json_body={"id": remote_id, "action": "retrieve"}
        )
        self._raise_for_error(response)
        record = self._json(response)
        if not isinstance(record, dict):
            raise malformed(self.name, "a task record is not a JSON object", response.status_code)
        if isinstance(record.get("error"), dict) and "response" not in record and "request" not in record:
            raise self._error(400, record, response)
        if not record:
            # AceData can answer an unknown id with an empty object instead of a 404.
            raise TaskNotFoundError(f"{self.name}: no task {remote_id}", code="task_not_found")
        if not {"id", "request", "response"} & record.keys():
            raise malformed(self.name, "a task record has no id, request or response", response.status_code)
        return self._parse_record(record, remote_id)

    async def get_many(self, refs: Sequence[RemoteRef]) -> dict[str, RemoteTask]:
        """Up to `max_batch` tasks with one ``retrieve_batch``; unknown ids are left out of its answer.

        A single task is read with `get` (``retrieve``).
        """
        wanted = list(dict.fromkeys(ref.remote_id for ref in refs))
        if len(wanted) <= 1:
            return await super().get_many(refs)
        if len(wanted) > self.max_batch:
            raise ValueError(f"{self.name} reads at most {self.max_batch} tasks per request, not {len(wanted)}")
        found: dict[str, RemoteTask] = {}
        if not wanted:
            return found
        response = await self._call(
            "POST", "/seedance/tasks", idempotent=True, json_body={"ids": wanted, "action": "retrieve_batch"}
        )
        try:
            self._raise_for_error(response)
        except (TaskNotFoundError, InvalidRequestError) as exc:
            raise batch_refused(self.name, exc) from exc
        body = self._json(response)
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list):
            if isinstance(body, dict) and isinstance(body.get("error"), dict):
                raise batch_refused(self.name, self._error(400, body, response))
            raise malformed(self.name, "a batch retrieve has no items array", response.status_code)
        asked = set(wanted)
        for record in items:
            task_id = verbatim(record.get("id")) if isinstance(record, dict) else None
            if task_id not in asked or not isinstance(record, dict):
                continue
            try:
                found[task_id] = self._parse_record(record, task_id)
            except ProviderError:  # one unreadable record is left for `get`, which reports it
                logger.warning("%s: skipped an unreadable record in a batched task read", self.name)
        return found

    def _parse_record(self, record: dict[str, Any], remote_id: str) -> RemoteTask:
        task_id = verbatim(record.get("id")) or remote_id
        created_at = unix_datetime(record.get("created_at"))
        prompt = _prompt_of(record.get("request"))
        envelope = record.get("response")
        if envelope is None:
            # No answer yet: AceData fills ``response`` only when the task ends.
            status = TaskStatus.RUNNING if record.get("started_at") else TaskStatus.QUEUED
            return RemoteTask(
                remote_id=task_id, status=status, created_at=created_at, prompt=prompt, extra={"raw_status": None}
            )
        task = self._parse_envelope(envelope, task_id)
        finished_at = unix_datetime(record.get("finished_at")) if task.status.is_final else None
        return RemoteTask(
            remote_id=task.remote_id,
            status=task.status,
            video_url=task.video_url,
            last_frame_url=task.last_frame_url,
            actual_cost=task.actual_cost,
            error=task.error,
            created_at=task.created_at or created_at,
            # Paired with created_at: the upstream Ark times when ``data`` carries them, else the record's.
            finished_at=task.finished_at or finished_at,
            prompt=prompt,
            extra=task.extra,
        )

    def _parse_envelope(self, envelope: Any, remote_id: str | None) -> RemoteTask:
        """``{success, task_id, trace_id, data}``: a record's ``response``."""
        if not isinstance(envelope, dict):
            raise malformed(self.name, "a task response is not a JSON object")
        task_id = remote_id or verbatim(envelope.get("task_id"))
        if task_id is None:
            raise malformed(self.name, "a task response has no task_id")
        data = envelope.get("data")
        extra: dict[str, Any] = {"raw_status": None}
        if verbatim(envelope.get("trace_id")):
            extra["trace_id"] = envelope["trace_id"]

        if envelope.get("success") is False:
            raw_error = envelope.get("error") or mapping(data).get("error")
            # A failed envelope has no status word; a task that ran out of time says so in its code.
            code = str(mapping(raw_error).get("code") or "").lower()
            status = TaskStatus.EXPIRED if "expire" in code else TaskStatus.FAILED
            return RemoteTask(remote_id=task_id, status=status, error=task_error(status, raw_error), extra=extra)
        if data is None:
            # Accepted and not finished: the envelope of the async submit, without ``data``.
            return RemoteTask(remote_id=task_id, status=TaskStatus.RUNNING, extra=extra)
        if not isinstance(data, dict):
            raise malformed(self.name, f"task {task_id} has a data field that is not an object")

        # Two documented shapes: flat (data.video_url) and the Ark task passed through (data.content.video_url).
        content = mapping(data.get("content"))
        video_url = verbatim(data.get("video_url")) or verbatim(content.get("video_url"))
        last_frame_url = verbatim(data.get("last_frame_url")) or verbatim(content.get("last_frame_url"))
        raw_status = data.get("status")
        extra["raw_status"] = raw_status
        if raw_status is None:
            status = TaskStatus.SUCCEEDED if video_url else TaskStatus.RUNNING
        else:
            status = parse_status(self.name, raw_status, ACEDATA_STATUS, task_id)
        upstream = verbatim(data.get("task_id")) or verbatim(data.get("id"))
        if upstream:
            extra["upstream_id"] = upstream
        if data.get("model") is not None:
            extra["model"] = data["model"]
        error = task_error(status, data.get("error") or envelope.get("error"))
        return RemoteTask(
            remote_id=task_id,
            status=status,
            video_url=video_url,
            last_frame_url=last_frame_url,
            actual_cost=number(mapping(data.get("usage")).get("completion_tokens")),
            error=error,
            created_at=unix_datetime(data.get("created_at")),
            finished_at=unix_datetime(data.get("updated_at")) if status.is_final else None,
            extra=extra,
        )


def _prompt_of(request: Any) -> str | None:
    """The text item of the request AceData stored with the record."""
    items = mapping(request).get("content")
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and item.get("type") == "text":
            return verbatim(item.get("text"))
    return None
