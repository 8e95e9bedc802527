"""Figures of the dosimetry report: the DVHs and slices through each tumour, as PNG bytes.

Drawn with matplotlib's object API (``Figure`` and the Agg canvas, no ``pyplot``: no
global state, safe in the service's worker threads and processes). The colours read
with every common colour-vision deficiency: the dose wash is ``viridis`` (perceptually
uniform, designed to be read with deuteranopia, protanopia and tritanopia), and the VOIs
take the Okabe-Ito palette *and* a line style each, so a VOI is told apart by its line
as well as its colour.

The slices (:func:`slice_planes`, pure) are the CT's axial, coronal and sagittal planes
through the tumour's centroid (without a CT, the dose grid's): the dose is interpolated
linearly from the dose grid at each pixel's centre, the VOIs by nearest neighbour. The
dose is not drawn where the density is that of air (``AIR_DISPLAY_DENSITY_G_ML``: local
deposition gives air voxels ~1000 Gy) nor below :data:`WASH_FLOOR_FRACTION` of the
colour scale, so that the anatomy shows through; the metrics keep every voxel.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from y90dose.constants import AIR_DISPLAY_DENSITY_G_ML
from y90dose.imaging.image import Grid
from y90dose.imaging.vois import NORMAL_LIVER, TUMOURS_UNION

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from y90dose.pipeline.voxel_run import VoxelRun

DOSE_COLOUR_MAP = "viridis"
OKABE_ITO = ("#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7", "#F0E442")
"""Okabe M, Ito K. Color Universal Design (2008): told apart with every common colour-
vision deficiency. Black, the eighth colour, is left out (it vanishes on a dark CT) and
yellow comes last (faint on the DVH's white)."""
FAINT_ON_WHITE = ("#F0E442",)
"""Colours drawn with a grey edge on the DVH's white (yellow: contrast about 1.3:1)."""
LineStyle = Literal["solid", "dashed", "dashdot", "dotted"]
LINE_STYLES: tuple[LineStyle, ...] = ("solid", "dashed", "dashdot", "dotted")
WASH_FLOOR_FRACTION = 0.02
"""Dose below this fraction of the colour scale's top is not drawn (the CT shows)."""
CT_WINDOW_HU = (-160.0, 240.0)
"""Soft-tissue window of the CT background: level 40 HU, width 400 HU (abdomen)."""
DERIVED_VOIS = (NORMAL_LIVER, TUMOURS_UNION)
"""VOIs computed from others; the slices outline only the VOIs drawn by the user."""
FIGURE_DPI = 200


@dataclass(frozen=True)
class VoiStyle:
    """How one VOI is drawn, the same in the DVH and the slices."""

    colour: str
    line_style: LineStyle


def voi_styles(names: Iterable[str]) -> dict[str, VoiStyle]:
    """One colour and line style per VOI, in order: 7 colours x 4 styles before a repeat.

    Examples
    --------
    >>> styles = voi_styles(["liver", "tumor1"])
    >>> styles["liver"], styles["tumor1"].line_style
    (VoiStyle(colour='#E69F00', line_style='solid'), 'dashed')
    """
    return {
        name: VoiStyle(OKABE_ITO[n % len(OKABE_ITO)], LINE_STYLES[n % len(LINE_STYLES)])
        for n, name in enumerate(names)
    }


def _png(figure: Figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=FIGURE_DPI, metadata={"Software": None})
    return buffer.getvalue()


def dvh_png(run: VoxelRun, *, width_in: float = 7.0, height_in: float = 3.6) -> bytes:
    """Cumulative DVHs of every VOI, with the run's V thresholds as grey lines."""
    from matplotlib import patheffects
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width_in, height_in), layout="constrained")
    axes = figure.add_subplot()
    styles = voi_styles(run.dvhs)
    for name, dvh in run.dvhs.items():
        style = styles[name]
        (line,) = axes.plot(
            dvh.dose_gy,
            dvh.volume_percent,
            label=name,
            color=style.colour,
            linestyle=style.line_style,
            linewidth=1.6,
        )
        if style.colour in FAINT_ON_WHITE:  # a grey edge, in the legend too
            line.set_path_effects([patheffects.withStroke(linewidth=2.8, foreground="0.35")])
    for threshold in run.inputs.v_thresholds_gy:
        axes.axvline(threshold, color="0.8", linewidth=0.7, zorder=0)
    axes.set_xlabel("absorbed dose to complete decay (Gy)")
    axes.set_ylabel(f"{next(iter(run.dvhs.values())).weighting} (%)" if run.dvhs else "%")
    axes.set_ylim(0, 101)
    axes.set_xlim(left=0)
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return _png(figure)


@dataclass(frozen=True)
class SlicePlane:
    """One view through a tumour: background, dose and VOI masks on the same pixels.

    Arrays are (rows, columns) as drawn with ``origin="upper"``; ``pixel_mm`` is a
    pixel's (height, width) in mm; ``edges`` the patient directions at the (left, right,
    top, bottom) edges (``R``/``L``, ``A``/``P``, ``S``/``I``).
    """

    name: str
    background: npt.NDArray[np.float64] | None
    dose_gy: npt.NDArray[np.float64]
    masks: dict[str, npt.NDArray[np.bool_]]
    pixel_mm: tuple[float, float]
    edges: tuple[str, str, str, str]

    @property
    def aspect(self) -> float:
        """Pixel height / width (matplotlib's ``aspect``)."""
        return self.pixel_mm[0] / self.pixel_mm[1]

    @property
    def width_mm(self) -> float:
        """The plane's width in mm."""
        return self.dose_gy.shape[1] * self.pixel_mm[1]


_LETTERS = (("R", "L"), ("A", "P"), ("I", "S"))  # negative, positive direction in LPS


def _letter(vector: npt.NDArray[np.float64]) -> str:
    axis = int(np.argmax(np.abs(vector)))
    return _LETTERS[axis][1 if vector[axis] > 0 else 0]


def _opposite(letter: str) -> str:
    for pair in _LETTERS:
        if letter in pair:
            return pair[1 - pair.index(letter)]
    return letter


def centroid_mm(run: VoxelRun, voi: str) -> npt.NDArray[np.float64]:
    """The centroid of a VOI's voxel centres, patient coordinates (x, y, z), mm."""
    k, j, i = (float(v.mean()) for v in np.nonzero(run.vois[voi]))
    return run.dose_image.grid.index_to_physical_mm([i, j, k])


def _sample(
    values: npt.NDArray[Any], grid: Grid, points_mm: npt.NDArray[np.float64], *, order: int
) -> npt.NDArray[Any]:
    """``values`` (on ``grid``) at physical points ``(rows, cols, 3)``; 0 outside."""
    from scipy.ndimage import map_coordinates

    ijk = grid.physical_mm_to_index(points_mm.reshape(-1, 3))
    coordinates = ijk[:, ::-1].T  # (k, j, i) rows, the array's axis order
    if order == 0:
        index = np.rint(coordinates).astype(np.int64)
        shape = np.asarray(values.shape)[:, None]
        inside = np.all((index >= 0) & (index < shape), axis=0)
        out = np.zeros(index.shape[1], dtype=values.dtype)
        out[inside] = values[tuple(index[:, inside])]
        return out.reshape(points_mm.shape[:2])
    sampled = map_coordinates(values, coordinates, order=order, mode="constant", cval=0.0)
    return np.asarray(sampled).reshape(points_mm.shape[:2])


def slice_planes(run: VoxelRun, tumour: str, vois: Sequence[str]) -> list[SlicePlane]:
    """Axial, coronal and sagittal planes through ``tumour``'s centroid.

    The planes are the CT's (its slices through the centroid, at its resolution) or,
    without a CT, the dose grid's. ``vois`` are the VOIs whose masks are sampled.
    """
    dose_grid = run.dose_image.grid
    centre_mm = centroid_mm(run, tumour)
    image = run.ct
    grid = image.grid if image is not None else dose_grid
    nz, ny, nx = grid.shape_zyx
    i, j, k = (int(v) for v in np.rint(grid.physical_mm_to_index(centre_mm)))
    i, j, k = min(max(i, 0), nx - 1), min(max(j, 0), ny - 1), min(max(k, 0), nz - 1)
    shown = shown_dose_gy(run)
    sx, sy, sz = grid.spacing_mm
    axis_x, axis_y, axis_z = (grid.direction[:, n] for n in range(3))

    def order(count: int, forward: bool) -> npt.NDArray[np.float64]:
        indices = np.arange(count, dtype=np.float64)
        return indices if forward else indices[::-1]

    # radiological display whatever the array order: patient right on the left, anterior
    # (axial) or superior (coronal, sagittal) at the top; the sagittal's anterior on the left
    columns_i = order(nx, axis_x[0] >= 0)  # towards +x (patient left) to the right
    columns_j = order(ny, axis_y[1] >= 0)  # axial rows / sagittal columns towards +y (P)
    rows_k = order(nz, axis_z[2] < 0)  # towards -z (inferior) downwards
    planes: list[SlicePlane] = []
    for name in ("axial", "coronal", "sagittal"):
        if name == "axial":
            jj, ii = np.meshgrid(columns_j, columns_i, indexing="ij")
            ijk = np.stack([ii, jj, np.full_like(ii, k)], axis=-1)
            pixel_mm = (sy, sx)
        elif name == "coronal":
            kk, ii = np.meshgrid(rows_k, columns_i, indexing="ij")
            ijk = np.stack([ii, np.full_like(ii, j), kk], axis=-1)
            pixel_mm = (sz, sx)
        else:
            kk, jj = np.meshgrid(rows_k, columns_j, indexing="ij")
            ijk = np.stack([np.full_like(jj, i), jj, kk], axis=-1)
            pixel_mm = (sz, sy)
        points = grid.index_to_physical_mm(ijk)
        background = None
        if image is not None:
            index = np.rint(ijk).astype(np.int64)
            background = image.array[index[..., 2], index[..., 1], index[..., 0]].astype(np.float64)
        # the patient directions the displayed columns and rows run towards
        right, down = _letter(points[0, -1] - points[0, 0]), _letter(points[-1, 0] - points[0, 0])
        planes.append(
            SlicePlane(
                name=name,
                background=background,
                dose_gy=_sample(shown, dose_grid, points, order=1),
                masks={v: _sample(run.vois[v], dose_grid, points, order=0) for v in vois},
                pixel_mm=pixel_mm,
                edges=(_opposite(right), right, _opposite(down), down),
            )
        )
    return planes


def shown_dose_gy(run: VoxelRun) -> npt.NDArray[np.float64]:
    """The dose the slices draw (Gy, dose grid): none where the density is that of air."""
    density = np.asarray(run.density_g_ml, dtype=np.float64)
    return np.where(density < AIR_DISPLAY_DENSITY_G_ML.value, 0.0, run.dose_image.array)


def dose_scale_top_gy(run: VoxelRun) -> float:
    """The top of the slices' colour scale: the highest dose drawn inside any VOI."""
    inside = run.vois.union(list(run.vois)) if len(run.vois) else None
    shown = shown_dose_gy(run)
    return float(shown[inside].max()) if inside is not None and inside.any() else 0.0


def outlined_vois(run: VoxelRun) -> list[str]:
    """The VOIs the slices outline: those of the input (not the derived ones)."""
    return [name for name in run.vois if name not in DERIVED_VOIS]


SLICE_MARGINS_IN = {"left": 0.05, "gap": 0.08, "bar": 0.7, "top": 0.24, "bottom": 0.36}
"""Space around the slice panels (inches): left edge, between panels, colour bar with its
labels, titles above, legend below."""


def _slice_axes(
    planes: Sequence[SlicePlane], width_in: float, max_panel_height_in: float
) -> tuple[Figure, list[Any], Any]:
    """A figure with one axes per plane, each exactly its plane's size at a common scale
    (no layout engine: one draw), and the colour bar's axes at the right."""
    from matplotlib.figure import Figure

    m = SLICE_MARGINS_IN
    widths_mm = [plane.width_mm for plane in planes]
    heights_mm = [plane.dose_gy.shape[0] * plane.pixel_mm[0] for plane in planes]
    free_in = width_in - m["left"] - m["gap"] * (len(planes) - 1) - m["bar"]
    scale = min(free_in / sum(widths_mm), max_panel_height_in / max(heights_mm))  # in/mm
    panel_in = max(heights_mm) * scale
    height_in = m["top"] + panel_in + m["bottom"]
    figure = Figure(figsize=(width_in, height_in))
    axes_row = []
    x_in = m["left"] + (free_in - sum(widths_mm) * scale) / 2  # centred when height-bound
    for width_mm, height_mm in zip(widths_mm, heights_mm, strict=True):
        w_in, h_in = width_mm * scale, height_mm * scale
        y_in = m["bottom"] + panel_in - h_in  # tops aligned
        axes_row.append(
            figure.add_axes((x_in / width_in, y_in / height_in, w_in / width_in, h_in / height_in))
        )
        x_in += w_in + m["gap"]
    bar_x_in = width_in - m["bar"] + 0.08
    bar_axes = figure.add_axes(
        (
            bar_x_in / width_in,
            (m["bottom"] + 0.1 * panel_in) / height_in,
            0.12 / width_in,
            0.8 * panel_in / height_in,
        )
    )
    return figure, axes_row, bar_axes


def slices_png(
    run: VoxelRun,
    tumour: str,
    *,
    dose_max_gy: float,
    width_in: float = 7.0,
    max_panel_height_in: float = 3.2,
) -> bytes:
    """Axial, coronal and sagittal dose wash through ``tumour`` with the VOI outlines.

    ``dose_max_gy`` is the top of the colour scale (one scale for every tumour of a
    report, so their figures compare). The three planes are drawn at one scale (mm per
    inch), as wide as ``width_in`` allows and at most ``max_panel_height_in`` tall.
    """
    from matplotlib import patheffects
    from matplotlib.lines import Line2D

    names = outlined_vois(run)
    styles = voi_styles(run.dvhs)
    planes = slice_planes(run, tumour, names)
    figure, axes_row, bar_axes = _slice_axes(planes, width_in, max_panel_height_in)
    halo = [patheffects.withStroke(linewidth=2.6, foreground="black")]
    handle = None
    top = max(float(dose_max_gy), 1e-9)
    for axes, plane in zip(axes_row, planes, strict=True):
        axes.set_facecolor("black")
        if plane.background is not None:
            axes.imshow(
                plane.background,
                cmap="gray",
                vmin=CT_WINDOW_HU[0],
                vmax=CT_WINDOW_HU[1],
                aspect=plane.aspect,
                interpolation="nearest",
            )
        wash = np.ma.masked_less(plane.dose_gy, WASH_FLOOR_FRACTION * top)
        handle = axes.imshow(
            wash,
            cmap=DOSE_COLOUR_MAP,
            vmin=0.0,
            vmax=top,
            alpha=0.6 if plane.background is not None else 1.0,
            aspect=plane.aspect,
            interpolation="nearest",
        )
        for name in names:
            mask = plane.masks[name]
            if mask.any() and not mask.all():
                style = styles.get(name, VoiStyle("#FFFFFF", "solid"))
                width = 1.8 if name == tumour else 1.0
                lines = axes.contour(
                    mask.astype(np.float64),
                    levels=[0.5],
                    colors=[style.colour],
                    linestyles=[style.line_style],
                    linewidths=width,
                )
                # a dark edge: the outline reads over the grey CT and the bright wash
                lines.set_path_effects(
                    [patheffects.withStroke(linewidth=width + 1.4, foreground="black")]
                )
        axes.set_title(plane.name, fontsize=8)
        axes.set_xticks([])
        axes.set_yticks([])
        left, right, upper, lower = plane.edges
        text: dict[str, Any] = {
            "color": "white",
            "fontsize": 7,
            "transform": axes.transAxes,
            "path_effects": halo,
        }
        axes.text(0.02, 0.5, left, ha="left", va="center", **text)
        axes.text(0.98, 0.5, right, ha="right", va="center", **text)
        axes.text(0.5, 0.98, upper, ha="center", va="top", **text)
        axes.text(0.5, 0.02, lower, ha="center", va="bottom", **text)
    if handle is not None:
        bar = figure.colorbar(handle, cax=bar_axes)
        bar.set_label("dose (Gy)", fontsize=7)
        bar.ax.tick_params(labelsize=6)
    figure.legend(
        handles=[
            Line2D([], [], color=styles[n].colour, linestyle=styles[n].line_style, label=n)
            for n in names
            if n in styles
        ],
        loc="lower center",
        bbox_to_anchor=(0.5, 0.0),
        ncols=min(len(names), 7),
        fontsize=7,
        frameon=False,
    )
    return _png(figure)
