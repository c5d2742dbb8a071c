"""Stories through the SDK's in-process `Client`: generate_story, followed by get_video_task (per-shot
progress, then the joined video), retry_story after a refused shot, cancel_video_task on a story."""

from __future__ import annotations

from pathlib import Path

from mcp import Client
from mcp.types import ResourceLink

from core.config import Settings
from core.sandbox.render import probe_video
from mcp_server.server import build_server
from tests.mcp.conftest import error_text, is_mp4, structured

SHOTS = ["a lighthouse at dawn", "the camera flies over the sea"]
OPTIONS = {"resolution": "480p", "duration": 4}


async def test_generate_story_returns_the_story_and_get_video_task_follows_it_to_the_joined_video(
    settings: Settings,
) -> None:
    async with Client(build_server(settings)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert {"generate_story", "retry_story"} <= set(tools)
        props = tools["generate_story"].input_schema["properties"]
        assert (props["shots"]["minItems"], props["shots"]["maxItems"]) == (2, 6)

        first = structured(await client.call_tool(
            "generate_story", {"shots": SHOTS, **OPTIONS, "wait_seconds": 0, "request_id": "story-1"}
        ))
        assert first["kind"] == "story" and first["id"].startswith("story-") and first["done"] is False
        assert first["status"] in ("waiting", "running") and first["poll_after_seconds"]
        assert [s["index"] for s in first["shots"]] == [1, 2] and first["shots"][1]["status"] == "waiting"
        assert all(0 <= s["progress_percent"] <= 100 for s in first["shots"])
        assert "get_video_task" in first["next_step"]
        again = structured(await client.call_tool(
            "generate_story", {"shots": SHOTS, **OPTIONS, "wait_seconds": 0, "request_id": "story-1"}
        ))
        assert again["id"] == first["id"]  # the same request_id: the same story, not paid twice

        result = await client.call_tool("get_video_task", {"task_id": first["id"], "wait_seconds": 50})
    done = structured(result)
    assert done["status"] == "succeeded" and done["done"] is True and done["kind"] == "story"
    assert [s["progress_percent"] for s in done["shots"]] == [100.0, 100.0]
    assert is_mp4(done["video_path"]) and abs(probe_video(Path(done["video_path"])).duration - 8) <= 2 / 24
    links = [c for c in result.content if isinstance(c, ResourceLink)]
    assert [link.mime_type for link in links] == ["video/mp4"] and links[0].uri == done["video_link"]
    assert len(list((settings.home / "sandbox").glob("sbx-*.json"))) == 2


async def test_a_refused_shot_is_retried_with_a_new_prompt_and_a_story_can_be_cancelled(settings: Settings) -> None:
    async with Client(build_server(settings)) as client:
        failed = structured(await client.call_tool(
            "generate_story", {"shots": [SHOTS[0], "refused #fail"], **OPTIONS, "wait_seconds": 50}
        ))
        assert failed["status"] == "failed" and failed["done"] and failed["error"]["code"] == "shot_failed"
        assert "retry_story" in failed["next_step"]
        retried = structured(await client.call_tool(
            "retry_story", {"task_id": failed["id"], "prompt": "accepted", "wait_seconds": 50}
        ))
        assert retried["status"] == "succeeded" and retried["shots"][1]["prompt"] == "accepted"

        other = structured(await client.call_tool(
            "generate_story", {"shots": SHOTS, **OPTIONS, "wait_seconds": 0}
        ))
        cancelled = structured(await client.call_tool("cancel_video_task", {"task_id": other["id"]}))
        assert cancelled["status"] == "cancelled" and cancelled["done"]
        missing = await client.call_tool("get_video_task", {"task_id": "story-0000000000"})
    assert "no story" in error_text(missing)


async def test_a_story_the_model_cannot_chain_or_too_few_shots_are_refused(settings: Settings) -> None:
    async with Client(build_server(settings)) as client:
        one = await client.call_tool("generate_story", {"shots": ["only one"]})
        flagged = await client.call_tool("generate_story", {"shots": ["ok", "--dur 12 sneaky"]})
    assert "shots" in error_text(one)
    assert "shot 2" in error_text(flagged) and "nothing was sent" in error_text(flagged)
    assert not list((settings.home / "sandbox").glob("sbx-*.json"))
