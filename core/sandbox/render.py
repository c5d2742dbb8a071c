"""Offline video rendering for the sandbox provider.

The sandbox provider needs real, playable files so every path (download, storage, Discord upload, MCP
resource, "continue from the last frame") can be exercised without an API key. This module renders
a short animated H.264/AAC MP4 that is deterministic for a (prompt, seed) pair and answers the
request (its size, its first and last frame, its prompt drawn as a caption), extracts a video's last
frame as a PNG, and probes a container's basic facts.

Frames are composed in YUV 4:2:0 planes from pictures built once per clip (see `scene`), so the
encoder stays the main cost: about 1.5 s of CPU for 5 s of 720p on one core.
PyAV's wheel carries its own FFmpeg with libx264; no system ffmpeg is needed.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import pathlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
import numpy as np
import numpy.typing as npt
from PIL import Image

from core.sandbox.scene import (
    Landscape,
    Planes,
    badge_overlay,
    blend,
    caption_overlay,
    choose_look,
    image_to_planes,
    zoom,
)

__all__ = ["VideoInfo", "fit_size", "probe_video", "render_last_frame", "render_video"]

U8 = npt.NDArray[np.uint8]

AUDIO_RATE = 48_000
# x264 settings: "superfast" with macroblock-tree rate control turned back on encodes a 15 s 640×360
# clip in about half the CPU time of "veryfast" at about 10 % more bytes; plain "superfast" (no mbtree)
# is as fast but twice the size. One thread keeps the output byte-identical for a given x264 build
# (x264 records its thread count in the stream) and keeps a render from hogging a shared host.
_X264_OPTIONS = {
    "preset": "superfast",
    "crf": "26",
    "threads": "1",
    # BT.601 is how the frames are converted (swscale's default); saying so in the stream keeps
    # players that guess BT.709 for HD sizes from shifting the colours.
    "x264-params": "mbtree=1:rc-lookahead=10:colorprim=smpte170m:transfer=smpte170m:colormatrix=smpte170m",
}
_KEYFRAME_SECONDS = 2  # a keyframe every 2 s so players can seek while streaming


@dataclass(frozen=True)
class VideoInfo:
    """Facts read back from a container (or, from `render_video`, from the file just written)."""

    width: int
    height: int
    fps: float
    duration: float  # seconds, of the video stream
    frames: int
    has_audio: bool
    video_codec: str
    audio_codec: str | None


def fit_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """Scale `width`×`height` down (never up) so the longer side is at most `max_side`.

    The aspect ratio is kept as closely as whole pixels allow and both sides are made even
    (H.264 in 4:2:0 needs that), with a floor of 2.

    Raises:
        ValueError: a side or `max_side` is below 1 or 2 respectively.
    """
    if width < 1 or height < 1:
        raise ValueError(f"video size must be positive, got {width}x{height}")
    if max_side < 2:
        raise ValueError(f"max_side must be at least 2, got {max_side}")
    limit = max_side - max_side % 2
    long_side, short_side = max(width, height), min(width, height)
    if long_side <= limit:
        new_long, new_short = long_side - long_side % 2, short_side - short_side % 2
    else:
        new_long = limit
        # Exact rational arithmetic so 1280×720 → 640×360 never becomes 358 through float error;
        # round to the nearest even number.
        new_short = 2 * round(Fraction(short_side * limit, 2 * long_side))
    new_long, new_short = max(2, new_long), max(2, new_short)
    return (new_long, new_short) if width >= height else (new_short, new_long)


def _digest(prompt: str, seed: int) -> bytes:
    return hashlib.sha256(f"{seed}\x00{prompt}".encode()).digest()


def _notes(digest: bytes) -> tuple[float, ...]:
    """Eight notes of a major pentatonic scale (any sequence of them sounds pleasant), in Hz."""
    scale = (0, 2, 4, 7, 9)
    root = 220.0 * 2 ** (digest[10] % 12 / 12)
    return tuple(root * 2 ** ((scale[b % 5] + 12 * (b // 5 % 2)) / 12) for b in digest[11:19])


def _smooth(x: float) -> float:
    """Smoothstep of `x` clamped to 0..1: eases in and out."""
    x = min(1.0, max(0.0, x))
    return x * x * (3 - 2 * x)


ZOOM = 0.12  # how much closer the camera gets over a clip that starts or ends on a still
CROSSFADE = (0.3, 0.7)  # the part of the clip (0..1) over which it turns into the last frame
OVERLAY_FADE_SECONDS = 0.4


class _FrameSource:
    """Produces the yuv420p frames of one clip.

    The picture is a landscape (text-to-video) or the first-frame still with a slow push-in; with a
    last frame it cross-fades into that still, which the last frame shows exactly. The badge and the
    prompt caption are laid over it, faded out at the end (and in at the start when the clip starts
    on a still) so that the first and last frames are clean: the next shot of a story starts from
    this one's last frame, and its joint must not show two captions.
    """

    def __init__(
        self,
        width: int,
        height: int,
        frames: int,
        fps: int,
        *,
        digest: bytes,
        prompt: str,
        label: str,
        show_prompt: bool,
        first: Image.Image | None,
        last: Image.Image | None,
        camera_fixed: bool,
    ) -> None:
        self.width, self.height, self.frames, self.fps = width, height, frames, fps
        self.look = choose_look(prompt, digest)
        self.digest, self.camera_fixed = digest, camera_fixed
        self.first = image_to_planes(first, width, height) if first is not None else None
        self.last = image_to_planes(last, width, height) if last is not None else None
        self._landscape: Landscape | None = None
        self.overlays = [
            o
            for o in (
                badge_overlay(label, width, height, self.look.sun if self.look.name != "night" else (255, 90, 90)),
                caption_overlay(prompt, width, height) if show_prompt else None,
            )
            if o is not None
        ]
        self.zoom = 0.0 if camera_fixed else ZOOM
        # Where the push-in heads: a little off centre, different per (prompt, seed).
        self.target = (0.5 + (digest[20] / 255 - 0.5) * 0.12, 0.5 + (digest[21] / 255 - 0.5) * 0.12)
        self.fade = max(1, min(round(OVERLAY_FADE_SECONDS * fps), frames // 4))
        self.buffer: U8 = np.empty((height * 3 // 2, width), dtype=np.uint8)

    @property
    def landscape(self) -> Landscape:
        if self._landscape is None:
            self._landscape = Landscape(
                self.width, self.height, self.look, self.digest, camera_fixed=self.camera_fixed
            )
        return self._landscape

    def picture(self, index: int) -> Planes:
        """The frame without overlays; may be a cached still (do not draw on it)."""
        t = index / max(1, self.frames - 1)  # 0 → 1 over the clip
        ease = _smooth(t)
        crossfade = _smooth((t - CROSSFADE[0]) / (CROSSFADE[1] - CROSSFADE[0])) if self.last is not None else 0.0
        if self.last is not None and index == self.frames - 1:
            return self.last  # exactly the asked last frame
        start: Planes | None = None
        if crossfade < 1.0:
            if self.first is not None:
                centre = (0.5 + (self.target[0] - 0.5) * ease, 0.5 + (self.target[1] - 0.5) * ease)
                start = zoom(self.first, 1.0 + self.zoom * ease, centre)
            else:
                start = self.landscape.frame(index / self.fps)
        if self.last is None:
            assert start is not None
            return start
        end = zoom(self.last, 1.0 + self.zoom * (1.0 - ease), (0.5, 0.5)) if crossfade > 0.0 else self.last
        return end if start is None else blend(start, end, crossfade)

    def opacity(self, index: int) -> float:
        """How visible the overlays are in this frame (0 in the last frame, and the first after a still)."""
        fade_out = (self.frames - 1 - index) / self.fade
        fade_in = index / self.fade if self.first is not None else 1.0
        return _smooth(min(fade_in, fade_out))

    def frame(self, index: int) -> U8:
        """The frame as a (height * 3 / 2, width) yuv420p array; valid until the next call."""
        planes = self.picture(index)
        opacity = self.opacity(index)
        if opacity > 0.0 and self.overlays:
            if planes is self.first or planes is self.last:
                planes = (planes[0].copy(), planes[1].copy(), planes[2].copy())
            for overlay in self.overlays:
                overlay.draw(planes, opacity)
        h, w = self.height, self.width
        quarter = (h // 2) * (w // 2)
        self.buffer[:h] = np.asarray(planes[0])
        chroma = self.buffer[h:].reshape(-1)
        chroma[:quarter] = np.asarray(planes[1]).reshape(-1)
        chroma[quarter:] = np.asarray(planes[2]).reshape(-1)
        return self.buffer


def _tones(notes: tuple[float, ...], samples: int) -> npt.NDArray[np.float32]:
    """A soft sequence of sine notes, 0.4 s each, faded in and out so note changes never click."""
    note_len = int(AUDIO_RATE * 0.4)
    n = np.arange(samples)
    within = (n % note_len).astype(np.float64)
    freqs = np.asarray(notes)[(n // note_len) % len(notes)]
    fade = int(AUDIO_RATE * 0.03)
    envelope = np.minimum(1.0, np.minimum(within, note_len - within) / fade)
    wave = np.sin(2 * np.pi * freqs * within / AUDIO_RATE) + 0.3 * np.sin(4 * np.pi * freqs * within / AUDIO_RATE)
    return (0.15 * envelope * wave).astype(np.float32)


@contextlib.contextmanager
def _atomic_target(path: pathlib.Path, suffix: str) -> Iterator[pathlib.Path]:
    """Yield a temp path beside `path`; move it into place only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}{suffix}")
    # Created here (O_EXCL) rather than by mkstemp so the final file gets the usual umask-based
    # permissions instead of 0600.
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def render_video(
    path: pathlib.Path,
    *,
    width: int,
    height: int,
    duration: float,
    fps: int = 24,
    audio: bool = False,
    prompt: str = "",
    seed: int = 0,
    max_side: int | None = None,
    first_frame: Image.Image | None = None,
    last_frame: Image.Image | None = None,
    label: str = "SANDBOX",
    show_prompt: bool = True,
    camera_fixed: bool = False,
) -> VideoInfo:
    """Render a deterministic animated H.264 MP4 (plus an AAC mono track if `audio`) to `path`.

    The size is `width`×`height` made even (or `fit_size(width, height, max_side)` when given); the
    clip has `round(duration * fps)` frames. Without images it shows a landscape coloured after the
    prompt; with `first_frame` it starts exactly on that image (scaled and centre-cropped to fill the
    frame) and pushes in slowly; with `last_frame` it cross-fades into that image and ends exactly on
    it. `label` (top left) and the prompt (bottom, unless `show_prompt` is false) fade out before the
    last frame, so the last frame is clean picture. `camera_fixed` stops the push-in and the parallax.
    The file is written beside `path` and renamed into place, so `path` is never half-written.
    Blocking and CPU-bound: call it from a worker thread in async code.

    Raises:
        ValueError: a non-positive size, duration or fps, or `max_side` < 2.
        OSError: the folder cannot be written.
    """
    if not math.isfinite(duration) or duration <= 0:
        raise ValueError(f"duration must be a positive number of seconds, got {duration}")
    if fps < 1:
        raise ValueError(f"fps must be at least 1, got {fps}")
    out_w, out_h = fit_size(width, height, max_side if max_side is not None else max(width, height, 2))
    frames = max(1, round(duration * fps))
    digest = _digest(prompt, seed)
    source = _FrameSource(
        out_w,
        out_h,
        frames,
        fps,
        digest=digest,
        prompt=prompt,
        label=label,
        show_prompt=show_prompt,
        first=first_frame,
        last=last_frame,
        camera_fixed=camera_fixed,
    )

    with _atomic_target(path, ".mp4.part") as tmp:
        _encode(tmp, source, fps, _notes(digest) if audio else None)
    return probe_video(path)


def _encode(tmp: pathlib.Path, source: _FrameSource, fps: int, notes: tuple[float, ...] | None) -> None:
    frames = source.frames
    # +faststart moves the index (moov) before the media so players can start while downloading.
    with av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as container:
        container.metadata["encoder"] = "seedance-studio sandbox"
        video: Any = container.add_stream("libx264", rate=fps, options=dict(_X264_OPTIONS))
        video.width, video.height, video.pix_fmt = source.width, source.height, "yuv420p"
        video.codec_context.gop_size = fps * _KEYFRAME_SECONDS
        video.codec_context.time_base = Fraction(1, fps)

        sound: Any = None
        signal: npt.NDArray[np.float32] | None = None
        if notes is not None:
            sound = container.add_stream("aac", rate=AUDIO_RATE, layout="mono")
            sound.codec_context.bit_rate = 32_000  # plenty for soft sine tones
            # Exactly as long as the video: frames / fps seconds.
            signal = _tones(notes, frames * AUDIO_RATE // fps)
        sent = 0  # audio samples handed to the encoder so far

        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(source.frame(index), format="yuv420p")
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            container.mux(video.encode(frame))
            if sound is not None and signal is not None:
                # Feed audio alongside video so the muxer interleaves in time order instead of
                # buffering one whole stream.
                until = (index + 1) * AUDIO_RATE // fps
                sent = _feed_audio(container, sound, signal, sent, until)
        container.mux(video.encode(None))
        if sound is not None:
            container.mux(sound.encode(None))


def _feed_audio(container: Any, stream: Any, signal: npt.NDArray[np.float32], start: int, until: int) -> int:
    chunk = 1024  # the AAC frame size; PyAV would re-chunk anyway, this keeps pts exact
    while until - start >= chunk or (until == len(signal) and start < until):
        end = min(start + chunk, until)
        frame = av.AudioFrame.from_ndarray(signal[None, start:end], format="fltp", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = start
        frame.time_base = Fraction(1, AUDIO_RATE)
        container.mux(stream.encode(frame))
        start = end
    return start


def probe_video(path: pathlib.Path) -> VideoInfo:
    """Read a container's video size, rate, duration, frame count and codecs.

    Counts come from the container index when it has one (MP4 does) and from demuxing otherwise;
    nothing is decoded.

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: the file is not a media container or has no video stream.
    """
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise ValueError(f"{path.name} has no video stream")
        video: Any = container.streams.video[0]
        audio: Any = container.streams.audio[0] if container.streams.audio else None
        rate = video.average_rate or video.guessed_rate or video.base_rate
        fps = float(rate) if rate else 0.0
        frames = int(video.frames)
        if video.duration is not None and video.time_base is not None:
            duration = float(video.duration * video.time_base)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        else:
            duration = 0.0
        if frames <= 0:
            frames = sum(1 for packet in container.demux(video) if packet.size)
        return VideoInfo(
            width=int(video.codec_context.width),
            height=int(video.codec_context.height),
            fps=fps,
            duration=duration,
            frames=frames,
            has_audio=audio is not None,
            video_codec=str(video.codec_context.name),
            audio_codec=str(audio.codec_context.name) if audio is not None else None,
        )


def render_last_frame(video_path: pathlib.Path, png_path: pathlib.Path) -> None:
    """Save the last decodable frame of `video_path` as an RGB PNG of the video's pixel size.

    Seeks to the last keyframe first, so long real-provider videos are not decoded in full.

    Raises:
        FileNotFoundError: `video_path` does not exist.
        ValueError: the file has no video stream or no decodable frame.
    """
    last = _last_frame(video_path, seek=True) or _last_frame(video_path, seek=False)
    if last is None:
        raise ValueError(f"{video_path.name} has no decodable video frame")
    rgb = last.reformat(format="rgb24")
    encoder: Any = av.CodecContext.create("png", "w")
    encoder.width, encoder.height, encoder.pix_fmt = rgb.width, rgb.height, "rgb24"
    data = b"".join(bytes(packet) for packet in [*encoder.encode(rgb), *encoder.encode(None)])
    with _atomic_target(png_path, ".png.part") as tmp:
        tmp.write_bytes(data)


def _last_frame(video_path: pathlib.Path, *, seek: bool) -> Any:
    with av.open(str(video_path)) as container:
        if not container.streams.video:
            raise ValueError(f"{video_path.name} has no video stream")
        stream: Any = container.streams.video[0]
        if seek:
            try:
                # Seeking backward from "far beyond the end" lands on the last keyframe.
                container.seek(2**62, backward=True, any_frame=False, stream=stream)
            except av.FFmpegError:
                return None
        last: Any = None
        for frame in container.decode(stream):
            last = frame
        return last
