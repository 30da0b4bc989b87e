"""A small raster canvas for the report's figures (the located phantom, the control charts), on Pillow.

Why not matplotlib: importing ``matplotlib.figure`` and its Agg backend alone costs about 0.35 s of
CPU, a third of a whole ``qa phantom`` run, before anything is drawn; Pillow imports in 15 ms and
draws these figures in about 0.1 s.  The figures need little: lines (solid, dashed, dotted),
filled and hatched rectangles, circles, two marker shapes, an image, and text.

Shapes are drawn at ``scale`` times the final size and reduced by averaging (their edges are
antialiased); texts are drawn afterwards at the final size by FreeType (sharp, and
measured exactly: :meth:`Canvas.text_box` is the box the text will cover).  Coordinates are final
pixels, y downwards.  Every drawn item the tests may ask about is recorded as a :class:`Mark`
(what it is, for which key, its box in pixels and the data values it stands for).

Fonts: DejaVu Sans, as shipped with matplotlib (found without importing it), else Pillow's own.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from qa.records.text import escape_controls

# Shapes are drawn at twice the final size, then reduced (antialiasing): ours.
SCALE = 2
# zlib level of the PNG files: 2 writes these figures in a third of the time of Pillow's default 6,
# for 5 % more bytes (measured on the control charts): ours.
PNG_COMPRESS_LEVEL = 2


@dataclass(frozen=True)
class Mark:
    """One drawn item: ``kind`` (e.g. ``tolerance``, ``flagged``, ``label``), ``key`` (the metric or
    object it belongs to), its box ``(x0, y0, x1, y1)`` in final pixels, the data values it stands
    for and its ``style`` (a marker shape ``o`` / ``D``, a line style ``solid`` / ``dashed`` / ``dotted``)."""

    kind: str
    key: str
    box: tuple[float, float, float, float]
    data: tuple = ()
    style: str = ""


@dataclass(frozen=True)
class Picture:
    """A finished figure: the PNG bytes, its size and what was drawn where."""

    png: bytes
    width_px: int
    height_px: int
    marks: tuple[Mark, ...] = field(default=(), repr=False)

    def find(self, kind: str, key: str | None = None) -> list[Mark]:
        return [m for m in self.marks if m.kind == kind and (key is None or m.key == key)]


@functools.lru_cache(maxsize=16)
def font(size_px: float, bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans (bold) at ``size_px`` pixels."""
    size = max(1, round(size_px))
    spec = importlib.util.find_spec("matplotlib")
    if spec is not None and spec.origin:
        path = Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf" / ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")
        if path.is_file():
            return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size)


@functools.lru_cache(maxsize=64)
def _rgb(colour: str) -> tuple[int, int, int]:
    colour = colour.lstrip("#")
    return int(colour[0:2], 16), int(colour[2:4], 16), int(colour[4:6], 16)


class Canvas:
    def __init__(self, width_px: int, height_px: int, *, background: str = "#ffffff", scale: int = SCALE) -> None:
        self.width, self.height, self.scale = int(width_px), int(height_px), scale
        self._image = Image.new("RGB", (self.width * scale, self.height * scale), _rgb(background))
        self._draw = ImageDraw.Draw(self._image)
        self._texts: list[tuple] = []
        self.marks: list[Mark] = []

    # ----------------------------------------------------------------------------- shapes (supersampled)

    def _s(self, value: float) -> float:
        return value * self.scale

    def line(self, points, colour: str, width: float = 1.0, *, dash: tuple[float, float] | None = None,
             halo: tuple[str, float] | None = None) -> None:
        """A polyline through ``points`` [(x, y)]; ``dash`` (on, off) in pixels; ``halo`` (colour, extra
        width) drawn under it."""
        pts = [(self._s(x), self._s(y)) for x, y in points]
        for colour_, width_ in ([(halo[0], width + halo[1])] if halo else []) + [(colour, width)]:
            w = max(1, round(self._s(width_)))
            segments = _dashed(pts, (self._s(dash[0]), self._s(dash[1]))) if dash else [pts]
            for seg in segments:
                if len(seg) >= 2:
                    self._draw.line(seg, fill=_rgb(colour_), width=w, joint="curve")

    def rect(self, x0: float, y0: float, x1: float, y1: float, *, fill: str | None = None, outline: str | None = None,
             width: float = 1.0, hatch: tuple[str, float, float] | None = None) -> None:
        """A rectangle; ``hatch`` (colour, spacing px, line width px): diagonal lines clipped to it."""
        box = [self._s(min(x0, x1)), self._s(min(y0, y1)), self._s(max(x0, x1)), self._s(max(y0, y1))]
        if box[2] - box[0] < 1 or box[3] - box[1] < 1:
            return
        if fill:
            self._draw.rectangle(box, fill=_rgb(fill))
        if hatch:
            colour, spacing, w = hatch
            step, a0, b0, a1, b1 = self._s(spacing), *box
            c = a0 - (b1 - b0)
            while c < a1:  # lines x - c = b1 - y (rising to the right), clipped to the box
                ends = _clip_diagonal(c, a0, b0, a1, b1)
                if ends:
                    self._draw.line(ends, fill=_rgb(colour), width=max(1, round(self._s(w))))
                c += step
        if outline:
            self._draw.rectangle(box, outline=_rgb(outline), width=max(1, round(self._s(width))))

    def circle(self, cx: float, cy: float, r: float, colour: str, width: float = 1.0, *, dashed: bool = False,
               halo: tuple[str, float] | None = None, fill: str | None = None) -> None:
        box = [self._s(cx - r), self._s(cy - r), self._s(cx + r), self._s(cy + r)]
        if fill:
            self._draw.ellipse(box, fill=_rgb(fill))
        for colour_, width_ in ([(halo[0], width + halo[1])] if halo else []) + [(colour, width)]:
            w = max(1, round(self._s(width_)))
            grown = [box[0] - (w - self._s(width)) / 2, box[1] - (w - self._s(width)) / 2,
                     box[2] + (w - self._s(width)) / 2, box[3] + (w - self._s(width)) / 2]
            if not dashed:
                self._draw.ellipse(grown, outline=_rgb(colour_), width=w)
                continue
            n = max(8, 2 * round(math.pi * r / 7.0))  # dashes of about 4 px, gaps of about 3 px
            for k in range(0, n, 2):
                self._draw.arc(grown, 360.0 * k / n, 360.0 * (k + 1.2) / n, fill=_rgb(colour_), width=w)

    def marker(self, x: float, y: float, shape: str, size: float, fill: str, edge: str | None = None,
               edge_width: float = 1.0) -> tuple[float, float, float, float]:
        """A marker centred at (x, y): ``o`` a disc, ``D`` a diamond; ``size`` its width in pixels.  Returns its box."""
        h = size / 2
        if shape == "D":
            pts = [(self._s(x), self._s(y - h)), (self._s(x + h), self._s(y)), (self._s(x), self._s(y + h)), (self._s(x - h), self._s(y))]
            self._draw.polygon(pts, fill=_rgb(fill), outline=_rgb(edge) if edge else None,
                               width=max(1, round(self._s(edge_width))) if edge else 0)
        else:
            self._draw.ellipse([self._s(x - h), self._s(y - h), self._s(x + h), self._s(y + h)], fill=_rgb(fill),
                               outline=_rgb(edge) if edge else None, width=max(1, round(self._s(edge_width))) if edge else 0)
        return (x - h, y - h, x + h, y + h)

    def image(self, pixels, box: tuple[float, float, float, float]) -> None:
        """An 8-bit grey image (2-D uint8 array) stretched over ``box`` (bilinear)."""
        x0, y0, x1, y1 = (round(self._s(v)) for v in box)
        picture = Image.fromarray(pixels).convert("L").resize((x1 - x0, y1 - y0), Image.Resampling.BILINEAR)
        self._image.paste(picture.convert("RGB"), (x0, y0))

    # ----------------------------------------------------------------------------- texts (final size)

    def text_box(self, x: float, y: float, text: str, *, size: float, anchor: str = "la", bold: bool = False,
                 pad: float = 0.0) -> tuple[float, float, float, float]:
        """The box ``text`` will cover when drawn at (x, y) with ``anchor`` (Pillow's two-letter anchors)."""
        text = shown(text)
        left, top, right, bottom = font(size, bold).getbbox(text, anchor=anchor)
        return (x + left - pad, y + top - pad, x + right + pad, y + bottom + pad)

    def text(self, x: float, y: float, text: str, *, size: float, colour: str = "#000000", anchor: str = "la",
             bold: bool = False, box: str | None = None, pad: float = 0.0, vertical: bool = False) -> tuple[float, float, float, float]:
        """Draw ``text`` (one line) after the shapes; ``box``: a filled box behind it (``pad`` px around);
        ``vertical``: turned a quarter left, centred on (x, y).  Returns the box it covers.  Control
        characters (from DICOM headers, file names) are drawn as escapes (ESC as ``\\x1b``)."""
        text = shown(text)
        if vertical:
            w, h = font(size, bold).getbbox(text, anchor="lt")[2:]
            covered = (x - h / 2, y - w / 2, x + h / 2, y + w / 2)
        else:
            covered = self.text_box(x, y, text, size=size, anchor=anchor, bold=bold, pad=pad)
        self._texts.append((x, y, text, size, colour, anchor, bold, box, covered, vertical))
        return covered

    # ----------------------------------------------------------------------------- output

    def picture(self) -> Picture:
        final = self._image.reduce(self.scale) if self.scale != 1 else self._image  # the mean of each scale x scale block
        draw = ImageDraw.Draw(final)
        for x, y, text, size, colour, anchor, bold, box, covered, vertical in self._texts:
            if box:
                draw.rectangle([round(v) for v in covered], fill=_rgb(box))
            if vertical:
                w, h = font(size, bold).getbbox(text, anchor="lt")[2:]
                stamp = Image.new("L", (max(1, int(w) + 2), max(1, int(h) + 2)), 0)
                ImageDraw.Draw(stamp).text((1, 1), text, font=font(size, bold), fill=255, anchor="lt")
                stamp = stamp.transpose(Image.Transpose.ROTATE_90)
                final.paste(Image.new("RGB", stamp.size, _rgb(colour)), (round(x - stamp.width / 2), round(y - stamp.height / 2)), stamp)
            else:
                draw.text((x, y), text, font=font(size, bold), fill=_rgb(colour), anchor=anchor)
        buffer = io.BytesIO()
        final.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
        return Picture(buffer.getvalue(), self.width, self.height, tuple(self.marks))


def shown(text: str) -> str:
    """One line of text as a figure draws it: control characters as escapes, a newline or tab as ``\\n`` / ``\\t``."""
    return escape_controls(str(text)).replace("\n", "\\n").replace("\t", "\\t")


def _dashed(points, pattern: tuple[float, float]) -> list[list[tuple[float, float]]]:
    """The pieces of a polyline drawn with ``pattern`` (on, off) lengths."""
    on, off = pattern
    pieces, current, drawn, left = [], [points[0]], True, on
    for (xa, ya), (xb, yb) in itertools.pairwise(points):
        length = math.hypot(xb - xa, yb - ya)
        pos = 0.0
        while length - pos > left:
            pos += left
            point = (xa + (xb - xa) * pos / length, ya + (yb - ya) * pos / length)
            if drawn:
                current.append(point)
                pieces.append(current)
            else:
                current = [point]
            drawn, left = not drawn, (on if not drawn else off)
        left -= length - pos
        if drawn:
            current.append((xb, yb))
    if drawn and len(current) >= 2:
        pieces.append(current)
    return pieces


def _clip_diagonal(c: float, a0: float, b0: float, a1: float, b1: float):
    """The part of the line x = c + (b1 - y) inside the box [a0, a1] x [b0, b1], or None."""
    # parametrise by y: x(y) = c + b1 - y; x within [a0, a1] <=> y within [c + b1 - a1, c + b1 - a0]
    ylo, yhi = max(b0, c + b1 - a1), min(b1, c + b1 - a0)
    if yhi <= ylo:
        return None
    return [(c + b1 - ylo, ylo), (c + b1 - yhi, yhi)]
