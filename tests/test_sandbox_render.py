"""The sandbox renderer writes real, playable, deterministic MP4s and real last-frame PNGs.

It answers the request as a real model would in shape: the real output size per resolution and
ratio, the first-frame image as the first frame, the last-frame image as the last frame, the prompt
drawn on the picture; and it never reaches the network.
"""

from __future__ import annotations

import asyncio
import base64
import io
import pathlib
import socket
import struct
from typing import Any

import av
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageDraw, ImageFont, ImageOps

from core import catalog
from core.http import HttpClient
from core.models import ImageInput, ImageRole, TaskStatus, VideoRequest
from core.sandbox import render
from core.sandbox.images import load_still, output_size, short_url
from core.sandbox.provider import SandboxProvider
from core.sandbox.render import VideoInfo, fit_size, probe_video, render_last_frame, render_video
from core.sandbox.scene import placeholder_image, wrap_text


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

    # The prompt picks the colours (a dusk sky, a night sky); the seed only rearranges the scene.
    assert np.abs(renders["base"] - renders["prompt"]).mean() > 10
    assert np.abs(renders["base"] - renders["seed"]).mean() > 3


def test_video_is_visibly_animated(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "v.mp4"
    render_video(path, width=320, height=180, duration=2.0, prompt="waves")

    frames = [frame.astype(np.int16) for frame in decoded_frames(path)]
    steps = [np.abs(frames[i + 1] - frames[i]).mean() for i in range(len(frames) - 1)]
    assert min(steps) > 0.05  # every frame moves (particles, parallax hills, the sun), not just a few
    assert float(np.median(steps)) > 0.25
    assert np.abs(frames[-1] - frames[0]).mean() > 5


def test_last_frame_png_is_the_videos_real_last_frame_at_its_size(tmp_path: pathlib.Path) -> None:
    video, png = tmp_path / "v.mp4", tmp_path / "last.png"
    render_video(video, width=2206, height=946, duration=0.5, prompt="desert", audio=True)

    render_last_frame(video, png)

    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    assert struct.unpack(">II", data[16:24]) == (2206, 946)
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


# -- answering the request ---------------------------------------------------------------------------

# providers.md §1.6, the 1.5 pro / 2.0 series column: (width, height) per resolution and ratio.
SIZES_20 = {
    "480p": {"16:9": (864, 496), "4:3": (752, 560), "1:1": (640, 640), "3:4": (560, 752), "9:16": (496, 864),
             "21:9": (992, 432), "9:21": (432, 992)},
    "720p": {"16:9": (1280, 720), "4:3": (1112, 834), "1:1": (960, 960), "3:4": (834, 1112), "9:16": (720, 1280),
             "21:9": (1470, 630), "9:21": (630, 1470)},
    "1080p": {"16:9": (1920, 1080), "4:3": (1664, 1248), "1:1": (1440, 1440), "3:4": (1248, 1664),
              "9:16": (1080, 1920), "21:9": (2206, 946), "9:21": (946, 2206)},
}
SANDBOX_20 = catalog.get_model("sandbox", "seedance-2-0")
NEVER_TOUCHED = 10**9


def mean_diff(a: Any, b: Any) -> float:
    return float(np.abs(np.asarray(a, dtype=np.int16) - np.asarray(b, dtype=np.int16)).mean())


def photo(width: int, height: int, hue: int = 0) -> Image.Image:
    """A stand-in photo: a smooth gradient with a few sharp shapes and some text."""
    x = np.linspace(0, 1, width)[None, :]
    y = np.linspace(0, 1, height)[:, None]
    rgb = np.stack(np.broadcast_arrays((60 + 150 * x + hue) % 256, 40 + 160 * y, 200 - 120 * x * y), axis=-1)
    image = Image.fromarray(rgb.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    draw.ellipse((width * 0.2, height * 0.2, width * 0.5, height * 0.6), fill=(250, 220, 40))
    draw.rectangle((width * 0.6, height * 0.5, width * 0.9, height * 0.9), fill=((hue * 7) % 256, 30, 90))
    draw.text((width * 0.1, height * 0.05), "PHOTO", fill=(255, 255, 255), font=ImageFont.load_default(height // 10))
    return image


def data_url(image: Image.Image, kind: str = "png") -> str:
    buffer = io.BytesIO()
    if kind == "jpeg":
        image.save(buffer, "JPEG", quality=95)
    else:
        image.save(buffer, "PNG")
    return f"data:image/{kind};base64," + base64.b64encode(buffer.getvalue()).decode()


async def sandbox_result(
    home: pathlib.Path, request: VideoRequest, *, wait: bool = False
) -> tuple[pathlib.Path, pathlib.Path | None]:
    """Submit to a (very fast) sandbox and download the video and, if asked for, the last frame.

    With `wait`, the task is followed to success first and its URLs are used; that prices the
    request, which the catalog refuses for lengths below the model's minimum, so quick 1-2 s
    tests download straight from the sandbox's own addresses.
    """
    http = HttpClient()
    try:
        provider = SandboxProvider(http=http, home=home, speed=1000)
        remote_id = await provider.submit(request)
        video_url: str | None = f"sandbox://{remote_id}/video.mp4"
        last_url = f"sandbox://{remote_id}/last_frame.png" if request.return_last_frame else None
        if wait:
            task = await provider.get(remote_id)
            while not task.status.is_final:
                await asyncio.sleep(0.01)
                task = await provider.get(remote_id)
            assert task.status is TaskStatus.SUCCEEDED
            video_url, last_url = task.video_url, task.last_frame_url
        assert video_url is not None
        video = home / "out" / "video.mp4"
        await provider.download(video_url, video, max_bytes=NEVER_TOUCHED)
        if last_url is None:
            return video, None
        png = home / "out" / "last.png"
        await provider.download(last_url, png, max_bytes=NEVER_TOUCHED)
        return video, png
    finally:
        await http.aclose()


def request(prompt: str = "a lighthouse in a storm", **fields: Any) -> VideoRequest:
    return VideoRequest(prompt=prompt, **({"model": "seedance-2-0", "resolution": "480p", "duration": 1} | fields))


def read_png(path: pathlib.Path) -> np.ndarray[Any, Any]:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a network connection fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the sandbox tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.mark.parametrize("resolution", ["480p", "720p", "1080p"])
@pytest.mark.parametrize("ratio", ["16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "9:21"])
def test_output_size_is_the_real_models_size(resolution: str, ratio: str) -> None:
    assert output_size(SANDBOX_20, resolution, ratio, None) == (ratio, *SIZES_20[resolution][ratio])


def test_the_1_0_series_has_its_own_sizes() -> None:
    spec = catalog.get_model("sandbox", "seedance-1-0-pro")
    assert output_size(spec, "1080p", "16:9", None) == ("16:9", 1920, 1088)
    assert output_size(spec, "480p", "21:9", None) == ("21:9", 960, 416)


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        (None, "16:9"),  # no first frame (or one the sandbox cannot see): 16:9
        ((1024, 768), "4:3"),
        ((768, 1024), "3:4"),
        ((1000, 1000), "1:1"),
        ((1080, 1920), "9:16"),
        ((500, 1200), "9:16"),  # taller than any Ark ratio: the closest one
        ((2400, 1000), "21:9"),
        ((1920, 1080), "16:9"),
    ],
)
def test_adaptive_follows_the_first_frames_shape(shape: tuple[int, int] | None, expected: str) -> None:
    assert output_size(SANDBOX_20, "720p", "adaptive", shape) == (expected, *SIZES_20["720p"][expected])


@pytest.mark.parametrize(
    ("model", "resolution", "ratio", "size"),
    [
        ("seedance-2-0", "480p", "16:9", (864, 496)),
        ("seedance-2-0", "720p", "9:16", (720, 1280)),
        ("seedance-2-0", "720p", "4:3", (1112, 834)),
        ("seedance-2-0", "480p", "3:4", (560, 752)),
        ("seedance-2-0", "1080p", "21:9", (2206, 946)),
        ("seedance-2-0", "480p", "9:21", (432, 992)),
        ("seedance-2-0", "480p", "adaptive", (864, 496)),
        ("seedance-1-0-pro", "1080p", "16:9", (1920, 1088)),
    ],
)
async def test_the_sandbox_renders_at_the_asked_size(
    tmp_path: pathlib.Path, offline: None, model: str, resolution: str, ratio: str, size: tuple[int, int]
) -> None:
    video, _ = await sandbox_result(tmp_path, request(model=model, resolution=resolution, ratio=ratio))

    info = probe_video(video)
    assert (info.width, info.height) == size
    assert info.frames == 24 and info.fps == 24.0


@pytest.mark.parametrize(("duration", "audio", "last_frame"), [(4, True, True), (2, False, False)])
async def test_frame_count_audio_and_last_frame_follow_the_request(
    tmp_path: pathlib.Path, duration: int, audio: bool, last_frame: bool
) -> None:
    model = "seedance-2-0" if audio else "seedance-1-0-pro"  # 2.0 starts at 4 s; 1.0 pro at 2 s and silent
    video, last = await sandbox_result(
        tmp_path,
        request(model=model, duration=duration, generate_audio=audio, return_last_frame=last_frame),
        wait=True,
    )

    info = probe_video(video)
    frames = decoded_frames(video)
    assert info.frames == duration * 24 and len(frames) == duration * 24 and info.fps == 24.0
    assert info.has_audio is audio and info.audio_codec == ("aac" if audio else None)
    if last_frame:
        assert last is not None
        np.testing.assert_array_equal(read_png(last), frames[-1])
    else:
        assert last is None


async def test_video_starts_on_the_first_frame_and_ends_on_the_last_frame(
    tmp_path: pathlib.Path, offline: None
) -> None:
    first, last = photo(752, 560), photo(752, 560, hue=120)
    images = (
        ImageInput(url=data_url(first), role=ImageRole.FIRST_FRAME),
        ImageInput(url=data_url(last, "jpeg"), role=ImageRole.LAST_FRAME),
    )
    # A 4:3 first frame with ratio adaptive gives the 4:3 size, so the images fill the frame as they are.
    video, png = await sandbox_result(
        tmp_path, request(images=images, ratio="adaptive", duration=2, return_last_frame=True, generate_audio=True)
    )

    frames = decoded_frames(video)
    assert frames[0].shape == (560, 752, 3) and len(frames) == 48
    assert probe_video(video).has_audio
    assert mean_diff(frames[0], first) < 3  # the image itself, only through the encoder
    assert mean_diff(frames[-1], last) < 3
    assert mean_diff(frames[0], last) > 20 and mean_diff(frames[-1], first) > 20
    middle = frames[len(frames) // 2]
    assert mean_diff(middle, first) > 5 and mean_diff(middle, last) > 5  # on its way between the two
    # The last-frame PNG is exactly the video's last frame, as decoded.
    assert png is not None
    np.testing.assert_array_equal(read_png(png), frames[-1])


async def test_images_of_another_shape_are_cropped_to_fill_the_frame(tmp_path: pathlib.Path) -> None:
    first = photo(1000, 1000)  # square, for a 16:9 video
    video, _ = await sandbox_result(tmp_path, request(images=(ImageInput(url=data_url(first)),), ratio="16:9"))

    frame = first_frame(video)
    expected = ImageOps.fit(first, (864, 496), method=Image.Resampling.LANCZOS)
    assert frame.shape == (496, 864, 3)
    assert mean_diff(frame, expected) < 3


async def test_next_shot_continues_from_the_last_frame_without_a_visible_joint(tmp_path: pathlib.Path) -> None:
    shot_one, last_png = await sandbox_result(
        tmp_path / "1", request("a fox runs across a snowy field", duration=2, return_last_frame=True)
    )
    assert last_png is not None
    with Image.open(last_png) as image:
        carried = data_url(image.convert("RGB"))
    shot_two, _ = await sandbox_result(
        tmp_path / "2",
        request("the fox jumps into the river", duration=2, ratio="adaptive", images=(ImageInput(url=carried),)),
    )

    end_of_one, start_of_two = decoded_frames(shot_one)[-1], first_frame(shot_two)
    assert probe_video(shot_two).width == probe_video(shot_one).width  # adaptive kept the shape
    assert mean_diff(end_of_one, start_of_two) < 3  # no caption, badge or jump at the joint


def test_the_prompt_is_drawn_as_a_caption_that_leaves_the_last_frame_clean(tmp_path: pathlib.Path) -> None:
    with_text, without = tmp_path / "text.mp4", tmp_path / "plain.mp4"
    prompt = "a paper boat sails down a rainy street, close-up, soft focus"
    render_video(with_text, width=640, height=360, duration=1.0, prompt=prompt, seed=5, label="")
    render_video(without, width=640, height=360, duration=1.0, prompt=prompt, seed=5, label="", show_prompt=False)

    text, plain = decoded_frames(with_text), decoded_frames(without)
    middle = len(text) // 2
    bottom, top = slice(int(360 * 0.6), 360), slice(0, int(360 * 0.5))
    assert mean_diff(text[middle][bottom], plain[middle][bottom]) > 8  # subtitles in the lower part
    assert mean_diff(text[middle][top], plain[middle][top]) < 1.5  # and nothing else changed
    assert mean_diff(text[-1], plain[-1]) < 1.5  # faded out: the last frame is picture only


def test_a_different_prompt_draws_different_text_on_the_same_picture(tmp_path: pathlib.Path) -> None:
    # The same still and the same seed: only the caption can differ.
    paths = [tmp_path / "a.mp4", tmp_path / "b.mp4"]
    for path, prompt in zip(paths, ["a deer in a forest", "rain on a window at night, neon"], strict=True):
        render_video(path, width=640, height=360, duration=1.0, prompt=prompt, seed=1, label="",
                     first_frame=photo(640, 360), camera_fixed=True)

    a, b = (decoded_frames(p)[12] for p in paths)
    lower, upper = slice(int(360 * 0.6), 360), slice(0, int(360 * 0.5))
    assert mean_diff(a[lower], b[lower]) > 3
    assert mean_diff(a[upper], b[upper]) < 1.5


def test_camera_fixed_keeps_the_still_still(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "v.mp4"
    still = photo(320, 240)
    render_video(path, width=320, height=240, duration=1.0, first_frame=still, camera_fixed=True, label="",
                 show_prompt=False)

    frames = decoded_frames(path)
    assert mean_diff(frames[0], still) < 3 and mean_diff(frames[-1], still) < 3


async def test_a_web_image_is_never_fetched_and_a_placeholder_says_so(tmp_path: pathlib.Path, offline: None) -> None:
    url = "https://images.example.com/shots/cat.png?X-Tos-Signature=s3cret"
    video, _ = await sandbox_result(tmp_path, request(images=(ImageInput(url=url),), ratio="adaptive"))

    info = probe_video(video)
    assert (info.width, info.height) == (864, 496)  # its shape is unknown offline: adaptive gives 16:9
    still = load_still(url)
    assert still.image is None and still.reason and "offline" in still.reason
    expected = placeholder_image(
        864, 496, title="FIRST FRAME (placeholder)", lines=[still.reason, "https://images.example.com/…/cat.png"]
    )
    assert mean_diff(first_frame(video), expected) < 3


def test_short_url_never_shows_a_query() -> None:
    assert short_url("https://cdn.example.com/a/b/cat.png?X-Tos-Signature=s3cret") == "https://cdn.example.com/…/cat.png"
    assert "s3cret" not in short_url("https://cdn.example.com/cat.png?token=s3cret")
    assert short_url("data:image/png;base64,AAAA") == "data:image/png;base64"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("data:image/png;base64,bm90IGFuIGltYWdl", "could not be decoded"),
        ("asset://asset-20260101-abc", "asset library"),
    ],
)
async def test_images_the_sandbox_cannot_use_become_placeholders(
    tmp_path: pathlib.Path, offline: None, url: str, reason: str
) -> None:
    still = load_still(url)
    assert still.image is None and still.reason and reason in still.reason

    video, _ = await sandbox_result(tmp_path, request(images=(ImageInput(url=url),)))
    assert probe_video(video).frames == 24
    assert "unsupported" in (load_still("ftp://example.com/a.png").reason or "")  # refused before, by the catalog


def test_transparent_and_rotated_images_are_decoded_upright_on_black() -> None:
    image = Image.new("RGBA", (40, 20), (255, 0, 0, 0))
    image.paste((0, 255, 0, 255), (0, 0, 10, 20))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    buffer = io.BytesIO()
    image.save(buffer, "PNG", exif=exif)

    still = load_still("data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode())

    assert still.image is not None and still.image.mode == "RGB"
    assert still.image.size == (20, 40)  # upright
    pixels = np.asarray(still.image)
    assert pixels[..., 0].max() == 0  # the transparent red is gone: black
    assert pixels[..., 1].max() == 255


def test_long_prompts_wrap_to_the_width_and_end_in_an_ellipsis() -> None:
    font = ImageFont.load_default(20)
    text = "a " * 10 + "supercalifragilisticexpialidocious" * 3 + " end" * 200

    lines = wrap_text(text, font, 200, 4)

    assert len(lines) == 4 and lines[-1].endswith("…")
    assert all(font.getlength(line) <= 200 for line in lines)
    assert wrap_text("short prompt", font, 200, 4) == ["short prompt"]
    assert wrap_text("", font, 200, 4) == []


def test_unspaced_text_is_wrapped_too() -> None:
    font = ImageFont.load_default(20)
    lines = wrap_text("x" * 300, font, 150, 3)
    assert len(lines) == 3 and all(font.getlength(line) <= 150 for line in lines)
