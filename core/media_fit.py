"""Make a video fit an upload limit with PyAV: re-encode its picture to a bit rate that fits.

Blocking (it decodes and encodes): call `fit_to_size` with ``asyncio.to_thread`` from async code.

Only a video *a little* over the limit is worth it: the picture gets the bytes the sound does not
use (the sound is copied as it is), spread over the video's length, at most `MAX_SHRINK` times
fewer than it had. A picture that would get very few bits per pixel is scaled down first, since a
smaller sharp picture looks better than a large blocky one. Each attempt that still comes out too
big is tried again at a lower rate; after `ATTEMPTS` the answer is None (send a link instead).
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

MAX_SHRINK = 4.0  # a video over 4x the limit is not "a little over": a link serves it better
ATTEMPTS = 3
SAFETY = 0.95  # of the limit: the container's own bytes and the encoder's rate control drift
MIN_VIDEO_BPS = 48_000  # below this any clip is mush; send a link instead
MIN_BITS_PER_PIXEL = 0.06  # per pixel per frame; below it the picture is scaled down
_X264 = {"preset": "veryfast"}


@dataclass(frozen=True)
class FitResult:
    """The re-encoded video: its path and size, what it came from, and how long the encode took."""

    path: Path
    size: int
    source_size: int
    width: int
    height: int
    seconds: float


@dataclass(frozen=True)
class _Probe:
    duration: float
    width: int
    height: int
    fps: Fraction
    audio_bytes: int


def fit_to_size(src: Path, dest: Path, max_bytes: int) -> FitResult | None:
    """Re-encode ``src`` into ``dest`` so that it is at most ``max_bytes``; None when it cannot be
    done well (far over the limit, no picture, or every attempt too big). ``dest`` is written whole,
    then renamed into place; nothing is left behind on None."""
    started = time.perf_counter()
    source_size = src.stat().st_size
    if max_bytes <= 0 or source_size > max_bytes * MAX_SHRINK:
        return None
    try:
        probe = _probe(src)
    except (av.error.FFmpegError, IndexError, ZeroDivisionError):
        return None
    if probe is None:
        return None
    budget = max_bytes * SAFETY * 8 - probe.audio_bytes * 8  # bits left for the picture
    had = (source_size - probe.audio_bytes) * 8 / probe.duration
    rate = min(budget / probe.duration, had * 0.9)  # never more than the picture had
    for _ in range(ATTEMPTS):
        if rate < MIN_VIDEO_BPS:
            return None
        width, height = _picture_size(probe, rate)
        tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.part")
        try:
            _encode(src, tmp, probe, int(rate), width, height)
            size = tmp.stat().st_size
            if size <= max_bytes:
                os.replace(tmp, dest)
                return FitResult(path=dest, size=size, source_size=source_size, width=width, height=height,
                                 seconds=time.perf_counter() - started)
        finally:
            tmp.unlink(missing_ok=True)
        rate *= 0.8 * max_bytes / size  # aim lower by what this attempt overshot, and a margin
    return None


def _probe(src: Path) -> _Probe | None:
    with av.open(str(src)) as container:
        if not container.streams.video:
            return None
        video: Any = container.streams.video[0]
        audio_bytes = 0
        if container.streams.audio:
            audio_bytes = sum(p.size for p in container.demux(container.streams.audio[0]) if p.size)
        if container.duration:
            duration = container.duration / av.time_base
        else:
            duration = float(video.duration * video.time_base)
        fps = Fraction(video.average_rate or 24)
        return _Probe(duration=max(duration, 0.1), width=video.codec_context.width,
                      height=video.codec_context.height, fps=fps, audio_bytes=audio_bytes)


def _picture_size(probe: _Probe, rate: float) -> tuple[int, int]:
    """The source size, or smaller (halving steps, even sides) until each pixel gets enough bits."""
    width, height = probe.width, probe.height
    while height > 360 and rate / (width * height * float(probe.fps)) < MIN_BITS_PER_PIXEL:
        width, height = width * 3 // 4, height * 3 // 4
    return width - width % 2, height - height % 2


def _encode(src: Path, tmp: Path, probe: _Probe, rate: int, width: int, height: int) -> None:
    fps = probe.fps.limit_denominator(1001) if probe.fps > 0 else Fraction(24)
    # maxrate/bufsize keep a one-pass encode close to the average over a short clip.
    options = {**_X264, "maxrate": str(rate), "bufsize": str(rate)}
    with av.open(str(src)) as source, av.open(str(tmp), "w", format="mp4",
                                               options={"movflags": "+faststart"}) as out:
        in_video: Any = source.streams.video[0]
        in_audio: Any = source.streams.audio[0] if source.streams.audio else None
        video: Any = out.add_stream("libx264", rate=fps, options=options)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.bit_rate = rate
        video.codec_context.time_base = 1 / fps
        sound: Any = out.add_stream_from_template(in_audio) if in_audio is not None else None
        streams = [in_video, in_audio] if in_audio is not None else [in_video]
        count = 0
        for packet in source.demux(streams):
            if packet.stream is in_audio:
                if packet.dts is not None and packet.size:
                    packet.stream = sound
                    out.mux(packet)
                continue
            for frame in packet.decode():
                assert isinstance(frame, av.VideoFrame)
                picture = frame.reformat(width=width, height=height, format="yuv420p")
                picture.pts, picture.time_base = count, 1 / fps
                count += 1
                out.mux(video.encode(picture))
        out.mux(video.encode(None))
