"""A real, tiny MP4 for fakes that hand out videos: the engine checks every result opens as video."""

from __future__ import annotations

import functools
import io

import av
import numpy as np


@functools.cache
def tiny_mp4() -> bytes:
    """Two 32×32 frames of H.264 in an MP4 container (a few hundred bytes)."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        for shade in (40, 200):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), shade, dtype=np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()
