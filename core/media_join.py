"""Join a story's shots into one MP4 with PyAV: a stream copy when they match, else a re-encode.

Blocking (it decodes and encodes): call `join_videos` with ``asyncio.to_thread`` from async code.

Each shot keeps its own duration: shot k+1 starts exactly where shot k's video ends, on both the
video and the audio timeline. A stream copy needs every shot to carry the same streams with the
same codec, picture size and codec setup (H.264's SPS/PPS, AAC's config); the shots of one story
made by one model usually do. Otherwise every frame is decoded, scaled to the first shot's size and
encoded again (H.264 + AAC), and a shot without sound gets silence, so the sound stays in sync.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt

AUDIO_RATE = 48_000
AUDIO_FRAME = 1024  # samples per AAC frame
_X264_OPTIONS = {"preset": "veryfast", "crf": "20"}  # near-transparent: the shots were compressed once already


class JoinError(Exception):
    """The shots cannot be joined (a file that does not open or has no video); one line saying why."""


@dataclass(frozen=True)
class JoinResult:
    """The joined video: seconds of video, video frames, and whether the streams were copied."""

    duration: float
    frames: int
    copied: bool


@dataclass(frozen=True)
class _Shot:
    path: Path
    duration: Fraction  # seconds of video
    video_key: tuple[Any, ...]
    audio_key: tuple[Any, ...] | None
    width: int
    height: int
    fps: Fraction


def join_videos(paths: Sequence[Path], dest: Path) -> JoinResult:
    """Join ``paths`` in order into ``dest`` (written whole, then renamed into place).

    Raises:
        JoinError: fewer than one video, or one that does not open or holds no video.
        OSError: ``dest`` cannot be written.
    """
    if not paths:
        raise JoinError("no videos to join")
    shots = [_probe(Path(p)) for p in paths]
    copy = len({s.video_key for s in shots}) == 1 and len({s.audio_key for s in shots}) == 1
    dest.parent.mkdir(parents=True, exist_ok=True)
    with _atomic(dest) as tmp:
        frames = _copy(shots, tmp) if copy else _reencode(shots, tmp)
    return JoinResult(duration=float(sum(s.duration for s in shots)), frames=frames, copied=copy)


@contextmanager
def _atomic(dest: Path) -> Iterator[Path]:
    # A unique partial name: two processes joining the same story never write one file.
    tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.part")
    try:
        yield tmp
        os.chmod(tmp, 0o600)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _probe(path: Path) -> _Shot:
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise JoinError(f"{path.name} does not open as a video") from exc
    with container:
        if not container.streams.video:
            raise JoinError(f"{path.name} holds no video stream")
        video: Any = container.streams.video[0]
        audio: Any = container.streams.audio[0] if container.streams.audio else None
        vc = video.codec_context
        if video.duration is not None and video.time_base is not None:
            duration = Fraction(video.duration) * video.time_base
        elif container.duration is not None:
            duration = Fraction(container.duration, av.time_base)
        else:
            raise JoinError(f"{path.name} does not say how long it is")
        rate = video.average_rate or video.guessed_rate or Fraction(24)
        video_key = (vc.name, vc.width, vc.height, vc.format.name if vc.format else None, bytes(vc.extradata or b""))
        audio_key = None
        if audio is not None:
            ac = audio.codec_context
            audio_key = (ac.name, ac.sample_rate, ac.channels, bytes(ac.extradata or b""))
        return _Shot(path, duration, video_key, audio_key, int(vc.width), int(vc.height), Fraction(rate))


# -- stream copy -----------------------------------------------------------------------------------


def _copy(shots: Sequence[_Shot], tmp: Path) -> int:
    frames = 0
    with av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        outs: dict[str, Any] = {}
        offset = Fraction(0)  # seconds: where the current shot starts
        last_dts: dict[str, int] = {}
        for index, shot in enumerate(shots):
            with av.open(str(shot.path)) as src:
                streams: list[Any] = [src.streams.video[0], *src.streams.audio[:1]]
                for stream in streams:
                    if stream.type not in outs:
                        outs[stream.type] = out.add_stream_from_template(stream)
                for packet in src.demux(streams):
                    if packet.dts is None or not packet.size:
                        continue  # the demuxer's empty end-of-stream packets
                    kind = packet.stream.type
                    if index > 0 and kind == "audio" and packet.pts is not None and packet.pts < 0:
                        continue  # the encoder's priming samples would overlap the previous shot's end
                    shift = int(round(offset / packet.time_base))
                    packet.pts = packet.pts + shift if packet.pts is not None else None
                    packet.dts += shift
                    if kind in last_dts and packet.dts <= last_dts[kind]:
                        continue  # a stray overlap at a joint: the timeline must only move forward
                    last_dts[kind] = packet.dts
                    frames += kind == "video"
                    packet.stream = outs[kind]
                    out.mux(packet)
            offset += shot.duration
    return frames


# -- re-encode -------------------------------------------------------------------------------------


def _reencode(shots: Sequence[_Shot], tmp: Path) -> int:
    first = shots[0]
    fps = first.fps.limit_denominator(1001) if first.fps > 0 else Fraction(24)
    width, height = first.width - first.width % 2, first.height - first.height % 2
    with_audio = any(s.audio_key is not None for s in shots)
    frames = 0
    with av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        video: Any = out.add_stream("libx264", rate=fps, options=dict(_X264_OPTIONS))
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.codec_context.time_base = 1 / fps
        sound: Any = out.add_stream("aac", rate=AUDIO_RATE, layout="stereo") if with_audio else None
        pending = np.zeros((2, 0), dtype=np.float32)  # audio samples not yet handed to the encoder
        sent = 0
        offset = 0  # frames: where the current shot starts
        for shot in shots:
            span = max(1, round(shot.duration * fps))  # this shot's frames at the output rate
            frames += _encode_shot_video(out, video, shot, offset, span, width, height, fps)
            offset += span
            if sound is not None:
                samples = _shot_audio(shot, round(span / fps * AUDIO_RATE))
                pending = np.concatenate([pending, samples], axis=1)
                pending, sent = _feed(out, sound, pending, sent, final=False)
        out.mux(video.encode(None))
        if sound is not None:
            _feed(out, sound, pending, sent, final=True)
            out.mux(sound.encode(None))
    return frames


def _encode_shot_video(
    out: Any, video: Any, shot: _Shot, offset: int, span: int, width: int, height: int, fps: Fraction
) -> int:
    written, last = 0, -1
    with av.open(str(shot.path)) as src:
        stream: Any = src.streams.video[0]
        start: float | None = None
        for frame in src.decode(stream):
            if frame.time is None:
                continue
            start = frame.time if start is None else start
            slot = round((frame.time - start) * fps)  # its place within the shot, at the output rate
            if slot <= last or slot >= span:
                continue
            last = slot
            picture = frame.reformat(width=width, height=height, format="yuv420p")
            picture.pts, picture.time_base = offset + slot, 1 / fps
            out.mux(video.encode(picture))
            written += 1
    return written


def _shot_audio(shot: _Shot, samples: int) -> npt.NDArray[np.float32]:
    """The shot's sound as stereo float samples, cut or padded with silence to exactly ``samples``."""
    parts: list[npt.NDArray[np.float32]] = []
    if shot.audio_key is not None:
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=AUDIO_RATE)
        with av.open(str(shot.path)) as src:
            for frame in src.decode(src.streams.audio[0]):
                for converted in resampler.resample(frame):
                    parts.append(converted.to_ndarray().astype(np.float32))
            for converted in resampler.resample(None):
                parts.append(converted.to_ndarray().astype(np.float32))
    audio = np.concatenate(parts, axis=1) if parts else np.zeros((2, 0), dtype=np.float32)
    if audio.shape[1] >= samples:
        return audio[:, :samples]
    return np.concatenate([audio, np.zeros((2, samples - audio.shape[1]), dtype=np.float32)], axis=1)


def _feed(
    out: Any, sound: Any, pending: npt.NDArray[np.float32], sent: int, *, final: bool
) -> tuple[npt.NDArray[np.float32], int]:
    """Encode whole AAC frames of ``pending`` (and the rest too when ``final``)."""
    while pending.shape[1] >= AUDIO_FRAME or (final and pending.shape[1] > 0):
        chunk = pending[:, :AUDIO_FRAME]
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp", layout="stereo")
        frame.sample_rate, frame.pts, frame.time_base = AUDIO_RATE, sent, Fraction(1, AUDIO_RATE)
        out.mux(sound.encode(frame))
        sent += chunk.shape[1]
        pending = pending[:, AUDIO_FRAME:]
    return pending, sent
