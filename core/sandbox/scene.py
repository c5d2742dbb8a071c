"""What the sandbox draws: a prompt-coloured parallax landscape, text overlays and placeholder stills.

Everything is built once per clip at full size and then only moved, cropped, resized or pasted per
frame, in YUV 4:2:0 planes (three Pillow "L" images: Y at full size, U and V at half size), so no
per-frame colour conversion is needed and the encoder stays the main cost.

Colour conversion to YUV goes through FFmpeg's swscale (PyAV), the same code that turns the decoded
video back into RGB, so a still placed in the first frame decodes to (almost) the same pixels.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import av
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont, ImageOps

__all__ = [
    "Landscape",
    "Look",
    "Overlay",
    "Planes",
    "badge_overlay",
    "blend",
    "caption_overlay",
    "choose_look",
    "image_to_planes",
    "placeholder_image",
    "rgb_to_planes",
    "wrap_text",
    "zoom",
]

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]
RGB = tuple[int, int, int]
Planes = tuple[Image.Image, Image.Image, Image.Image]  # Y (w×h), U and V (w/2 × h/2), mode "L"
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

_BILINEAR = Image.Resampling.BILINEAR


# -- colour and planes -----------------------------------------------------------------------------


def rgb_to_planes(rgb: U8) -> Planes:
    """An (h, w, 3) uint8 RGB array with even sides as BT.601 limited-range YUV 4:2:0 planes."""
    height, width = rgb.shape[:2]
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24").reformat(format="yuv420p")
    yuv = np.asarray(frame.to_ndarray(), dtype=np.uint8)
    chroma = yuv[height:].reshape(2, height // 2, width // 2)
    return Image.fromarray(yuv[:height]), Image.fromarray(chroma[0]), Image.fromarray(chroma[1])


def image_to_planes(image: Image.Image, width: int, height: int) -> Planes:
    """`image` scaled and centre-cropped to fill `width`×`height` (as a model crops a frame), as planes."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    if rgb.size != (width, height):
        rgb = ImageOps.fit(rgb, (width, height), method=Image.Resampling.LANCZOS)
    return rgb_to_planes(np.asarray(rgb))


def zoom(planes: Planes, factor: float, centre: tuple[float, float]) -> Planes:
    """A view `factor` times closer, centred on `centre` (fractions of the frame), kept inside it.

    A factor of 1 returns `planes` itself (no resampling), so a clip can start and end on a still
    exactly.
    """
    if factor <= 1.0:
        return planes
    y, u, v = planes
    width, height = y.size
    w, h = width / factor, height / factor
    left = min(max(centre[0] * width - w / 2, 0.0), width - w)
    top = min(max(centre[1] * height - h / 2, 0.0), height - h)
    box = (left, top, left + w, top + h)
    half = (left / 2, top / 2, (left + w) / 2, (top + h) / 2)
    return (
        y.resize((width, height), _BILINEAR, box),
        u.resize(u.size, _BILINEAR, half),
        v.resize(v.size, _BILINEAR, half),
    )


def blend(a: Planes, b: Planes, weight: float) -> Planes:
    """`a` cross-faded towards `b` by `weight` (0 gives `a`, 1 gives `b`)."""
    if weight <= 0.0:
        return a
    if weight >= 1.0:
        return b
    return (Image.blend(a[0], b[0], weight), Image.blend(a[1], b[1], weight), Image.blend(a[2], b[2], weight))


def _even(value: float) -> int:
    return max(2, int(round(value)) // 2 * 2)


# -- fonts and text --------------------------------------------------------------------------------

_REGULAR = ("DejaVuSans.ttf", "NotoSans-Regular.ttf", "LiberationSans-Regular.ttf", "Arial.ttf", "arial.ttf")
_BOLD = ("DejaVuSans-Bold.ttf", "NotoSans-Bold.ttf", "LiberationSans-Bold.ttf", "Arial Bold.ttf", "arialbd.ttf")
_WIDE = (  # fonts that cover Chinese, Japanese and Korean, tried first for such prompts
    "NotoSansCJK-Regular.ttc",
    "NotoSansCJKsc-Regular.otf",
    "wqy-microhei.ttc",
    "wqy-zenhei.ttc",
    "msyh.ttc",
    "PingFang.ttc",
    "Arial Unicode.ttf",
)


@functools.lru_cache(maxsize=32)
def _font(size: int, *, bold: bool = False, wide: bool = False) -> Font:
    """A system sans-serif font at `size` px, or Pillow's own font where the system has none."""
    names = (_WIDE if wide else ()) + (_BOLD if bold else ()) + _REGULAR
    for name in names:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    try:
        return ImageFont.load_default(size)
    except TypeError:  # Pillow 10.0: only the small bitmap font
        return ImageFont.load_default()


def _needs_wide_font(text: str) -> bool:
    return any(ord(ch) >= 0x2E80 for ch in text)


def wrap_text(text: str, font: Font, max_width: float, max_lines: int) -> list[str]:
    """Greedy word wrap to `max_width` px; words longer than a line (or unspaced scripts) are split.

    More than `max_lines` lines are cut, the last one ending in an ellipsis.
    """
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if font.getlength(candidate) <= max_width:
            current = candidate
            continue
        if current:
            lines.append(current)
            current = ""
        while font.getlength(word) > max_width and len(word) > 1:
            cut = _longest_prefix(word, font, max_width)
            lines.append(word[:cut])
            word = word[cut:]
        current = word
        if len(lines) > max_lines:
            break
    if current:
        lines.append(current)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        while last and font.getlength(last + " …") > max_width:
            last = last[:-1]
        lines[-1] = last.rstrip() + " …"
    return lines


def _longest_prefix(word: str, font: Font, max_width: float) -> int:
    low, high = 1, len(word)
    while low < high:
        mid = (low + high + 1) // 2
        if font.getlength(word[:mid]) <= max_width:
            low = mid
        else:
            high = mid - 1
    return low


# -- overlays --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Overlay:
    """A fixed RGBA picture (a caption, a badge) as planes plus masks, pasted at an even position."""

    x: int
    y: int
    planes: Planes
    masks: tuple[Image.Image, Image.Image]  # alpha at full size (Y), and at half size (U, V)

    @classmethod
    def from_rgba(cls, image: Image.Image, x: int, y: int) -> Overlay:
        rgba = np.asarray(image.convert("RGBA"))
        alpha = Image.fromarray(np.ascontiguousarray(rgba[..., 3]))
        half = alpha.resize((image.width // 2, image.height // 2), Image.Resampling.BOX)
        return cls(x=x // 2 * 2, y=y // 2 * 2, planes=rgb_to_planes(rgba[..., :3]), masks=(alpha, half))

    def draw(self, target: Planes, opacity: float = 1.0) -> None:
        """Paste onto `target` (in place) at `opacity` (0..1)."""
        if opacity <= 0.0:
            return
        full, half = self.masks
        if opacity < 1.0:
            table = [round(v * opacity) for v in range(256)]
            full, half = full.point(table), half.point(table)
        target[0].paste(self.planes[0], (self.x, self.y), full)
        target[1].paste(self.planes[1], (self.x // 2, self.y // 2), half)
        target[2].paste(self.planes[2], (self.x // 2, self.y // 2), half)


def caption_overlay(text: str, width: int, height: int) -> Overlay | None:
    """The prompt as centred, wrapped subtitles on a translucent panel in the lower part of the frame."""
    text = " ".join(text.split())
    if not text:
        return None
    short = min(width, height)
    size = max(11, round(short * 0.05))
    font = _font(size, wide=_needs_wide_font(text))
    pad = max(4, round(size * 0.55))
    max_lines = 3 if width >= height else 5
    lines = wrap_text(text, font, width * 0.86 - 2 * pad, max_lines)
    ascent, descent = _metrics(font, size)
    line_height = round((ascent + descent) * 1.18)
    text_width = max(font.getlength(line) for line in lines)
    box_w = min(_even(width - 2), _even(text_width + 2 * pad + 1))
    box_h = _even(2 * pad + line_height * (len(lines) - 1) + ascent + descent)
    image = Image.new("RGBA", (box_w, box_h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((0, 0, box_w - 1, box_h - 1), radius=pad, fill=(0, 0, 0, 150))
    shadow = max(1, size // 16)
    for i, line in enumerate(lines):
        position = (box_w / 2, pad + i * line_height)
        draw.text((position[0] + shadow, position[1] + shadow), line, font=font, fill=(0, 0, 0, 230), anchor="ma")
        draw.text(position, line, font=font, fill=(255, 255, 255, 255), anchor="ma")
    margin = round(height * 0.07)
    return Overlay.from_rgba(image, (width - box_w) // 2, max(0, height - margin - box_h))


def badge_overlay(label: str, width: int, height: int, accent: RGB) -> Overlay | None:
    """A small pill in the top-left corner: a coloured dot and `label` (what was asked for)."""
    label = " ".join(label.split())
    if not label:
        return None
    short = min(width, height)
    size = max(9, round(short * 0.027))
    font = _font(size, bold=True, wide=_needs_wide_font(label))
    pad = max(3, round(size * 0.5))
    dot = round(size * 0.6)
    ascent, descent = _metrics(font, size)
    max_text = width * 0.9 - 3 * pad - dot
    while label and font.getlength(label) > max_text:
        label = label[:-2] + "…"
    box_w = _even(font.getlength(label) + 3 * pad + dot + 1)
    box_h = _even(ascent + descent + 2 * pad * 0.7)
    image = Image.new("RGBA", (box_w, box_h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((0, 0, box_w - 1, box_h - 1), radius=box_h // 2, fill=(0, 0, 0, 125))
    middle = box_h / 2
    draw.ellipse((pad, middle - dot / 2, pad + dot, middle + dot / 2), fill=(*accent, 255))
    draw.text((2 * pad + dot, middle), label, font=font, fill=(255, 255, 255, 235), anchor="lm")
    margin = round(short * 0.04)
    return Overlay.from_rgba(image, margin, margin)


def _metrics(font: Font, size: int) -> tuple[int, int]:
    if isinstance(font, ImageFont.FreeTypeFont):
        ascent, descent = font.getmetrics()
        return ascent, descent
    return size, size // 4


# -- placeholder stills ----------------------------------------------------------------------------


def placeholder_image(width: int, height: int, *, title: str, lines: Sequence[str]) -> Image.Image:
    """A clearly-marked stand-in for an image the sandbox cannot have (a web URL it must not fetch)."""
    digest = hashlib.sha256("\x00".join([title, *lines]).encode()).digest()
    base = (34 + digest[0] % 16, 40 + digest[1] % 16, 58 + digest[2] % 20)
    image = Image.new("RGB", (width, height), base)
    draw = ImageDraw.Draw(image)
    short = min(width, height)
    stripe = max(8, short // 14)
    light = tuple(min(255, c + 10) for c in base)
    for offset in range(-height, width, stripe * 2):  # diagonal stripes: unmistakably not a photo
        draw.polygon(
            [(offset, height), (offset + stripe, height), (offset + stripe + height, 0), (offset + height, 0)],
            fill=light,
        )
    inset = round(short * 0.06)
    dash = max(6, short // 40)
    line_width = max(2, short // 160)
    frame_colour = (200, 205, 220)
    for x in range(inset, width - inset, 2 * dash):  # dashed frame
        end = min(x + dash, width - inset)
        draw.line([(x, inset), (end, inset)], fill=frame_colour, width=line_width)
        draw.line([(x, height - inset), (end, height - inset)], fill=frame_colour, width=line_width)
    for y in range(inset, height - inset, 2 * dash):
        end = min(y + dash, height - inset)
        draw.line([(inset, y), (inset, end)], fill=frame_colour, width=line_width)
        draw.line([(width - inset, y), (width - inset, end)], fill=frame_colour, width=line_width)
    # A picture icon: a frame with a sun and two peaks.
    icon = short * 0.2
    cx, cy = width / 2, height * 0.36
    left, top, right, bottom = cx - icon * 0.7, cy - icon / 2, cx + icon * 0.7, cy + icon / 2
    draw.rounded_rectangle((left, top, right, bottom), radius=icon * 0.08, outline=(225, 228, 240), width=line_width)
    draw.ellipse((left + icon * 0.25, top + icon * 0.18, left + icon * 0.45, top + icon * 0.38), fill=(225, 228, 240))
    ground = bottom - icon * 0.1
    draw.polygon([(left + icon * 0.12, ground), (cx - icon * 0.1, top + icon * 0.45), (cx + icon * 0.15, ground)],
                 fill=(225, 228, 240))
    draw.polygon([(cx - icon * 0.05, ground), (cx + icon * 0.3, top + icon * 0.3), (right - icon * 0.1, ground)],
                 fill=(180, 186, 204))
    text = " ".join([title, *lines])
    wide = _needs_wide_font(text)
    title_font = _font(max(11, round(short * 0.06)), bold=True, wide=wide)
    body_font = _font(max(9, round(short * 0.036)), wide=wide)
    row = bottom + short * 0.06
    draw.text((cx, row), title, font=title_font, fill=(255, 255, 255), anchor="ma")
    row += _metrics(title_font, short)[0] * 1.5
    for paragraph in lines:
        for line in wrap_text(paragraph, body_font, width - 4 * inset, 2):
            draw.text((cx, row), line, font=body_font, fill=(214, 218, 232), anchor="ma")
            row += sum(_metrics(body_font, short)) * 1.25
    return image


# -- the landscape ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Look:
    """A hand-picked colour scheme for the landscape, chosen from the prompt's words."""

    name: str
    keywords: tuple[str, ...]
    sky: tuple[RGB, RGB]  # top, horizon
    sun: RGB
    hills: tuple[RGB, RGB, RGB]  # far → near
    particles: RGB
    drift: tuple[float, float]  # particle velocity in frame heights per second
    stars: bool = False


LOOKS: tuple[Look, ...] = (
    Look("dusk", ("sunset", "dusk", "evening", "golden", "sunrise", "dawn", "fire", "autumn", "warm"),
         ((38, 32, 92), (252, 150, 96)), (255, 226, 160),
         ((171, 92, 120), (110, 52, 98), (46, 22, 58)), (255, 196, 128), (0.01, -0.05)),
    Look("night", ("night", "moon", "star", "stars", "midnight", "dark", "neon", "space", "galaxy", "city"),
         ((6, 10, 32), (48, 58, 118)), (232, 236, 255),
         ((44, 54, 96), (26, 32, 64), (10, 14, 32)), (190, 255, 150), (0.03, -0.015), stars=True),
    Look("snow", ("snow", "winter", "ice", "frozen", "arctic", "cold", "mountain", "mountains", "christmas"),
         ((120, 170, 225), (228, 238, 250)), (255, 255, 240),
         ((206, 220, 238), (160, 182, 214), (104, 124, 166)), (255, 255, 255), (0.015, 0.08)),
    Look("desert", ("desert", "sand", "dune", "dunes", "canyon", "mars", "western", "cowboy", "camel"),
         ((70, 140, 215), (250, 214, 168)), (255, 246, 214),
         ((232, 176, 118), (204, 134, 84), (146, 84, 56)), (255, 232, 196), (0.07, 0.0)),
    Look("meadow", ("forest", "meadow", "field", "spring", "summer", "garden", "tree", "trees", "green", "park"),
         ((66, 138, 222), (196, 228, 250)), (255, 252, 226),
         ((128, 178, 150), (74, 136, 92), (32, 86, 52)), (255, 255, 220), (0.035, -0.012)),
    Look("ocean", ("ocean", "sea", "beach", "wave", "waves", "water", "lake", "river", "island", "underwater"),
         ((30, 90, 160), (150, 215, 230)), (255, 250, 230),
         ((70, 150, 170), (34, 110, 140), (12, 66, 100)), (220, 250, 255), (0.0, -0.04)),
)


def choose_look(prompt: str, digest: bytes) -> Look:
    """The look named by the first keyword in the prompt, else one picked by the prompt's hash."""
    for word in re.findall(r"\w+", prompt.lower()):
        for look in LOOKS:
            if word in look.keywords:
                return look
    return LOOKS[digest[0] % len(LOOKS)]


@dataclass(frozen=True)
class _Layer:
    top: int  # first row of the band in the frame
    speed: float  # px per second, towards the left
    planes: Planes  # a strip two frames wide, so any offset below one frame width fits
    masks: tuple[Image.Image, Image.Image]


class Landscape:
    """A sky with a setting sun (or moon), three hill ranges in parallax and drifting particles.

    Deterministic for (digest, look); `frame(seconds)` returns new planes each call.
    """

    PARTICLES = 42

    def __init__(self, width: int, height: int, look: Look, digest: bytes, *, camera_fixed: bool = False) -> None:
        self.width, self.height, self.look = width, height, look
        rng = np.random.default_rng(int.from_bytes(digest[:8], "big"))
        self.sky = self._sky(rng)
        short = min(width, height)
        self.sun_radius = max(2.0, short * 0.075)
        self.sun_masks = self._glow(self.sun_radius, glow=2.6)
        self.sun_start = (width * rng.uniform(0.22, 0.78), height * rng.uniform(0.14, 0.32))
        self.sun_velocity = (width * 0.006, height * 0.008)  # slowly setting
        camera = 0.0 if camera_fixed else 1.0
        self.layers = tuple(
            self._layer(rng, base, amplitude, colour, haze, width * speed * camera)
            for base, amplitude, colour, haze, speed in zip(
                (0.56, 0.67, 0.79), (0.10, 0.08, 0.07), look.hills, (0.42, 0.18, 0.0), (0.018, 0.045, 0.09),
                strict=True,
            )
        )
        sizes = (max(1.2, short * 0.004), max(1.6, short * 0.006), max(2.0, short * 0.009))
        self.dots = tuple(self._glow(r, glow=1.8, core=0.8) for r in sizes)
        n = self.PARTICLES
        self.particles = (
            rng.uniform(0, 1, n),  # x0
            rng.uniform(0, 1, n),  # y0
            rng.integers(0, len(sizes), n),  # size class
            rng.uniform(0.6, 1.4, n),  # speed factor
            rng.uniform(0, 2 * math.pi, n),  # wobble phase
        )

    # -- built once --

    def _sky(self, rng: np.random.Generator) -> Planes:
        w, h = self.width, self.height
        top, horizon = (np.asarray(c, dtype=np.float32) for c in self.look.sky)
        mix = np.clip(np.arange(h, dtype=np.float32) / (0.72 * h), 0, 1) ** 0.85
        column = top[None, :] + (horizon - top)[None, :] * mix[:, None]
        rgb = np.repeat(column[:, None, :], w, axis=1)
        if self.look.stars:
            count = max(8, w * h // 2500)
            xs, ys = rng.integers(0, w, count), rng.integers(0, int(h * 0.6), count)
            rgb[ys, xs] = np.maximum(rgb[ys, xs], rng.uniform(120, 255, count)[:, None])
        return rgb_to_planes(np.rint(rgb).astype(np.uint8))

    @staticmethod
    def _glow(radius: float, *, glow: float, core: float = 1.0) -> tuple[Image.Image, Image.Image]:
        """Masks of a soft disc: solid to `core`×radius, then a halo out to `glow`×radius."""
        reach = math.ceil(radius * glow) + 1
        r = np.hypot(*np.meshgrid(np.arange(-reach, reach + 1), np.arange(-reach, reach + 1)))
        solid = np.clip(radius * core - r + 0.5, 0, 1)
        halo = 0.55 * np.exp(-(((r - radius * core) / (radius * (glow - core) * 0.5)) ** 2))
        alpha = np.maximum(solid, np.where(r > radius * core, halo, 0)) * 255
        full = Image.fromarray(np.rint(alpha).astype(np.uint8))
        return full, full.resize((max(1, full.width // 2), max(1, full.height // 2)), Image.Resampling.BOX)

    def _layer(
        self, rng: np.random.Generator, base: float, amplitude: float, colour: RGB, haze: float, speed: float
    ) -> _Layer:
        w, h = self.width, self.height
        period = w  # the ridge repeats every frame width, so the strip can wrap seamlessly
        x = np.arange(2 * w, dtype=np.float32)
        ridge = np.full(2 * w, h * base, dtype=np.float32)
        for weight, low, high in ((0.6, 1, 3), (0.28, 4, 8), (0.12, 9, 16)):
            frequency = int(rng.integers(low, high + 1))
            phase = rng.uniform(0, 2 * math.pi)
            ridge -= h * amplitude * weight * np.sin(2 * math.pi * frequency * x / period + phase)
        top = max(0, int(ridge.min()) - 2) // 2 * 2
        rows = np.arange(top, h, dtype=np.float32)[:, None] + 0.5
        depth = rows - ridge[None, :]
        mask = np.clip(depth + 0.5, 0, 1)
        shade = 1.0 + 0.22 * np.exp(-np.maximum(depth, 0) / (0.04 * h)) - 0.28 * (rows - top) / max(1, h - top)
        horizon = np.asarray(self.look.sky[1], dtype=np.float32)
        tint = np.asarray(colour, dtype=np.float32) * (1 - haze) + horizon * haze
        rgb = np.clip(tint[None, None, :] * shade[..., None], 0, 255)
        full = Image.fromarray(np.rint(mask * 255).astype(np.uint8))
        half = full.resize((w, (h - top) // 2), Image.Resampling.BOX)
        return _Layer(top=top, speed=speed, planes=rgb_to_planes(np.rint(rgb).astype(np.uint8)), masks=(full, half))

    # -- per frame --

    def frame(self, seconds: float) -> Planes:
        w, h = self.width, self.height
        planes: Planes = (self.sky[0].copy(), self.sky[1].copy(), self.sky[2].copy())
        sun_x = self.sun_start[0] + self.sun_velocity[0] * seconds
        sun_y = self.sun_start[1] + self.sun_velocity[1] * seconds
        self._stamp(planes, self.sun_masks, sun_x, sun_y, self.look.sun)
        for layer in self.layers:
            # Whole luma pixels for smooth motion; chroma follows to the nearest of its half-size pixels.
            offset = int(layer.speed * seconds) % w
            band_h = h - layer.top
            for i, (plane, source) in enumerate(zip(planes, layer.planes, strict=True)):
                sub = 1 if i == 0 else 2
                box = (offset // sub, 0, offset // sub + w // sub, band_h // sub)
                plane.paste(source.crop(box), (0, layer.top // sub), layer.masks[i > 0].crop(box))
        x0, y0, size, factor, phase = self.particles
        vx, vy = self.look.drift
        span_w, span_h = w * 1.1, h * 1.1
        for i in range(self.PARTICLES):
            wobble = math.sin(seconds * 1.3 * factor[i] + phase[i])
            x = (x0[i] * span_w + h * (vx * factor[i] * seconds + 0.02 * wobble)) % span_w - w * 0.05
            y = (y0[i] * span_h + h * (vy * factor[i] * seconds + 0.015 * wobble)) % span_h - h * 0.05
            self._stamp(planes, self.dots[int(size[i])], x, y, self.look.particles)
        return planes

    @staticmethod
    def _stamp(planes: Planes, masks: tuple[Image.Image, Image.Image], x: float, y: float, colour: RGB) -> None:
        """Paint `colour` through a centred mask at (x, y) on all three planes."""
        y_value, u_value, v_value = _yuv(colour)
        full, half = masks
        left, top = int(round(x)) - full.width // 2, int(round(y)) - full.height // 2
        planes[0].paste(y_value, (left, top, left + full.width, top + full.height), full)
        cl, ct = (left + full.width // 2) // 2 - half.width // 2, (top + full.height // 2) // 2 - half.height // 2
        planes[1].paste(u_value, (cl, ct, cl + half.width, ct + half.height), half)
        planes[2].paste(v_value, (cl, ct, cl + half.width, ct + half.height), half)


@functools.lru_cache(maxsize=64)
def _yuv(rgb: RGB) -> tuple[int, int, int]:
    """BT.601 limited range, as swscale converts."""
    r, g, b = (c / 255 for c in rgb)
    y = 16 + 65.481 * r + 128.553 * g + 24.966 * b
    u = 128 - 37.797 * r - 74.203 * g + 112.0 * b
    v = 128 + 112.0 * r - 93.786 * g - 18.214 * b
    return round(y), round(u), round(v)
