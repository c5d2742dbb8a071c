"""Benchmark: a story of 4 sandbox shots end to end (issue 10 §2's closing numbers).

Opens a service on a fresh temporary home (offline sandbox, at ``--speed``), creates a story of
4 shots of ``--seconds`` each, waits until it is joined, and reports the wall time from
`create_story` to the joined file, when each shot started and finished, the joined file's duration,
frame count and size, whether the join was a stream copy, and how well each joint matches (mean
absolute pixel difference between the last frame of shot k and the first frame of shot k+1).
Then it times the join alone again, and a forced re-encode of the same shots.

    python bench/story.py [--seconds 5] [--resolution 720p] [--speed 1] [--shots 4]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import av  # noqa: E402
import numpy as np  # noqa: E402

from core import media_join  # noqa: E402
from core.config import Limits, Settings  # noqa: E402
from core.models import VideoRequest  # noqa: E402
from core.sandbox.render import probe_video  # noqa: E402
from core.service import open_service  # noqa: E402

PROMPTS = [
    "a lighthouse on a cliff at dawn, waves below",
    "the camera rises over the sea as gulls pass",
    "clouds gather and the light turns gold",
    "night falls and the lighthouse beam sweeps the fog",
    "a ship's lights appear on the horizon",
    "morning again, calm water",
]


def edge_frames(path: Path) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[type-arg]
    with av.open(str(path)) as container:
        decoded = [f.to_ndarray(format="rgb24").astype(np.int16) for f in container.decode(video=0)]
    return decoded[0], decoded[-1]


async def run(args: argparse.Namespace, home: Path) -> None:
    limits = Limits(max_running_per_user=None, max_tasks_per_day=None)
    settings = Settings(home=home, sandbox_speed=args.speed, limits=limits)
    request = VideoRequest(resolution=args.resolution, duration=args.seconds, generate_audio=True)
    async with open_service(settings, resume=True) as svc:
        started = time.perf_counter()
        story = await svc.create_story("bench", PROMPTS[: args.shots], request)
        done = await svc.wait_story("bench", story.id)
        wall = time.perf_counter() - started
    if done.video_path is None:
        raise SystemExit(f"story ended {done.status.value}: {done.error}")
    info = probe_video(Path(done.video_path))
    print(f"story {done.id}: {len(done.shots)} shots of {args.seconds} s at {args.resolution}, sandbox speed "
          f"{args.speed:g}")
    t0 = done.created_at.timestamp()
    for number, shot in enumerate(done.shots, start=1):
        sent = (shot.submitted_at.timestamp() - t0) if shot.submitted_at else float("nan")
        end = (shot.finished_at.timestamp() - t0) if shot.finished_at else float("nan")
        print(f"  shot {number}: sent at {sent:6.2f} s, video saved at {end:6.2f} s")
    joined_at = (done.finished_at.timestamp() - t0) if done.finished_at else float("nan")
    print(f"  joined at {joined_at:6.2f} s")
    print(f"wall time, create_story -> joined file: {wall:.2f} s")
    print(f"joined file: {info.duration:.3f} s (expected {len(done.shots) * args.seconds} s), {info.frames} frames "
          f"(expected {len(done.shots) * args.seconds * 24}), {info.width}x{info.height}, audio {info.has_audio}, "
          f"{Path(done.video_path).stat().st_size / 1e6:.2f} MB")
    paths = [Path(t.video_path or "") for t in done.shots]
    edges = [edge_frames(p) for p in paths]
    joints = [float(np.abs(edges[k][1] - edges[k + 1][0]).mean()) for k in range(len(edges) - 1)]
    print("joints (mean |last of k - first of k+1|, 0-255): " + ", ".join(f"{j:.2f}" for j in joints))

    started = time.perf_counter()
    copy = media_join.join_videos(paths, home / "again.mp4")
    copy_s = time.perf_counter() - started
    started = time.perf_counter()
    frames = media_join._reencode([media_join._probe(p) for p in paths], home / "reencoded.mp4")
    reencode_s = time.perf_counter() - started
    print(f"join alone: {'stream copy' if copy.copied else 're-encode'} {copy_s:.3f} s "
          f"({copy.duration:.3f} s, {copy.frames} frames); forced re-encode {reencode_s:.2f} s ({frames} frames, "
          f"{(home / 'reencoded.mp4').stat().st_size / 1e6:.2f} MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--resolution", default="720p", choices=["480p", "720p", "1080p"])
    parser.add_argument("--speed", type=float, default=1.0, help="sandbox speed (1 = its realistic timings)")
    parser.add_argument("--shots", type=int, default=4, choices=range(2, 7))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(run(args, Path(folder) / "home"))


if __name__ == "__main__":
    main()
