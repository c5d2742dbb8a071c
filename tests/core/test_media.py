"""Issue 11.12: `verify_video` accepts a real video and refuses a truncated MP4, an HTML page or a still image."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from core.media import DownloadError, verify_video


def make_mp4(path: Path, frames: int = 12) -> Path:
    import av
    import numpy as np

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=12)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.time_base = Fraction(1, 12)
        for i in range(frames):
            image = np.full((48, 64, 3), (i * 20) % 255, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def refusal(path: Path) -> str:
    with pytest.raises(DownloadError) as info:
        verify_video(path)
    assert info.value.code == "not_a_video"
    message = str(info.value)
    assert "\n" not in message and path.name in message
    return message


def test_a_real_video_passes(tmp_path: Path) -> None:
    verify_video(make_mp4(tmp_path / "good.mp4"))


def test_a_truncated_mp4_is_refused(tmp_path: Path) -> None:
    good = make_mp4(tmp_path / "good.mp4", frames=24).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(good[: len(good) // 2])
    assert "does not open as a video" in refusal(cut)


def test_an_html_page_is_refused(tmp_path: Path) -> None:
    page = tmp_path / "page.mp4"
    page.write_text("<!doctype html><html><body><h1>Access denied</h1></body></html>\n" * 20)
    refusal(page)


def test_an_empty_file_and_a_missing_file_are_refused(tmp_path: Path) -> None:
    (tmp_path / "empty.mp4").write_bytes(b"")
    refusal(tmp_path / "empty.mp4")
    refusal(tmp_path / "missing.mp4")


def test_a_file_without_a_video_stream_is_refused(tmp_path: Path) -> None:
    import av

    path = tmp_path / "sound.mp4"
    with av.open(str(path), mode="w") as container:
        container.add_stream("aac", rate=8000)
    assert refusal(path)
