"""Batched status reads (`Provider.get_many`) and the provider's own finish time (`finished_at`).

Ark reads many tasks with its list endpoint filtered by repeated ``filter.task_ids``; AceData with
``retrieve_batch``; the others one task per request. Everything runs against the local fakes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from core.errors import ProviderError, TaskNotFoundError
from core.http import HttpClient
from core.models import TaskStatus, VideoRequest
from core.providers.acedata import AceDataProvider
from core.providers.apimart import ApimartProvider
from core.providers.ark import ApiyiProvider, BytePlusProvider, VolcengineProvider
from core.providers.base import Provider, RemoteRef
from core.providers.seedanceapi import SeedanceApiProvider
from tests.fakes import FakeAceData, FakeApimart, FakeArk, FakeSeedanceApi, ManualClock

KEY = "sk-batch-test-key-0123456789"
FINISH = 10.0  # virtual seconds that take any default task to its outcome
ARK = {"byteplus": (BytePlusProvider, "dreamina-seedance-2-0-260128"),
       "volcengine": (VolcengineProvider, "doubao-seedance-2-0-260128")}
ACE_MODEL = "doubao-seedance-2-0-260128"


def smaller(cls: type[Provider], max_batch: int) -> type[Provider]:
    """The same adapter with a smaller batch, so a handful of tasks spans several requests."""
    return type(f"Small{cls.__name__}", (cls,), {"max_batch": max_batch})


def refs(ids: list[str], model: str | None = None) -> list[RemoteRef]:
    return [RemoteRef(remote_id=i, model=model) for i in ids]


def at(fake: FakeArk | FakeAceData | FakeApimart, clock_time: float) -> datetime:
    return datetime.fromtimestamp(int(fake.unix(clock_time)), UTC)


@pytest.fixture(params=["byteplus", "volcengine"])
def ark(request: pytest.FixtureRequest, clock: ManualClock) -> Iterator[FakeArk]:
    with FakeArk(request.param, api_key=KEY, clock=clock) as server:
        yield server


@pytest.fixture
def ace(clock: ManualClock) -> Iterator[FakeAceData]:
    with FakeAceData(api_key=KEY, clock=clock) as server:
        yield server


async def submit_ark(fake: FakeArk, adapter: Provider, count: int, **fields: object) -> list[str]:
    model = ARK[fake.flavour][1]
    return [await adapter.submit(VideoRequest(prompt=f"task {i}", model=model, **fields)) for i in range(count)]


# -- Ark: the list endpoint -----------------------------------------------------------------------


@pytest.mark.parametrize(("count", "max_batch"), [(7, 3), (7, 100), (12, 4), (2, 2)])
async def test_ark_reads_n_tasks_in_ceil_n_over_max_batch_list_requests(
    ark: FakeArk, http: HttpClient, clock: ManualClock, count: int, max_batch: int
) -> None:
    cls = smaller(ARK[ark.flavour][0], max_batch)
    adapter = cls(http=http, api_key=KEY, base_url=ark.base_url)
    ids = await submit_ark(ark, adapter, count)
    clock.advance(FINISH)

    found = {}
    for start in range(0, count, max_batch):
        found.update(await adapter.get_many(refs(ids[start : start + max_batch])))

    assert sorted(found) == sorted(ids)
    assert all(task.status is TaskStatus.SUCCEEDED and task.video_url for task in found.values())
    counts = ark.request_counts
    # One request per batch; a batch of one is read with a plain GET, as cheap and authoritative.
    assert counts.get("list", 0) + counts.get("get", 0) == math.ceil(count / max_batch)
    assert counts.get("get", 0) == (1 if count % max_batch == 1 else 0)
    (first, *_) = ark.requests_for("list")
    assert first.query.getall("filter.task_ids") == ids[:max_batch]
    assert first.query["page_size"] == str(min(count, max_batch)) and first.query["page_num"] == "1"


async def test_a_full_batch_of_real_length_ids_fits_in_one_request_line(ark: FakeArk, http: HttpClient) -> None:
    adapter = ARK[ark.flavour][0](http=http, api_key=KEY, base_url=ark.base_url)
    (real,) = await submit_ark(ark, adapter, 1)
    others = [f"cgt-20260101000000-{i:05d}" for i in range(adapter.max_batch - 1)]
    assert len(others[0]) == len(real)
    found = await adapter.get_many(refs([*others, real]))  # the fake, like nginx, refuses lines over 8 KB
    assert set(found) == {real} and ark.request_counts["list"] == 1


async def test_a_batch_read_matches_the_single_reads(ark: FakeArk, http: HttpClient, clock: ManualClock) -> None:
    adapter = ARK[ark.flavour][0](http=http, api_key=KEY, base_url=ark.base_url)
    ids = await submit_ark(ark, adapter, 3)
    clock.advance(FINISH)
    found = await adapter.get_many(refs(ids))
    for remote_id in ids:
        assert found[remote_id] == await adapter.get(remote_id)


async def test_ids_the_list_does_not_show_are_absent_not_errors(
    ark: FakeArk, http: HttpClient, clock: ManualClock
) -> None:
    adapter = ARK[ark.flavour][0](http=http, api_key=KEY, base_url=ark.base_url)
    ids = await submit_ark(ark, adapter, 2)
    gone = "cgt-20250101000000-gone0"
    found = await adapter.get_many(refs([ids[0], gone, ids[1]]))
    assert set(found) == set(ids)
    assert ark.request_counts["list"] == 1
    with pytest.raises(TaskNotFoundError):  # asked alone, the provider says it is gone
        await adapter.get(gone)


async def test_a_flex_task_is_absent_from_the_default_tier_list_but_get_reads_it(
    ark: FakeArk, http: HttpClient, clock: ManualClock
) -> None:
    adapter = ARK[ark.flavour][0](http=http, api_key=KEY, base_url=ark.base_url)
    pro = {"byteplus": "seedance-1-5-pro-251215", "volcengine": "doubao-seedance-1-5-pro-251215"}[ark.flavour]
    flex = await adapter.submit(VideoRequest(prompt="slow and cheap", model=pro, service_tier="flex"))
    (online,) = await submit_ark(ark, adapter, 1)
    found = await adapter.get_many(refs([flex, online]))
    assert set(found) == {online}  # providers.md §1.9: the list shows one tier per call
    assert (await adapter.get(flex)).status is TaskStatus.QUEUED


async def test_pages_are_followed_when_the_server_serves_fewer_than_asked(
    clock: ManualClock, http: HttpClient
) -> None:
    with FakeArk("byteplus", api_key=KEY, clock=clock, max_page_size=2) as fake:
        adapter = BytePlusProvider(http=http, api_key=KEY, base_url=fake.base_url)
        ids = await submit_ark(fake, adapter, 5)
        found = await adapter.get_many(refs([*ids, "cgt-20250101000000-gone0"]))
        assert set(found) == set(ids)
        pages = [r.query["page_num"] for r in fake.requests_for("list")]
        assert pages == ["1", "2", "3"]  # total 5 at 2 a page; the unknown id is not waited for


async def test_a_single_ref_is_read_with_get(ark: FakeArk, http: HttpClient) -> None:
    adapter = ARK[ark.flavour][0](http=http, api_key=KEY, base_url=ark.base_url)
    (remote_id,) = await submit_ark(ark, adapter, 1)
    assert set(await adapter.get_many(refs([remote_id, remote_id]))) == {remote_id}
    assert await adapter.get_many(refs(["cgt-20250101000000-gone0"])) == {}
    assert ark.request_counts.get("list", 0) == 0 and ark.request_counts["get"] == 2
    assert await adapter.get_many([]) == {}


@pytest.mark.parametrize("status", [400, 404])
async def test_a_refused_list_is_a_provider_error_never_task_not_found(
    ark: FakeArk, http: HttpClient, status: int
) -> None:
    adapter = ARK[ark.flavour][0](http=http, api_key=KEY, base_url=ark.base_url)
    ids = await submit_ark(ark, adapter, 2)
    ark.inject("list", status=status)
    with pytest.raises(ProviderError) as caught:
        await adapter.get_many(refs(ids))
    assert caught.value.code == "batch_refused"
    assert not isinstance(caught.value, TaskNotFoundError)


async def test_more_refs_than_max_batch_is_a_programming_error(ark: FakeArk, http: HttpClient) -> None:
    adapter = smaller(ARK[ark.flavour][0], 2)(http=http, api_key=KEY, base_url=ark.base_url)
    with pytest.raises(ValueError):
        await adapter.get_many(refs(["a", "b", "c"]))
    assert ark.requests == []


async def test_apiyi_has_no_list_so_it_reads_one_task_per_request(clock: ManualClock, http: HttpClient) -> None:
    with FakeArk("apiyi", api_key=KEY, clock=clock) as fake:
        adapter = ApiyiProvider(http=http, api_key=KEY, base_url=fake.base_url)
        remote_id = await adapter.submit(VideoRequest(prompt="x", model="doubao-seedance-2-0-260128"))
        assert ApiyiProvider.max_batch == 1
        assert set(await adapter.get_many(refs([remote_id]))) == {remote_id}
        assert fake.request_counts["get"] == 1
        with pytest.raises(ValueError):
            await adapter.get_many(refs([remote_id, "cgt-other"]))


async def test_ark_finished_at_is_updated_at_only_once_the_task_is_final(
    ark: FakeArk, http: HttpClient, clock: ManualClock
) -> None:
    adapter = ARK[ark.flavour][0](http=http, api_key=KEY, base_url=ark.base_url)
    start = clock()
    (done,) = await submit_ark(ark, adapter, 1)
    ark.script("failed")
    (failed,) = await submit_ark(ark, adapter, 1)
    clock.advance(ark.queued_for + 0.1)  # running: updated_at has moved, but nothing has ended
    middle = await adapter.get_many(refs([done, failed]))
    assert all(t.status is TaskStatus.RUNNING and t.finished_at is None for t in middle.values())
    assert all(t.created_at == at(ark, start) for t in middle.values())

    clock.advance(FINISH)
    final = await adapter.get_many(refs([done, failed]))
    assert (final[done].status, final[failed].status) == (TaskStatus.SUCCEEDED, TaskStatus.FAILED)
    for task in final.values():
        assert task.created_at == at(ark, start)
        assert task.finished_at == at(ark, start + ark.queued_for + ark.running_for)  # the fake's updated_at
    assert await adapter.get(done) == final[done]


async def test_a_cancelled_ark_task_finished_when_it_was_cancelled(
    ark: FakeArk, http: HttpClient, clock: ManualClock
) -> None:
    adapter = ARK[ark.flavour][0](http=http, api_key=KEY, base_url=ark.base_url)
    (remote_id,) = await submit_ark(ark, adapter, 1)
    clock.advance(0.1)
    await adapter.cancel(remote_id)
    clock.advance(FINISH)
    task = await adapter.get(remote_id)
    assert task.status is TaskStatus.CANCELLED and task.finished_at == at(ark, clock() - FINISH)


# -- AceData: retrieve_batch -----------------------------------------------------------------------


async def submit_ace(adapter: Provider, count: int) -> list[str]:
    return [await adapter.submit(VideoRequest(prompt=f"task {i}", model=ACE_MODEL)) for i in range(count)]


@pytest.mark.parametrize(("count", "max_batch"), [(5, 2), (6, 3), (4, 50)])
async def test_acedata_reads_n_tasks_in_ceil_n_over_max_batch_requests(
    ace: FakeAceData, http: HttpClient, clock: ManualClock, count: int, max_batch: int
) -> None:
    adapter = smaller(AceDataProvider, max_batch)(http=http, api_key=KEY, base_url=ace.base_url)
    ids = await submit_ace(adapter, count)
    clock.advance(FINISH)
    found = {}
    for start in range(0, count, max_batch):
        found.update(await adapter.get_many(refs(ids[start : start + max_batch], ACE_MODEL)))
    assert sorted(found) == sorted(ids)
    assert all(t.status is TaskStatus.SUCCEEDED and t.video_url == ace.video_url(i) for i, t in found.items())
    counts = ace.request_counts
    assert counts.get("batch", 0) + counts.get("get", 0) == math.ceil(count / max_batch)
    (first, *_) = ace.requests_for("batch")
    assert first.json == {"ids": ids[:max_batch], "action": "retrieve_batch"}


async def test_acedata_leaves_unknown_ids_out_and_matches_single_reads(
    ace: FakeAceData, http: HttpClient, clock: ManualClock
) -> None:
    adapter = AceDataProvider(http=http, api_key=KEY, base_url=ace.base_url)
    assert AceDataProvider.max_batch == 50  # undocumented limit: a conservative batch
    ids = await submit_ace(adapter, 2)
    found = await adapter.get_many(refs([ids[0], "00000000-0000-4000-8000-000000000000", ids[1]]))
    assert set(found) == set(ids)
    assert all(t.status is TaskStatus.QUEUED for t in found.values())
    clock.advance(FINISH)
    found = await adapter.get_many(refs(ids))
    for remote_id in ids:
        assert found[remote_id] == await adapter.get(remote_id)


async def test_acedata_finished_at_is_the_records_own_finish_time(
    ace: FakeAceData, http: HttpClient, clock: ManualClock
) -> None:
    adapter = AceDataProvider(http=http, api_key=KEY, base_url=ace.base_url)
    start = clock()
    (done,) = await submit_ace(adapter, 1)
    ace.script("failed")
    (failed,) = await submit_ace(adapter, 1)
    clock.advance(ace.queued_for + 0.1)
    running = await adapter.get_many(refs([done, failed]))
    assert all(t.status is TaskStatus.RUNNING and t.finished_at is None for t in running.values())
    clock.advance(FINISH)
    final = await adapter.get_many(refs([done, failed]))
    assert (final[done].status, final[failed].status) == (TaskStatus.SUCCEEDED, TaskStatus.FAILED)
    end = ace.unix(start + ace.queued_for + ace.running_for)
    for task in final.values():
        assert task.finished_at is not None and task.created_at is not None
        assert task.finished_at.timestamp() == pytest.approx(end, abs=0.001)
        assert (task.finished_at - task.created_at).total_seconds() == pytest.approx(
            ace.queued_for + ace.running_for, abs=0.002
        )


async def test_acedata_ark_shaped_data_pairs_the_upstream_times(clock: ManualClock, http: HttpClient) -> None:
    with FakeAceData(api_key=KEY, clock=clock, data_shape="ark") as fake:
        adapter = AceDataProvider(http=http, api_key=KEY, base_url=fake.base_url)
        start = clock()
        (remote_id,) = await submit_ace(adapter, 1)
        clock.advance(FINISH)
        task = (await adapter.get_many(refs([remote_id, remote_id])))[remote_id]
        assert task.created_at == at(fake, start)
        assert task.finished_at == at(fake, start + fake.queued_for + fake.running_for)


@pytest.mark.parametrize("status", [400, 404])
async def test_a_refused_acedata_batch_is_a_provider_error(ace: FakeAceData, http: HttpClient, status: int) -> None:
    adapter = AceDataProvider(http=http, api_key=KEY, base_url=ace.base_url)
    ids = await submit_ace(adapter, 2)
    ace.inject("batch", status=status)
    with pytest.raises(ProviderError) as caught:
        await adapter.get_many(refs(ids))
    assert caught.value.code == "batch_refused" and not isinstance(caught.value, TaskNotFoundError)
    assert set(await adapter.get_many(refs(ids))) == set(ids)  # the fault was for one request


# -- one task per request: seedanceapi.org and APIMart --------------------------------------------


async def test_seedanceapi_reads_one_task_per_request_from_the_models_api_version(
    clock: ManualClock, http: HttpClient
) -> None:
    with FakeSeedanceApi(api_key=KEY, clock=clock) as fake:
        adapter = SeedanceApiProvider(http=http, api_key=KEY, base_url=fake.base_url)
        v2 = await adapter.submit(VideoRequest(prompt="x", model="seedance-2-mini", duration=5))
        v1 = await adapter.submit(VideoRequest(prompt="x", model="seedance-1.5", duration=4))
        assert (v1, v2) == tuple(fake.task_ids[::-1])  # the provider's own ids, no prefix
        clock.advance(FINISH)
        found = {}
        for ref in (RemoteRef(v2, "seedance-2-mini"), RemoteRef(v1, "seedance-1.5")):
            found.update(await adapter.get_many([ref]))
        assert set(found) == {v1, v2}
        assert all(t.finished_at is None and t.created_at is not None for t in found.values())
        assert [r.path for r in fake.requests_for("get")] == ["/v2/status", "/v1/status"]


async def test_seedanceapi_still_reads_a_legacy_prefixed_id_and_one_without_a_model(
    clock: ManualClock, http: HttpClient
) -> None:
    with FakeSeedanceApi(api_key=KEY, clock=clock) as fake:
        adapter = SeedanceApiProvider(http=http, api_key=KEY, base_url=fake.base_url)
        remote_id = await adapter.submit(VideoRequest(prompt="x", model="seedance-2.0", duration=5))
        legacy = await adapter.get("v2:" + remote_id)  # a row stored before ids lost the prefix
        assert legacy.remote_id == remote_id
        assert [r.path for r in fake.requests_for("get")] == ["/v2/status"]
        fake.clear_requests()
        # No model (or one the catalog no longer knows): v1 first, then v2.
        assert (await adapter.get(remote_id)).remote_id == remote_id
        assert (await adapter.get(remote_id, model="retired-model")).remote_id == remote_id
        assert [r.path for r in fake.requests_for("get")] == ["/v1/status", "/v2/status"] * 2
        with pytest.raises(TaskNotFoundError):
            await adapter.get("seed20doesnotexist")
        assert await adapter.get_many([RemoteRef("seed20doesnotexist", "seedance-2.0")]) == {}


async def test_apimart_finished_at_is_its_completed_time(clock: ManualClock, http: HttpClient) -> None:
    with FakeApimart(api_key=KEY, clock=clock) as fake:
        adapter = ApimartProvider(http=http, api_key=KEY, base_url=fake.base_url)
        start = clock()
        remote_id = await adapter.submit(VideoRequest(prompt="x", model="doubao-seedance-2.0"))
        clock.advance(fake.queued_for + 0.1)
        assert (await adapter.get(remote_id)).finished_at is None
        clock.advance(FINISH)
        task = (await adapter.get_many([RemoteRef(remote_id)]))[remote_id]
        assert task.status is TaskStatus.SUCCEEDED
        assert task.created_at == at(fake, start)
        assert task.finished_at == at(fake, start + fake.queued_for + fake.running_for)
