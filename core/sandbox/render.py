"""Offline video rendering for the sandbox provider.

The sandbox provider needs real, playable files so every path (download, storage, Discord upload, MCP
resource, "continue from the last frame") can be exercised without an API key. This module renders
a short animated H.264/AAC MP4 that is deterministic for a (prompt, seed) pair, extracts a video's
last frame as a PNG, and probes a container's basic facts.

Frames are built directly in YUV 4:2:0 with numpy slicing (no per-pixel Python, no RGB→YUV
conversion pass), so the encoder dominates the cost: well under 0.1 s per second of 640×360 video on
one core.
PyAV's wheel carries its own FFmpeg with libx264; no system ffmpeg is needed.
"""

from __future__ import annotations

import colorsys
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
    "x264-params": "mbtree=1:rc-lookahead=10",
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


@dataclass(frozen=True)
class _Palette:
    """Everything about the look and sound of a clip that derives from (prompt, seed)."""

    colour_a: tuple[int, int, int]  # YUV
    colour_b: tuple[int, int, int]
    shape: tuple[int, int, int]
    track: tuple[int, int, int]
    bar: tuple[int, int, int]
    slope: float  # tilt of the gradient bands
    path: tuple[float, float, float, float]  # Lissajous frequencies and phases of the moving disc
    notes: tuple[float, ...]  # tone frequencies in Hz


def _palette(prompt: str, seed: int) -> _Palette:
    digest = hashlib.sha256(f"{seed}\x00{prompt}".encode()).digest()

    def unit(i: int) -> float:
        return digest[i] / 255.0

    def yuv(hue: float, sat: float, val: float) -> tuple[int, int, int]:
        return _rgb_to_yuv(colorsys.hsv_to_rgb(hue % 1.0, sat, val))

    hue = unit(0)
    scale = (0, 2, 4, 7, 9)  # major pentatonic: any sequence of these sounds pleasant
    root = 220.0 * 2 ** (digest[10] % 12 / 12)
    notes = tuple(root * 2 ** ((scale[b % 5] + 12 * (b // 5 % 2)) / 12) for b in digest[11:19])
    return _Palette(
        colour_a=yuv(hue, 0.55 + 0.35 * unit(1), 0.45 + 0.25 * unit(2)),
        colour_b=yuv(hue + 0.25 + 0.5 * unit(3), 0.55 + 0.35 * unit(4), 0.70 + 0.25 * unit(5)),
        shape=yuv(hue + 0.5, 0.25, 1.0),
        track=_rgb_to_yuv((0.08, 0.08, 0.08)),
        bar=yuv(hue + 0.5, 0.7, 0.95),
        slope=-0.8 + 1.6 * unit(6),
        path=(1.0 + digest[7] % 3, 1.0 + digest[8] % 2, 2 * math.pi * unit(8), 2 * math.pi * unit(9)),
        notes=notes,
    )


def _rgb_to_yuv(rgb: tuple[float, float, float]) -> tuple[int, int, int]:
    """BT.601 limited range, what players assume for untagged SD/HD-ish H.264."""
    r, g, b = rgb
    y = 16 + 65.481 * r + 128.553 * g + 24.966 * b
    u = 128 - 37.797 * r - 74.203 * g + 112.0 * b
    v = 128 + 112.0 * r - 93.786 * g - 18.214 * b
    return round(y), round(u), round(v)


class _FrameSource:
    """Produces the yuv420p frames of one clip.

    The moving gradient is a precomputed strip one period wider than the frame; each frame is a
    window into it, so a frame costs three plane copies plus a couple of small slice writes.
    """

    def __init__(self, width: int, height: int, frames: int, fps: int, palette: _Palette) -> None:
        self.width, self.height, self.frames, self.fps, self.palette = width, height, frames, fps, palette
        self.period = max(4, (width // 2) * 2)  # even, so the chroma window moves in step
        self.buffer: U8 = np.empty(width * height * 3 // 2, dtype=np.uint8)
        luma = self.buffer[: width * height].reshape(height, width)
        chroma_size = (width // 2) * (height // 2)
        u_plane = self.buffer[width * height : width * height + chroma_size].reshape(height // 2, width // 2)
        v_plane = self.buffer[width * height + chroma_size :].reshape(height // 2, width // 2)
        self.planes = (luma, u_plane, v_plane)
        self.strips = tuple(self._strip(i, plane.shape) for i, plane in enumerate(self.planes))
        self.radius = max(1, min(width, height) // 8)
        self.discs = (self._disc(self.radius), self._disc(max(1, self.radius // 2)))
        self.bar_height = max(2, (height // 24) // 2 * 2)

    def _strip(self, channel: int, shape: tuple[int, ...]) -> U8:
        rows, cols = shape
        sub = 1 if channel == 0 else 2
        period = self.period // sub
        x = np.arange(cols + period, dtype=np.float32)[None, :]
        y = np.arange(rows, dtype=np.float32)[:, None]
        phase = ((x + self.palette.slope * y) % period) / period
        mix = 0.5 - 0.5 * np.cos(2 * np.pi * phase)  # smooth, seamless bands
        a, b = self.palette.colour_a[channel], self.palette.colour_b[channel]
        return np.ascontiguousarray(np.rint(a + (b - a) * mix).astype(np.uint8))

    @staticmethod
    def _disc(radius: int) -> npt.NDArray[np.bool_]:
        r = np.arange(-radius, radius + 1)
        return (r[:, None] ** 2 + r[None, :] ** 2) <= radius * radius

    def frame(self, index: int) -> U8:
        """The frame as a (height * 3 / 2, width) yuv420p array; valid until the next call."""
        t = index / max(1, self.frames - 1)  # 0 → 1 over the clip
        # The bands drift at a fixed speed (a period every 6 s) so motion looks the same in short and
        # long clips; the offset stays even so the half-size chroma window moves in step.
        shift = round(index * self.period / (6 * self.fps)) % self.period // 2 * 2
        for channel, (plane, strip) in enumerate(zip(self.planes, self.strips, strict=True)):
            offset = shift if channel == 0 else shift // 2
            np.copyto(plane, strip[:, offset : offset + plane.shape[1]])
        self._draw_disc(t)
        self._draw_bar((index + 1) / self.frames)
        return self.buffer.reshape(self.height * 3 // 2, self.width)

    def _draw_disc(self, t: float) -> None:
        fx, fy, px, py = self.palette.path
        angle = 2 * math.pi * t
        r = self.radius
        free_y = max(0, self.height - self.bar_height - 2 * r - 2)
        cx = r + round((self.width - 2 * r - 1) * (0.5 + 0.5 * math.sin(fx * angle + px)))
        cy = r + round(free_y * (0.5 + 0.5 * math.sin(fy * angle + py)))
        for channel, plane in enumerate(self.planes):
            sub = 1 if channel == 0 else 2
            mask = self.discs[channel > 0]
            half = mask.shape[0] // 2
            top, left = cy // sub - half, cx // sub - half
            # Clip the sprite to the plane: tiny frames can be smaller than the disc.
            t0, l0 = max(0, top), max(0, left)
            t1 = min(plane.shape[0], top + mask.shape[0])
            l1 = min(plane.shape[1], left + mask.shape[1])
            if t1 > t0 and l1 > l0:
                region = plane[t0:t1, l0:l1]
                region[mask[t0 - top : t1 - top, l0 - left : l1 - left]] = self.palette.shape[channel]

    def _draw_bar(self, progress: float) -> None:
        filled = round(self.width * progress) // 2 * 2
        for channel, plane in enumerate(self.planes):
            sub = 1 if channel == 0 else 2
            rows = plane[plane.shape[0] - self.bar_height // sub :]
            rows[:, : filled // sub] = self.palette.bar[channel]
            rows[:, filled // sub :] = self.palette.track[channel]


def _tones(palette: _Palette, samples: int) -> npt.NDArray[np.float32]:
    """A soft sequence of sine notes, 0.4 s each, faded in and out so note changes never click."""
    note_len = int(AUDIO_RATE * 0.4)
    n = np.arange(samples)
    within = (n % note_len).astype(np.float64)
    freqs = np.asarray(palette.notes)[(n // note_len) % len(palette.notes)]
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
    max_side: int = 640,
) -> VideoInfo:
    """Render a deterministic animated H.264 MP4 (plus an AAC mono track if `audio`) to `path`.

    The size is `fit_size(width, height, max_side)`; the clip has `round(duration * fps)` frames.
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
    out_w, out_h = fit_size(width, height, max_side)
    frames = max(1, round(duration * fps))
    palette = _palette(prompt, seed)
    source = _FrameSource(out_w, out_h, frames, fps, palette)

    with _atomic_target(path, ".mp4.part") as tmp:
        _encode(tmp, source, fps, palette if audio else None)
    return probe_video(path)


def _encode(tmp: pathlib.Path, source: _FrameSource, fps: int, palette: _Palette | None) -> None:
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
        if palette is not None:
            sound = container.add_stream("aac", rate=AUDIO_RATE, layout="mono")
            sound.codec_context.bit_rate = 32_000  # plenty for soft sine tones
            # Exactly as long as the video: frames / fps seconds.
            signal = _tones(palette, frames * AUDIO_RATE // fps)
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
