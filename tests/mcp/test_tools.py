"""Every tool through the SDK's in-process `Client`, on the offline sandbox provider."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mcp import Client, MCPError
from mcp.types import ResourceLink
from pydantic import SecretStr

from core.config import Limits, Settings
from core.service import VideoService
from mcp_server.server import build_server
from tests.mcp.conftest import error_text, is_mp4, structured, write_png

TOOLS = {
    "generate_story",
    "retry_story",
    "generate_video",
    "get_video_task",
    "list_video_tasks",
    "cancel_video_task",
    "list_video_models",
    "estimate_video_cost",
}


async def test_tools_are_listed_with_schema_annotations_and_output_schema(settings: Settings) -> None:
    async with Client(build_server(settings)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == TOOLS
    gen = tools["generate_video"]
    props = gen.input_schema["properties"]
    assert gen.input_schema["required"] == ["prompt"]
    resolution = next(a for a in props["resolution"]["anyOf"] if a.get("type") == "string")
    assert resolution["enum"] == ["480p", "720p", "1080p"]
    model = next(a for a in props["model"]["anyOf"] if a.get("type") == "string")
    assert "seedance-2-0" in model["enum"]
    duration = next(a for a in props["duration"]["anyOf"] if a.get("type") == "integer")
    assert (duration["minimum"], duration["maximum"]) == (-1, 15)
    assert props["wait_seconds"]["default"] == 40 and props["wait_seconds"]["maximum"] <= 50
    assert "ctx" not in props
    assert gen.output_schema is not None
    assert {"id", "status", "video_link", "poll_after_seconds", "next_step"} <= set(gen.output_schema["properties"])
    assert gen.annotations is not None
    assert gen.annotations.read_only_hint is False and gen.annotations.idempotent_hint is False
    assert gen.annotations.open_world_hint is True
    assert tools["get_video_task"].annotations.read_only_hint is True  # type: ignore[union-attr]
    assert tools["cancel_video_task"].annotations.destructive_hint is True  # type: ignore[union-attr]
    assert tools["list_video_models"].annotations.read_only_hint is True  # type: ignore[union-attr]
    assert "request_id" in gen.description and "get_video_task" in gen.description  # type: ignore[operator]


async def test_generate_returns_the_finished_video_with_link_path_and_last_frame(settings: Settings) -> None:
    async with Client(build_server(settings)) as client:
        result = await client.call_tool("generate_video", {"prompt": "a red fox in snow", "return_last_frame": True})
    task = structured(result)
    assert task["status"] == "succeeded" and task["done"] is True
    assert task["user"] == "mcp:alice" and task["provider"] == "sandbox"
    assert task["poll_after_seconds"] is None
    assert is_mp4(task["video_path"])
    assert Path(task["last_frame_path"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    links = [c for c in result.content if isinstance(c, ResourceLink)]
    assert [link.mime_type for link in links] == ["video/mp4", "image/png"]
    assert links[0].uri == Path(task["video_path"]).resolve().as_uri() == task["video_link"]
    text = result.content[0].text  # type: ignore[union-attr]
    assert task["video_link"] in text and task["video_path"] in text


async def test_progress_notifications_arrive_while_waiting(settings: Settings) -> None:
    slow = settings.model_copy(update={"sandbox_speed": 2.0})  # about 2.7 s
    updates: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        updates.append((progress, total, message))

    async with Client(build_server(slow, progress_interval=0.3)) as client:
        result = await client.call_tool("generate_video", {"prompt": "waves"}, progress_callback=on_progress)
    task = structured(result)
    assert task["status"] == "succeeded"
    assert len(updates) >= 3
    values = [u[0] for u in updates]
    assert values == sorted(values) and len(set(values)) == len(values)  # strictly increasing
    assert values[-1] == 100.0 and all(u[1] == 100.0 for u in updates)
    assert all(task["id"] in (u[2] or "") for u in updates)


async def test_client_timeout_loses_nothing_and_get_returns_the_video(settings: Settings) -> None:
    slow = settings.model_copy(update={"sandbox_speed": 1.5})  # about 3.7 s
    async with Client(build_server(slow)) as client:
        with pytest.raises(MCPError) as raised:
            await client.call_tool(
                "generate_video", {"prompt": "a slow sunrise", "request_id": "r-1"}, read_timeout_seconds=0.5
            )
        assert raised.value.error.code == -32001  # the client gave up and cancelled the call
        listed = structured(await client.call_tool("list_video_tasks", {}))
        assert listed["total"] == 1
        running = listed["tasks"][0]
        assert running["done"] is False and running["status"] in ("queued", "running")
        assert running["poll_after_seconds"] >= 5 and "get_video_task" in running["next_step"]
        task = structured(await client.call_tool("get_video_task", {"task_id": running["id"], "wait_seconds": 20}))
    assert task["status"] == "succeeded" and task["done"] is True
    assert is_mp4(task["video_path"])


async def test_short_wait_returns_the_running_task_with_guidance(settings: Settings) -> None:
    slow = settings.model_copy(update={"sandbox_speed": 1.5})
    async with Client(build_server(slow)) as client:
        first = await client.call_tool("generate_video", {"prompt": "clouds", "wait_seconds": 0})
        task = structured(first)
        assert task["done"] is False and task["video_link"] is None
        assert 5 <= task["poll_after_seconds"] <= 30
        assert f'"{task["id"]}"' in task["next_step"] and "Do not call generate_video again" in task["next_step"]
        assert not any(isinstance(c, ResourceLink) for c in first.content)
        quick = structured(await client.call_tool("get_video_task", {"task_id": task["id"], "wait_seconds": 0}))
        assert quick["done"] is False
        done = structured(await client.call_tool("get_video_task", {"task_id": task["id"], "wait_seconds": 20}))
    assert done["status"] == "succeeded"


async def test_repeated_request_id_returns_the_same_task(settings: Settings) -> None:
    async with Client(build_server(settings)) as client:
        args: dict[str, Any] = {"prompt": "a paper boat", "request_id": "same-key", "wait_seconds": 0}
        first = structured(await client.call_tool("generate_video", args))
        again = structured(await client.call_tool("generate_video", {**args, "wait_seconds": 20}))
        other = structured(await client.call_tool("generate_video", {**args, "request_id": "other-key"}))
        listed = structured(await client.call_tool("list_video_tasks", {}))
    assert again["id"] == first["id"] and again["status"] == "succeeded"
    assert other["id"] != first["id"]
    assert listed["total"] == 2


async def test_each_user_sees_and_cancels_only_their_own_tasks(settings: Settings, service: VideoService) -> None:
    alice = build_server(settings.model_copy(update={"user": "mcp:alice"}), service=service)
    bob = build_server(settings.model_copy(update={"user": "mcp:bob"}), service=service)
    async with Client(alice) as a, Client(bob) as b:
        task = structured(await a.call_tool("generate_video", {"prompt": "alice's cat", "request_id": "k"}))
        # The same request_id from another user is another task, not alice's.
        bobs = structured(await b.call_tool("generate_video", {"prompt": "bob's dog", "request_id": "k"}))
        assert bobs["id"] != task["id"] and bobs["user"] == "mcp:bob"
        assert "no task" in error_text(await b.call_tool("get_video_task", {"task_id": task["id"]}))
        assert "no task" in error_text(await b.call_tool("cancel_video_task", {"task_id": task["id"]}))
        listed = structured(await b.call_tool("list_video_tasks", {}))
        assert [t["id"] for t in listed["tasks"]] == [bobs["id"]]
        mine = structured(await a.call_tool("get_video_task", {"task_id": task["id"]}))
    assert mine["status"] == "succeeded"


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"prompt": "x", "resolution": "4k"}, "resolution"),
        ({"prompt": "x", "duration": 99}, "duration"),
        ({"prompt": "x", "duration": 2}, "duration"),  # in the schema's range, too short for this model
        ({"prompt": "x", "model": "seedance-9"}, "model"),
        ({"prompt": "x", "ratio": "2:1"}, "ratio"),
        ({"prompt": "x", "wait_seconds": 600}, "wait_seconds"),
        ({}, "prompt"),
        ({"prompt": "x", "first_frame": "/no/such/file.png"}, "first_frame"),
        ({"prompt": "x", "reference_videos": ["not a url"]}, "reference_videos"),
        ({"prompt": "x", "first_frame": "data:image/png;base64,AAAA"}, "first_frame"),
    ],
)
async def test_bad_input_is_one_line_naming_the_field_and_nothing_is_sent(
    settings: Settings, args: dict[str, Any], field: str
) -> None:
    async with Client(build_server(settings)) as client:
        text = error_text(await client.call_tool("generate_video", args))
        listed = structured(await client.call_tool("list_video_tasks", {}))
    assert text.startswith("Error executing tool generate_video: ")
    assert text.removeprefix("Error executing tool generate_video: ").startswith(field), text
    assert "nothing was sent" in text
    assert "try again" not in text.lower()
    assert listed["total"] == 0


async def test_local_image_path_works_over_stdio(settings: Settings, tmp_path: Path) -> None:
    image = write_png(tmp_path / "start.png")
    async with Client(build_server(settings)) as client:
        task = structured(await client.call_tool("generate_video", {"prompt": "it moves", "first_frame": str(image)}))
    assert task["status"] == "succeeded"
    assert task["params"]["images"][0]["role"] == "first_frame"


async def test_failed_task_says_so_and_does_not_ask_to_poll(settings: Settings) -> None:
    async with Client(build_server(settings)) as client:
        task = structured(await client.call_tool("generate_video", {"prompt": "a scene #fail"}))
    assert task["status"] == "failed" and task["done"] is True
    assert task["error"]["code"] and task["poll_after_seconds"] is None
    assert "nothing more will happen" in task["next_step"]


async def test_cancel_a_queued_task_then_cancel_again(settings: Settings) -> None:
    slow = settings.model_copy(update={"sandbox_speed": 0.25})  # queued for 4 s
    async with Client(build_server(slow)) as client:
        task = structured(await client.call_tool("generate_video", {"prompt": "never mind", "wait_seconds": 0}))
        cancelled = structured(await client.call_tool("cancel_video_task", {"task_id": task["id"]}))
        again = error_text(await client.call_tool("cancel_video_task", {"task_id": task["id"]}))
        filtered = structured(await client.call_tool("list_video_tasks", {"status": "cancelled"}))
    assert cancelled["status"] == "cancelled" and cancelled["done"] is True
    assert cancelled["charge"] == {"state": "not_charged", "text": "not charged (cancelled before it ran)"}
    assert "has already been cancelled; nothing to cancel" in again
    assert [t["id"] for t in filtered["tasks"]] == [task["id"]]


async def test_list_tasks_pages_newest_first(settings: Settings) -> None:
    async with Client(build_server(settings)) as client:
        ids = [
            structured(await client.call_tool("generate_video", {"prompt": f"clip {i}", "wait_seconds": 0}))["id"]
            for i in range(3)
        ]
        page = structured(await client.call_tool("list_video_tasks", {"limit": 2}))
        rest = structured(await client.call_tool("list_video_tasks", {"limit": 2, "offset": 2}))
        bad = error_text(await client.call_tool("list_video_tasks", {"limit": 0}))
    assert [t["id"] for t in page["tasks"]] == ids[::-1][:2]
    # No count per page (slow for a user with many tasks): the total is given where the listing ends.
    assert page["total"] is None and page["has_more"] is True and "offset=2" in page["next_step"]
    assert [t["id"] for t in rest["tasks"]] == ids[:1]
    assert rest["has_more"] is False and "offset=" not in rest["next_step"] and rest["total"] == 3
    assert bad.removeprefix("Error executing tool list_video_tasks: ").startswith("limit")


async def test_list_models_and_estimate_cost(settings: Settings) -> None:
    async with Client(build_server(settings)) as client:
        models = structured(await client.call_tool("list_video_models", {}))
        estimate = structured(
            await client.call_tool("estimate_video_cost", {"prompt": "x", "resolution": "480p", "duration": 4})
        )
        bigger = structured(
            await client.call_tool("estimate_video_cost", {"prompt": "x", "resolution": "1080p", "duration": 10})
        )
        too_long = {"prompt": "x", "model": "seedance-1-0-pro", "duration": 15}
        bad = error_text(await client.call_tool("estimate_video_cost", too_long))
        listed = structured(await client.call_tool("list_video_tasks", {}))
    assert models["default_provider"] == "sandbox"
    assert models["models"][0]["id"] == "seedance-2-0" and models["models"][0]["default"] is True
    assert {"resolutions", "duration_range", "price", "modes"} <= set(models["models"][0])
    assert estimate["unit"] == "tokens" and estimate["estimated"] > 0
    assert estimate["usd"] == 0.0 and estimate["price_rule"] == "free (offline sandbox)"
    assert models["models"][0]["price"]["rule"] == "free (offline sandbox)"
    assert estimate["params"]["resolution"] == "480p" and estimate["params"]["duration"] == 4
    assert bigger["estimated"] > estimate["estimated"]
    assert bad.removeprefix("Error executing tool estimate_video_cost: ").startswith("duration"), bad
    assert listed["total"] == 0  # estimating never creates a task


async def test_legacy_protocol_era_works_too(settings: Settings) -> None:
    updates: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        updates.append(progress)

    slow = settings.model_copy(update={"sandbox_speed": 4.0})
    async with Client(build_server(slow, progress_interval=0.2), mode="legacy") as client:
        assert client.protocol_version == "2025-11-25"
        task = structured(await client.call_tool("generate_video", {"prompt": "x"}, progress_callback=on_progress))
    assert task["status"] == "succeeded" and updates and updates[-1] == 100.0


async def test_a_misspelt_argument_is_refused_not_ignored(settings: Settings) -> None:
    async with Client(build_server(settings)) as client:
        text = error_text(await client.call_tool("generate_video", {"prompt": "a fox", "durration": 10}))
        listed = structured(await client.call_tool("list_video_tasks", {}))
    assert "unknown argument 'durration'" in text and "duration" in text and "\n" not in text
    assert listed["total"] == 0


# -- issue 12: first-run rough edges --------------------------------------------------------------------


async def test_estimate_needs_no_prompt(settings: Settings) -> None:
    """Bug 2: an assistant's most natural first call (no prompt) must answer."""
    async with Client(build_server(settings)) as client:
        bare = structured(await client.call_tool("estimate_video_cost", {}))
        sized = structured(await client.call_tool("estimate_video_cost", {"duration": 5, "resolution": "720p"}))
        v1 = structured(await client.call_tool("estimate_video_cost", {"model": "seedance-1-0-pro", "duration": 5}))
        flagged = error_text(await client.call_tool("estimate_video_cost", {"prompt": "a fox --dur 99"}))
    assert bare["estimated"] > 0 and bare["model"] == "seedance-2-0"
    assert sized["params"]["duration"] == 5 and sized["params"]["resolution"] == "720p"
    assert v1["estimated"] > 0
    assert "inline flag" in flagged  # a prompt that is given is still checked


async def test_estimate_shows_dollars_where_a_price_is_published(settings: Settings) -> None:
    seedanceapi = settings.model_copy(update={"providers": {
        **settings.providers, "seedanceapi": settings.provider_settings("seedanceapi").model_copy(
            update={"api_key": SecretStr("sk-test-key-0123456789")})}})
    async with Client(build_server(seedanceapi)) as client:
        priced = structured(await client.call_tool(
            "estimate_video_cost", {"provider": "seedanceapi", "duration": 10}))
    assert priced["unit"] == "credits" and priced["estimated"] == 480 and priced["usd"] == 4.8
    assert "$0.01 per credit" in priced["price_rule"] and "$4.80" in priced["next_step"]


async def test_list_with_a_status_filter_counts_and_pages_only_that_status(settings: Settings) -> None:
    """Bug 3: one failed task among five is "total 1", and nothing suggests paging."""
    async with Client(build_server(settings)) as client:
        for i in range(4):
            structured(await client.call_tool("generate_video", {"prompt": f"clip {i}"}))
        failed = structured(await client.call_tool("generate_video", {"prompt": "a storm #fail"}))
        only = structured(await client.call_tool("list_video_tasks", {"status": "failed"}))
        one = structured(await client.call_tool("list_video_tasks", {"status": "succeeded", "limit": 3}))
        none = structured(await client.call_tool("list_video_tasks", {"status": "running"}))
        beyond = structured(await client.call_tool("list_video_tasks", {"offset": 50}))
    assert [t["id"] for t in only["tasks"]] == [failed["id"]]
    assert only["total"] == 1 and only["has_more"] is False and "offset=" not in only["next_step"]
    # total is given where the listing ends (no count per page): here more follow, so it is null.
    assert one["total"] is None and one["has_more"] is True
    assert "offset=3 for older succeeded tasks" in one["next_step"]
    assert none["tasks"] == [] and none["has_more"] is False and "no running tasks" in none["next_step"]
    assert beyond["tasks"] == [] and "Nothing at offset 50" in beyond["next_step"]


async def test_a_failed_task_says_it_was_not_charged_and_a_finished_one_shows_its_cost(settings: Settings) -> None:
    async with Client(build_server(settings)) as client:
        failed = await client.call_tool("generate_video", {"prompt": "a storm #fail"})
        done = await client.call_tool("generate_video", {"prompt": "a calm sea"})
    task = structured(failed)
    assert task["charge"]["state"] == "not_charged" and "the sandbox never charges" in task["charge"]["text"]
    assert "Billing: not charged" in failed.content[0].text  # type: ignore[union-attr]
    finished = structured(done)
    assert finished["charge"]["state"] == "charged"
    assert finished["cost"]["unit"] == "tokens" and finished["cost"]["usd_estimated"] == 0.0
    assert "cost: " in done.content[0].text.lower() and "(free)" in done.content[0].text  # type: ignore[union-attr]


async def test_a_waiting_task_shows_its_place_in_line_and_nothing_was_paid(settings: Settings) -> None:
    """Issue 10 §1: over the running limit a request waits; the result says where it stands."""
    slow = settings.model_copy(update={"sandbox_speed": 1.0,
                                       "limits": Limits(max_running_per_user=1, max_tasks_per_day=None)})
    async with Client(build_server(slow)) as client:
        first = structured(await client.call_tool("generate_video", {"prompt": "one", "wait_seconds": 0}))
        second = await client.call_tool("generate_video", {"prompt": "two", "wait_seconds": 0})
        listed = structured(await client.call_tool("list_video_tasks", {"status": "waiting"}))
        await client.call_tool("cancel_video_task", {"task_id": structured(second)["id"]})
        await client.call_tool("cancel_video_task", {"task_id": first["id"]})
    waiting = structured(second)
    assert waiting["status"] == "waiting" and waiting["done"] is False
    assert waiting["queue"] == {"yours": 1, "overall": 1, "waiting": 1}
    assert "waiting, 1st in line (1 waiting); nothing was sent or paid yet" in waiting["next_step"]
    assert "1st in line (1 waiting)" in second.content[0].text.splitlines()[0]
    assert [t["id"] for t in listed["tasks"]] == [waiting["id"]] and listed["tasks"][0]["queue"]["overall"] == 1
