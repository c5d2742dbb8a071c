"""Benchmark: CPU time of one sandbox render, per resolution and kind of clip.

Renders 5 s clips at the real models' 16:9 sizes (480p 864×496, 720p 1280×720, 1080p 1920×1080)
with audio, as the sandbox does for a Seedance 2.0 request: text-to-video (the landscape), and
first + last frame (push-in and cross-fade between two stills, the slowest path). Reports the CPU
time of the render (process time: the encoder runs on one thread, so this is also about the wall
time on an idle machine), the wall time and the file size. The target is a 5 s 720p clip under
about 3 s of CPU.

    python bench/sandbox_render.py [--seconds 5] [--repeat 3] [--resolutions 480p 720p 1080p]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image, ImageDraw  # noqa: E402

from core import catalog  # noqa: E402
from core.sandbox.render import render_video  # noqa: E402

PROMPT = "A red fox running through fresh snow at sunset, cinematic slow motion, golden light"


def still(width: int, height: int, colour: tuple[int, int, int]) -> Image.Image:
    """A test photo stand-in with some detail, so the encoder has real work."""
    image = Image.new("RGB", (width, height), colour)
    draw = ImageDraw.Draw(image)
    for i in range(0, width, max(8, width // 40)):
        draw.line([(i, 0), (width - i, height)], fill=(255 - colour[0], 200, colour[2] // 2), width=3)
    draw.ellipse((width * 0.3, height * 0.2, width * 0.7, height * 0.8), fill=(240, 200, 60))
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3, help="renders per case; the median is reported")
    parser.add_argument("--resolutions", nargs="+", default=["480p", "720p", "1080p"])
    args = parser.parse_args()

    spec = catalog.get_model("sandbox", "seedance-2-0")
    print(f"{'case':<28} {'size':>10} {'frames':>6} {'cpu s':>7} {'wall s':>7} {'MB':>6}")
    with tempfile.TemporaryDirectory() as folder:
        for resolution in args.resolutions:
            width, height = catalog.pixel_size(spec, resolution, "16:9")
            cases = {
                "text-to-video": {},
                "first + last frame": {
                    "first_frame": still(width, height, (30, 60, 120)),
                    "last_frame": still(width, height, (160, 40, 60)),
                },
            }
            for name, images in cases.items():
                cpu, wall = [], []
                path = Path(folder) / f"{resolution}.mp4"
                for _ in range(args.repeat):
                    started_cpu, started_wall = time.process_time(), time.perf_counter()
                    info = render_video(
                        path, width=width, height=height, duration=args.seconds, audio=True, prompt=PROMPT,
                        seed=1, label=f"SANDBOX · seedance-2-0 · {resolution} 16:9 · {args.seconds} s", **images,
                    )
                    cpu.append(time.process_time() - started_cpu)
                    wall.append(time.perf_counter() - started_wall)
                size = path.stat().st_size / 1e6
                print(
                    f"{resolution + ' ' + name:<28} {f'{info.width}x{info.height}':>10} {info.frames:>6} "
                    f"{statistics.median(cpu):>7.2f} {statistics.median(wall):>7.2f} {size:>6.2f}"
                )


if __name__ == "__main__":
    main()
