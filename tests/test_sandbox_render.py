"""The sandbox renderer writes real, playable, deterministic MP4s and real last-frame PNGs."""

from __future__ import annotations

import pathlib
import struct
from typing import Any

import av
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.sandbox import render
from core.sandbox.render import VideoInfo, fit_size, probe_video, render_last_frame, render_video


def decoded_frames(path: pathlib.Path) -> list[np.ndarray[Any, Any]]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def first_frame(path: pathlib.Path) -> np.ndarray[Any, Any]:
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            return frame.to_ndarray(format="rgb24")
    raise AssertionError("no frame")


def top_level_boxes(path: pathlib.Path) -> list[str]:
    data, offset, names = path.read_bytes(), 0, []
    while offset < len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        names.append(kind.decode())
        offset += size
    return names


@pytest.mark.parametrize(
    ("width", "height", "duration", "audio", "max_side", "expected_size"),
    [
        (1280, 720, 2.0, False, 640, (640, 360)),
        (720, 1280, 1.5, True, 640, (360, 640)),
        (2206, 946, 1.03, True, 640, (640, 274)),
        (320, 240, 0.5, False, 640, (320, 240)),
        (1920, 1080, 5.0, True, 480, (480, 270)),
        (1080, 1080, 1.0, False, 640, (640, 640)),
    ],
)
def test_render_video_writes_h264_mp4_of_scaled_size_exact_frames_and_requested_audio(
    tmp_path: pathlib.Path,
    width: int,
    height: int,
    duration: float,
    audio: bool,
    max_side: int,
    expected_size: tuple[int, int],
) -> None:
    path = tmp_path / "out.mp4"
    returned = render_video(
        path, width=width, height=height, duration=duration, audio=audio, prompt="a fox", max_side=max_side
    )

    info = probe_video(path)
    assert returned == info
    assert (info.width, info.height) == expected_size
    assert info.fps == 24.0
    assert info.frames == round(duration * 24)
    assert abs(info.duration - duration) <= 1 / 24
    assert info.video_codec == "h264"
    assert info.has_audio is audio
    assert info.audio_codec == ("aac" if audio else None)
    # The frame count in the index is what a decoder really produces.
    frames = decoded_frames(path)
    assert len(frames) == info.frames
    assert frames[0].shape == (expected_size[1], expected_size[0], 3)
    # Nothing but the finished file is left in the folder.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


def test_video_is_yuv420p_and_streamable_with_index_before_media(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "v.mp4"
    render_video(path, width=640, height=360, duration=1.0, audio=True)

    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.pix_fmt == "yuv420p"
    boxes = top_level_boxes(path)
    assert boxes.index("moov") < boxes.index("mdat")


def test_audio_track_is_48khz_mono_as_long_as_the_video_and_audible(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "a.mp4"
    render_video(path, width=640, height=360, duration=2.0, audio=True, seed=7)

    with av.open(str(path)) as container:
        stream: Any = container.streams.audio[0]
        assert stream.sample_rate == 48_000
        assert stream.codec_context.layout.nb_channels == 1
        assert abs(float(stream.duration * stream.time_base) - 2.0) <= 1 / 24
        samples = np.concatenate([frame.to_ndarray().reshape(-1) for frame in container.decode(stream)])
    rms = float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))
    assert 0.01 < rms < 0.5  # a soft tone, not silence and not clipping


def test_same_prompt_and_seed_give_identical_bytes(tmp_path: pathlib.Path) -> None:
    first, second = tmp_path / "1.mp4", tmp_path / "2.mp4"
    for path in (first, second):
        render_video(path, width=1280, height=720, duration=1.0, audio=True, prompt="sunset", seed=3)

    assert first.read_bytes() == second.read_bytes()


def test_different_prompt_or_seed_gives_different_pixels(tmp_path: pathlib.Path) -> None:
    renders = {}
    for name, prompt, seed in [("base", "sunset", 3), ("prompt", "a city at night", 3), ("seed", "sunset", 4)]:
        path = tmp_path / f"{name}.mp4"
        render_video(path, width=320, height=180, duration=0.5, prompt=prompt, seed=seed)
        renders[name] = first_frame(path).astype(np.int16)

    for other in ("prompt", "seed"):
        mean_difference = np.abs(renders["base"] - renders[other]).mean()
        assert mean_difference > 10, other


def test_video_is_visibly_animated(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "v.mp4"
    render_video(path, width=320, height=180, duration=2.0, prompt="waves")

    frames = [frame.astype(np.int16) for frame in decoded_frames(path)]
    steps = [np.abs(frames[i + 1] - frames[i]).mean() for i in range(len(frames) - 1)]
    assert min(steps) > 0.5  # every frame moves, not just a few
    assert np.abs(frames[-1] - frames[0]).mean() > 10


def test_last_frame_png_is_the_videos_real_last_frame_at_its_size(tmp_path: pathlib.Path) -> None:
    video, png = tmp_path / "v.mp4", tmp_path / "last.png"
    render_video(video, width=2206, height=946, duration=3.0, prompt="desert", audio=True)

    render_last_frame(video, png)

    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    assert struct.unpack(">II", data[16:24]) == (640, 274)
    with av.open(str(png)) as container:
        image = next(iter(container.decode(video=0))).to_ndarray(format="rgb24")
    frames = decoded_frames(video)
    np.testing.assert_array_equal(image, frames[-1])
    assert np.abs(image.astype(np.int16) - frames[-2].astype(np.int16)).mean() > 0  # not a neighbour
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.png", "v.mp4"]


def test_failed_render_leaves_existing_file_untouched_and_no_temp_file(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "v.mp4"
    path.write_bytes(b"previous video")
    original = render._FrameSource.frame

    def failing_frame(self: render._FrameSource, index: int) -> Any:
        if index == 10:
            raise RuntimeError("simulated crash mid-encode")
        return original(self, index)

    monkeypatch.setattr(render._FrameSource, "frame", failing_frame)

    with pytest.raises(RuntimeError, match="mid-encode"):
        render_video(path, width=640, height=360, duration=1.0, audio=True)

    assert path.read_bytes() == b"previous video"
    assert [p.name for p in tmp_path.iterdir()] == ["v.mp4"]


def test_render_creates_missing_parent_folder(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "media" / "task-1" / "video.mp4"

    info = render_video(path, width=64, height=64, duration=0.25)

    assert path.is_file()
    assert info.frames == 6


@pytest.mark.parametrize(
    "kwargs",
    [
        {"duration": 0.0},
        {"duration": -1.0},
        {"duration": float("nan")},
        {"fps": 0},
        {"width": 0},
        {"max_side": 1},
    ],
)
def test_render_rejects_invalid_arguments(tmp_path: pathlib.Path, kwargs: dict[str, Any]) -> None:
    arguments: dict[str, Any] = {"width": 640, "height": 360, "duration": 1.0} | kwargs

    with pytest.raises(ValueError):
        render_video(tmp_path / "v.mp4", **arguments)

    assert list(tmp_path.iterdir()) == []


def test_probe_reports_missing_and_non_video_files(tmp_path: pathlib.Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video" * 50)

    with pytest.raises(FileNotFoundError):
        probe_video(tmp_path / "missing.mp4")
    with pytest.raises(ValueError):
        probe_video(junk)


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((1280, 720), (640, 360)),
        ((720, 1280), (360, 640)),
        ((2206, 946), (640, 274)),
        ((946, 2206), (274, 640)),
        ((1920, 1080), (640, 360)),
        ((640, 360), (640, 360)),
        ((321, 241), (320, 240)),
        ((1, 1), (2, 2)),
        ((10000, 3), (640, 2)),
    ],
)
def test_fit_size_examples(size: tuple[int, int], expected: tuple[int, int]) -> None:
    assert fit_size(*size, 640) == expected


@given(
    width=st.integers(1, 8000),
    height=st.integers(1, 8000),
    max_side=st.integers(2, 4000),
)
def test_fit_size_keeps_aspect_within_a_pixel_and_bounds(width: int, height: int, max_side: int) -> None:
    new_w, new_h = fit_size(width, height, max_side)

    assert new_w % 2 == 0 and new_h % 2 == 0
    assert new_w >= 2 and new_h >= 2
    assert max(new_w, new_h) <= max_side - max_side % 2
    assert new_w <= max(2, width) and new_h <= max(2, height)
    scale = min(1.0, (max_side - max_side % 2) / max(width, height))
    assert abs(new_w - width * scale) <= 2 and abs(new_h - height * scale) <= 2
    assert not (width < height and new_w > new_h) and not (width > height and new_w < new_h)  # no flip


def test_video_info_is_frozen() -> None:
    info = VideoInfo(2, 2, 24.0, 1.0, 24, False, "h264", None)

    with pytest.raises(AttributeError):
        info.width = 4  # type: ignore[misc]
