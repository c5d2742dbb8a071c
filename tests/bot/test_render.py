"""The pure pieces: target strings, message text, embeds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot import render
from bot.options import provider_link
from bot.posting import mention_only
from bot.target import Target, requester_of
from core.models import Cost, Task, TaskError, TaskStatus, VideoRequest
from core.scheduling import Progress

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def make_task(**changes: object) -> Task:
    base: dict[str, object] = {
        "id": "abc123def456", "user": "discord:42", "provider": "sandbox", "model": "seedance-2-0",
        "request": VideoRequest(prompt="a fox @everyone **bold**", resolution="720p", ratio="16:9", duration=5,
                                generate_audio=True, seed=7),
        "status": TaskStatus.SUCCEEDED, "cost": Cost(unit="tokens", estimated=1000, actual=1200),
        "created_at": NOW, "submitted_at": NOW, "finished_at": NOW + timedelta(seconds=75),
    }
    base.update(changes)
    return Task.model_validate(base)


def test_target_round_trips_and_rejects_foreign_strings() -> None:
    target = Target(1, 2, 3, 4)
    assert str(target) == "discord:1:2:3:4" and Target.parse(str(target)) == target
    assert Target.parse("discord:1:2:3") == Target(1, 2, 3, 0)
    for bad in (None, "", "mcp:1:2:3", "discord:x:2:3", "discord:1"):
        assert Target.parse(bad) is None


def test_requester_and_mentions() -> None:
    assert requester_of(make_task().user) == 42
    assert requester_of(make_task(user="mcp:alice").user) is None
    allowed = mention_only(42).to_dict()
    assert allowed["parse"] == [] and allowed["users"] == [42]


def test_result_card_text_pings_only_the_requester_and_says_what_made_the_video() -> None:
    task = make_task()
    assert render.card_header(task, 42) == "### 🎞️ <@42> your video is ready"
    facts = render.card_facts(task)
    assert "`seedance-2-0`" in facts and "5 s" in facts and "seed 7" in facts and "1,200 tokens (free)" in facts
    assert render.card_prompt(task).startswith("> a fox @\u200beveryone \\*\\*bold")
    linked = render.link_note(task, link="https://x.test/v.mp4", size=12 * 2**20, limit=10 * 2**20)
    assert "12.0 MB" in linked and "10.0 MB upload limit" in linked and linked.endswith("https://x.test/v.mp4")
    assert "no public link" in render.link_note(task, link=None, size=3_000_000, limit=None)
    assert render.fit_note(12 * 2**20, 9 * 2**20, 10 * 2**20) == (
        "-# Re-encoded from 12.0 MB to 9.0 MB to fit this channel's 10.0 MB upload limit.")
    failed = make_task(status=TaskStatus.FAILED, error=TaskError(code="x", message="refused @everyone"))
    header = render.card_header(failed, None)
    assert header.startswith("### ❌ Your video failed\nrefused") and "@everyone" not in header
    assert "not charged" in render.card_facts(failed)


def test_embeds_escape_the_prompt_and_show_eta_and_cost() -> None:
    task = make_task(status=TaskStatus.RUNNING, finished_at=None)
    progress = Progress(elapsed=30, expected_total=90, fraction=0.33, remaining=60, late=False)
    embed = render.progress_embed(task, progress, now=1_000_000.0)
    fields = {f.name: f.value for f in embed.fields}
    assert fields["Ready"] == "<t:1000060:R>" and fields["Elapsed"] == "30 s"
    assert fields["Settings"] == "720p · 16:9 · 5 s · audio · seed 7"
    assert "@\u200beveryone" in (embed.description or "") and "\\*\\*bold\\*\\*" in (embed.description or "")
    late = render.progress_embed(task, Progress(400, 90, 0.97, None, True), now=0)
    assert {f.name: f.value for f in late.fields}["Ready"] == "taking longer than usual"
    done = render.result_embed(make_task())
    assert {f.name: f.value for f in done.fields}["Cost"] == "1,200 tokens"
    assert render.final_status_embed(make_task()).title == "✅ Finished in 1 min 15 s"


def test_small_helpers() -> None:
    assert render.fmt_seconds(3725) == "1 h 2 min" and render.fmt_size(20_000) == "20 KB"
    assert len(render.choice_name(make_task(request=VideoRequest(prompt="x" * 300)))) == 100
    assert provider_link(make_task(video_url="https://cdn.test/v.mp4")) == "https://cdn.test/v.mp4"
    assert provider_link(make_task(video_url="sandbox://sbx-1/video.mp4")) is None
    assert render.error_text("limit @everyone").startswith("⚠️ limit @\u200beveryone")
