"""The PNG figures of a voxel run, drawn with numpy and Pillow.

- :func:`draw_dvh`: cumulative DVH curves of the VOIs on a dose axis, with the V
  thresholds, a legend and a title;
- :func:`draw_slices`: three planes (axial, coronal, sagittal) of the dose over a grey CT,
  a tumour's outline, a colour bar and a title.

The images are put together as arrays (colour maps, blending, nearest-neighbour scaling
to the voxels' aspect) and the text and lines drawn by Pillow (FreeType), which is what
the figures need: without matplotlib they take a few hundredths of a second instead of
about half a second (its import alone is 0.3 s). The colour map is matplotlib's ``jet``
(its segment table, below), the grid, threshold and curve colours matplotlib's defaults.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

RGB = tuple[int, int, int]

#: matplotlib's default colour cycle (``tab10``), for the DVH curves.
CURVE_COLOURS: tuple[RGB, ...] = (
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
)
GRID_COLOUR: RGB = (230, 230, 230)
THRESHOLD_COLOUR: RGB = (217, 217, 217)
OUTLINE_COLOUR: RGB = (255, 255, 255)

# matplotlib's "jet" (matplotlib/_cm.py, _jet_data): (x, value) breakpoints per channel
_JET = (
    ((0.0, 0.0), (0.35, 0.0), (0.66, 1.0), (0.89, 1.0), (1.0, 0.5)),
    ((0.0, 0.0), (0.125, 0.0), (0.375, 1.0), (0.64, 1.0), (0.91, 0.0), (1.0, 0.0)),
    ((0.0, 0.5), (0.11, 1.0), (0.34, 1.0), (0.65, 0.0), (1.0, 0.0)),
)


def jet_rgb(fraction: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    """matplotlib's ``jet`` colour (uint8 RGB) of values in 0..1 (clipped), 256 levels."""
    levels = np.linspace(0.0, 1.0, 256)
    table = np.stack(
        [np.interp(levels, [x for x, _ in c], [v for _, v in c]) for c in _JET], axis=-1
    )
    lut = np.round(table * 255.0).astype(np.uint8)
    index = np.clip(np.asarray(fraction, dtype=np.float64), 0.0, 1.0) * 255.0
    return lut[np.round(index).astype(np.intp)]


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (OSError, TypeError, ValueError):  # Pillow without FreeType: its bitmap font
        return ImageFont.load_default()


@dataclass
class _Canvas:
    """A white RGB image with a drawing context and fonts, ``scale`` x the nominal size."""

    width: int
    height: int
    scale: int = 1

    def __post_init__(self) -> None:
        from PIL import Image, ImageDraw

        self.image = Image.new("RGB", (self.width * self.scale, self.height * self.scale), "white")
        self.draw = ImageDraw.Draw(self.image)
        self._fonts: dict[int, Any] = {}

    def font(self, size: int) -> Any:
        if size not in self._fonts:
            self._fonts[size] = _font(size * self.scale)
        return self._fonts[size]

    def text(self, xy: tuple[float, float], text: str, size: int = 12, anchor: str = "la") -> None:
        """Text at nominal coordinates; ``anchor`` as Pillow's (``"mm"``: centred)."""
        x, y = xy
        self.draw.text(
            (x * self.scale, y * self.scale),
            text,
            fill="black",
            font=self.font(size),
            anchor=anchor,
        )

    def text_width(self, text: str, size: int = 12) -> float:
        left, _, right, _ = self.draw.textbbox((0, 0), text, font=self.font(size))
        return float(right - left) / self.scale

    def vertical_text(self, xy: tuple[float, float], text: str, size: int = 12) -> None:
        """Text turned 90 degrees (read bottom to top), centred on ``xy``."""
        from PIL import Image, ImageDraw

        font = self.font(size)
        left, top, right, bottom = self.draw.textbbox((0, 0), text, font=font)
        label = Image.new(
            "RGB", (math.ceil(right - left) + 2, math.ceil(bottom - top) + 2), "white"
        )
        ImageDraw.Draw(label).text((1 - left, 1 - top), text, fill="black", font=font)
        turned = label.rotate(90, expand=True)
        x, y = xy
        corner = (
            round(x * self.scale - turned.width / 2),
            round(y * self.scale - turned.height / 2),
        )
        self.image.paste(turned, corner)

    def line(self, points: Sequence[tuple[float, float]], colour: RGB, width: float = 1) -> None:
        scaled = [(x * self.scale, y * self.scale) for x, y in points]
        self.draw.line(scaled, fill=colour, width=max(1, round(width * self.scale)))

    def rectangle(self, box: tuple[float, float, float, float], outline: RGB, fill: Any) -> None:
        left, top, right, bottom = (v * self.scale for v in box)
        self.draw.rectangle((left, top, right, bottom), outline=outline, fill=fill)

    def paste(self, rgb: npt.NDArray[np.uint8], corner: tuple[float, float]) -> None:
        from PIL import Image

        x, y = corner
        self.image.paste(
            Image.fromarray(rgb, "RGB"), (round(x * self.scale), round(y * self.scale))
        )

    def save(self, path: Path) -> Path:
        from PIL import Image

        image = self.image
        if self.scale != 1:  # drawn large, then reduced: smooth lines and text
            image = image.resize((self.width, self.height), Image.Resampling.LANCZOS)
        image.save(path, format="PNG")  # ~30 ms, mostly row filtering, at any zlib level
        return path


def nice_step(span: float, target_ticks: int = 6) -> float:
    """The smallest step of 1, 2, 2.5 or 5 x 10^k giving at most ``target_ticks`` intervals
    over ``span``.

    Examples
    --------
    >>> nice_step(100.0), nice_step(730.0), nice_step(3.2)
    (20.0, 200.0, 1.0)
    """
    if not math.isfinite(span) or span <= 0:
        return 1.0
    raw = span / target_ticks
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1.0, 2.0, 2.5, 5.0, 10.0):
        if factor * power >= raw:
            return factor * power
    return 10.0 * power


def _tick_label(value: float, step: float) -> str:
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step < 1 else 0
    return f"{value:.{decimals}f}"


@dataclass(frozen=True)
class Curve:
    """One DVH curve: dose points (Gy) and percent of the VOI receiving at least each."""

    name: str
    dose_gy: npt.NDArray[np.floating]
    volume_percent: npt.NDArray[np.floating]


def draw_dvh(
    curves: Sequence[Curve], thresholds_gy: Sequence[float], title: str, path: Path
) -> Path:
    """Cumulative DVHs (volume % against dose) as an 800 x 500 PNG."""
    canvas = _Canvas(800, 500, scale=2)
    left, top, right, bottom = 72.0, 38.0, 785.0, 448.0
    top_dose = max([float(np.max(c.dose_gy)) for c in curves if c.dose_gy.size] or [1.0])
    step = nice_step(top_dose)
    x_max = max(step, math.ceil(top_dose * 1.02 / step) * step)

    def x_of(dose: float) -> float:
        return left + (right - left) * dose / x_max

    def y_of(percent: float) -> float:
        return bottom - (bottom - top) * percent / 101.0

    for k in range(round(x_max / step) + 1):
        x = x_of(k * step)
        canvas.line([(x, top), (x, bottom)], GRID_COLOUR)
        canvas.text((x, bottom + 6), _tick_label(k * step, step), 11, anchor="ma")
    for percent in range(0, 101, 20):
        y = y_of(percent)
        canvas.line([(left, y), (right, y)], GRID_COLOUR)
        canvas.text((left - 6, y), str(percent), 11, anchor="rm")
    for threshold in thresholds_gy:
        if 0 < threshold <= x_max:
            canvas.line([(x_of(threshold), top), (x_of(threshold), bottom)], THRESHOLD_COLOUR)
    for index, curve in enumerate(curves):
        colour = CURVE_COLOURS[index % len(CURVE_COLOURS)]
        points = [
            (x_of(float(d)), y_of(float(v)))
            for d, v in zip(curve.dose_gy, curve.volume_percent, strict=True)
        ]
        if len(points) > 1:
            canvas.line(points, colour, width=1.5)
    canvas.rectangle((left, top, right, bottom), outline=(0, 0, 0), fill=None)
    canvas.text(((left + right) / 2, bottom + 26), "absorbed dose (Gy)", 12, anchor="ma")
    canvas.vertical_text((left - 50, (top + bottom) / 2), "volume (%)", 12)
    canvas.text(((left + right) / 2, top - 12), title, 13, anchor="ms")
    if curves:  # legend, upper right
        width = max(canvas.text_width(c.name, 10) for c in curves) + 44
        height = 16.0 * len(curves) + 8
        box = (right - width - 8, top + 8, right - 8, top + 8 + height)
        canvas.rectangle(box, outline=(204, 204, 204), fill="white")
        for index, curve in enumerate(curves):
            y = box[1] + 12 + 16 * index
            colour = CURVE_COLOURS[index % len(CURVE_COLOURS)]
            canvas.line([(box[0] + 6, y), (box[0] + 30, y)], colour, width=1.5)
            canvas.text((box[0] + 36, y), curve.name, 10, anchor="lm")
    return canvas.save(path)


@dataclass(frozen=True)
class Plane:
    """One view of the slice figure: dose (Gy), optional CT (HU), mask, voxel size.

    Arrays are (rows, columns) as stored; ``rows_up`` puts row 0 at the bottom
    (coronal and sagittal views, as matplotlib's ``origin="lower"``).
    """

    title: str
    dose_gy: npt.NDArray[np.floating]
    ct_hu: npt.NDArray[np.floating] | None
    mask: npt.NDArray[np.bool_] | None
    row_mm: float
    column_mm: float
    rows_up: bool


def _scaled(array: npt.NDArray[Any], height: int, width: int) -> npt.NDArray[Any]:
    """Nearest-neighbour resize of a (rows, columns[, channels]) array."""
    rows = np.minimum((np.arange(height) + 0.5) * array.shape[0] / height, array.shape[0] - 1)
    cols = np.minimum((np.arange(width) + 0.5) * array.shape[1] / width, array.shape[1] - 1)
    return array[rows.astype(np.intp)][:, cols.astype(np.intp)]


def plane_rgb(plane: Plane, peak_gy: float, box_px: tuple[int, int]) -> npt.NDArray[np.uint8]:
    """The view as an RGB image fitting ``box_px`` (width, height) with the voxels' aspect.

    CT in grey (-200 to 300 HU), dose in ``jet`` from 0 to ``peak_gy`` where it is at least
    1 % of the peak (blended at 55 % over a CT, opaque on white without one), the mask's
    outline in white.
    """
    dose = np.asarray(plane.dose_gy, dtype=np.float64)
    rows, cols = dose.shape
    height_mm, width_mm = rows * plane.row_mm, cols * plane.column_mm
    scale = min(box_px[0] / width_mm, box_px[1] / height_mm)
    width, height = max(1, round(width_mm * scale)), max(1, round(height_mm * scale))
    if plane.ct_hu is not None:
        grey = np.clip((np.asarray(plane.ct_hu, dtype=np.float64) + 200.0) / 500.0, 0.0, 1.0)
        background = np.repeat(np.round(grey * 255.0)[..., None], 3, axis=-1)
        alpha = 0.55
    else:
        background = np.full((rows, cols, 3), 255.0)
        alpha = 1.0
    colour = jet_rgb(dose / peak_gy if peak_gy > 0 else dose).astype(np.float64)
    shown = (dose >= 0.01 * peak_gy)[..., None]
    rgb = np.where(shown, (1.0 - alpha) * background + alpha * colour, background)
    image = _scaled(np.round(rgb).astype(np.uint8), height, width)
    if plane.mask is not None and plane.mask.any():
        inside = _scaled(np.asarray(plane.mask, dtype=bool), height, width)
        rows_change = inside[1:] != inside[:-1]
        columns_change = inside[:, 1:] != inside[:, :-1]
        edge = np.zeros_like(inside)  # the pixels on both sides of the mask's border
        edge[1:] |= rows_change
        edge[:-1] |= rows_change
        edge[:, 1:] |= columns_change
        edge[:, :-1] |= columns_change
        image[edge] = OUTLINE_COLOUR
    return image[::-1] if plane.rows_up else image


def draw_slices(
    planes: Sequence[Plane], peak_gy: float, title: str, caption: str, path: Path
) -> Path:
    """The views side by side with a colour bar (0 to ``peak_gy``) as a 1500 x 520 PNG."""
    canvas = _Canvas(1500, 520)
    box = (410, 410)
    for index, plane in enumerate(planes):
        rgb = plane_rgb(plane, peak_gy, box)
        centre_x = 30 + 220 + index * 440
        corner = (centre_x - rgb.shape[1] / 2, 75 + (box[1] - rgb.shape[0]) / 2)
        canvas.paste(rgb, corner)
        frame = (corner[0] - 1, corner[1] - 1, corner[0] + rgb.shape[1], corner[1] + rgb.shape[0])
        canvas.rectangle(frame, outline=(0, 0, 0), fill=None)
        canvas.text((centre_x, corner[1] - 8), plane.title, 14, anchor="ms")
    bar_left, bar_top, bar_bottom = 1375.0, 95.0, 465.0
    levels = np.linspace(1.0, 0.0, round(bar_bottom - bar_top))[:, None]
    canvas.paste(np.repeat(jet_rgb(levels), 22, axis=1), (bar_left, bar_top))
    canvas.rectangle((bar_left, bar_top, bar_left + 22, bar_bottom), outline=(0, 0, 0), fill=None)
    top = peak_gy if peak_gy > 0 else 1.0
    step = nice_step(top, 5)
    for k in range(math.floor(top / step + 1e-9) + 1):
        y = bar_bottom - (bar_bottom - bar_top) * k * step / top
        canvas.line([(bar_left + 22, y), (bar_left + 27, y)], (0, 0, 0))
        canvas.text((bar_left + 31, y), _tick_label(k * step, step), 11, anchor="lm")
    canvas.vertical_text((bar_left + 95, (bar_top + bar_bottom) / 2), "dose (Gy)", 12)
    canvas.text((750, 28), title, 15, anchor="ms")
    if caption:
        canvas.text((750, 505), caption, 10, anchor="ms")
    return canvas.save(path)
