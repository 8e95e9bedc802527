"""DICOM RTSTRUCT contours rasterised into boolean masks on a voxel grid.

Method
------
Each CLOSED_PLANAR contour (PS3.3 C.8.8.6) is mapped from patient coordinates (mm) to
continuous voxel indices of the target grid. Its slice position must be constant (the
contour lies in a plane of the grid; oblique contours are refused). Contours are grouped
by plane; each grid slice takes the contours of the *nearest* plane, provided that plane
is within half a plane spacing (or half a voxel, whichever is larger) - so a contour
stands for a slab as thick as the spacing between contour planes, the usual
convention of planning systems (and of Pinnacle/Eclipse volume calculation). The plane
spacing is the smallest gap between contour planes over the whole structure set (the
slice spacing of the image the contours were drawn on), so a gap inside one ROI stays
empty instead of being bridged.

In-plane filling uses the even-odd rule on voxel centres, all contours of a plane
together: a voxel is inside when a ray from its centre crosses the plane's contours an
odd number of times, so a contour inside another is a hole, and one inside a hole an
island (the DICOM convention for holes when no keyhole is used). Crossings are found per
edge and row with a half-open rule (an edge counts on rows ``min(y) <= j < max(y)``),
then a running parity along each row gives the mask; everything is vectorised numpy.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset

from y90dose.errors import GeometryError, ImageError
from y90dose.imaging.dicom_series import read_dataset
from y90dose.imaging.image import Grid, Image, require_same_frame
from y90dose.imaging.vois import BoolArray, EmptyVoiError, VoiNotFoundError, Vois

#: Largest spread (in slices of the target grid) of a contour's points along the slice
#: axis for it still to be treated as lying in one slice plane.
PLANARITY_TOLERANCE_SLICES = 0.1
#: Points this far outside the grid (in voxels) count as outside the image.
OUTSIDE_TOLERANCE_VOXELS = 0.5


@dataclass(frozen=True)
class Roi:
    """One ROI of a structure set: its name, number and closed planar contours (mm)."""

    number: int
    name: str
    contours_mm: tuple[npt.NDArray[np.float64], ...]
    frame_of_reference_uid: str | None


def _raw_decimal_strings(contour: Dataset) -> npt.NDArray[np.float64] | None:
    """ContourData parsed from its stored text (DS, ``"x\\y\\z..."``) by numpy, or None.

    pydicom makes a Python object per number (about 20x slower for a liver's contours);
    numpy's parse of the same text gives the same float64 values.
    """
    raw = contour.get_item("ContourData")
    if not isinstance(raw, RawDataElement) or not isinstance(raw.value, bytes):
        return None
    try:
        return np.array(raw.value.split(b"\\"), dtype=np.float64)
    except ValueError:  # empty or malformed values: pydicom's own conversion decides
        return None


def _contour_points(contour: Dataset) -> npt.NDArray[np.float64]:
    points = _raw_decimal_strings(contour)
    if points is None:
        value = contour["ContourData"].value
        points = np.asarray([float(v) for v in value] if not isinstance(value, float) else [value])
    if points.size % 3 or points.size < 9:
        raise ImageError(f"ContourData with {points.size} numbers is not a polygon of >= 3 points")
    return points.reshape(-1, 3)


def read_rois(path: str | Path) -> tuple[list[Roi], Dataset]:
    """All ROIs of an RTSTRUCT file with their closed planar contours.

    ROIs without CLOSED_PLANAR contours (points, open lines, empty) are kept with no
    contours so that asking for them gives a clear error.

    Raises
    ------
    ImageError
        If the file is not a readable RTSTRUCT.
    """
    path = Path(path)
    ds = read_dataset(path)
    if str(ds.get("Modality", "")) != "RTSTRUCT" or "StructureSetROISequence" not in ds:
        raise ImageError(f"{path}: not an RTSTRUCT (Modality {ds.get('Modality')!r})")
    names: dict[int, tuple[str, str | None]] = {}
    for item in ds.StructureSetROISequence:
        names[int(item.ROINumber)] = (
            str(item.get("ROIName", f"ROI {item.ROINumber}")),
            str(item.ReferencedFrameOfReferenceUID)
            if "ReferencedFrameOfReferenceUID" in item
            else None,
        )
    rois: list[Roi] = []
    for item in ds.get("ROIContourSequence", []):
        number = int(item.ReferencedROINumber)
        name, frame = names.get(number, (f"ROI {number}", None))
        contours: list[npt.NDArray[np.float64]] = []
        for contour in item.get("ContourSequence", []):
            if str(contour.get("ContourGeometricType", "")) != "CLOSED_PLANAR":
                continue
            try:
                contours.append(_contour_points(contour))
            except ImageError as error:
                raise ImageError(f"{path}: ROI {name!r}: {error}") from error
        rois.append(Roi(number, name, tuple(contours), frame))
    return rois, ds


def structure_set_frame_uid(ds: Dataset) -> str | None:
    """FrameOfReferenceUID the structure set refers to (first referenced frame)."""
    frames = ds.get("ReferencedFrameOfReferenceSequence")
    if frames and "FrameOfReferenceUID" in frames[0]:
        return str(frames[0].FrameOfReferenceUID)
    return None


def roi_names(path: str | Path) -> list[str]:
    """Names of the ROIs of an RTSTRUCT, in StructureSetROISequence order."""
    rois, _ = read_rois(path)
    return [roi.name for roi in rois]


def _crossings_mask(
    polygons_ij: Sequence[npt.NDArray[np.float64]], shape_yx: tuple[int, int]
) -> BoolArray:
    """Even-odd fill of polygons (continuous (i, j) vertices) sampled at voxel centres."""
    ny, nx = shape_yx
    counts = np.zeros((ny, nx + 1), dtype=np.int32)
    for polygon in polygons_ij:
        x0, y0 = polygon[:, 0], polygon[:, 1]
        x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
        y_low, y_high = np.minimum(y0, y1), np.maximum(y0, y1)
        first_row = np.ceil(y_low).astype(np.int64)
        n_rows = np.ceil(y_high).astype(np.int64) - first_row  # rows with y_low <= j < y_high
        keep = n_rows > 0
        if not keep.any():
            continue
        x0, y0, x1, y1 = x0[keep], y0[keep], x1[keep], y1[keep]
        first_row, n_rows = first_row[keep], n_rows[keep]
        edge = np.repeat(np.arange(n_rows.size), n_rows)
        offset = np.arange(edge.size) - np.repeat(np.cumsum(n_rows) - n_rows, n_rows)
        rows = first_row[edge] + offset
        t = (rows - y0[edge]) / (y1[edge] - y0[edge])
        x_cross = x0[edge] + t * (x1[edge] - x0[edge])
        cols = np.clip(np.ceil(x_cross), 0, nx).astype(np.int64)
        valid = (rows >= 0) & (rows < ny)
        np.add.at(counts, (rows[valid], cols[valid]), 1)
    parity = np.cumsum(counts[:, :nx], axis=1) % 2
    return parity.astype(bool)


def _smallest_gap(positions: npt.NDArray[np.float64]) -> float:
    """Smallest distance between consecutive contour planes (1 when there is one plane).

    The smallest gap, not the median: a gap of several planes inside an ROI (two lesions,
    or a structure that stops and starts) must stay empty rather than be bridged.
    """
    gaps = np.diff(positions)
    gaps = gaps[gaps > 1e-3]
    return float(gaps.min()) if gaps.size else 1.0


def structure_set_plane_spacing_mm(
    contour_sets: Iterable[Sequence[npt.NDArray[np.float64]]], grid: Grid
) -> float | None:
    """The contouring plane spacing of a whole structure set (mm along the grid's slice axis).

    The smallest gap between contour planes over every ROI: the slice spacing of the image
    the contours were drawn on. An ROI contoured on two planes two slices apart is then
    read as two slabs with an empty slice between them, as drawn.
    """
    positions: set[float] = set()
    for contours in contour_sets:
        for points in contours:
            positions.add(round(float(grid.physical_mm_to_index(points)[:, 2].mean()), 3))
    if len(positions) < 2:
        return None
    return _smallest_gap(np.asarray(sorted(positions))) * grid.spacing_mm[2]


def rasterise_contours(
    contours_mm: Sequence[npt.NDArray[np.float64]],
    grid: Grid,
    *,
    name: str = "ROI",
    plane_spacing_mm: float | None = None,
) -> tuple[BoolArray, float]:
    """Boolean mask of closed planar contours on ``grid`` and the fraction of contour
    points outside the grid.

    Parameters
    ----------
    contours_mm
        Each an ``(N, 3)`` array of patient coordinates (mm, LPS) of one closed polygon.
    grid
        Target voxel grid.
    name
        ROI name for messages.

    Raises
    ------
    GeometryError
        If a contour is not parallel to the grid's slices.
    """
    mask = np.zeros(grid.shape_zyx, dtype=bool)
    if not contours_mm:
        return mask, 0.0
    nz, ny, nx = grid.shape_zyx
    planes: dict[float, list[npt.NDArray[np.float64]]] = {}
    outside = 0
    total = 0
    for points in contours_mm:
        ijk = grid.physical_mm_to_index(points)
        k = ijk[:, 2]
        if float(k.max() - k.min()) > PLANARITY_TOLERANCE_SLICES:
            raise GeometryError(
                f"ROI {name!r}: a contour spans {float(k.max() - k.min()):.2f} slices of the "
                "target grid; contours must lie in the grid's slice planes (oblique or "
                "sagittal/coronal contours are not supported)"
            )
        limits = np.asarray([nx, ny, nz], dtype=np.float64) - 0.5 + OUTSIDE_TOLERANCE_VOXELS
        out = np.any((ijk < -0.5 - OUTSIDE_TOLERANCE_VOXELS) | (ijk > limits), axis=1)
        outside += int(out.sum())
        total += len(points)
        key = round(float(k.mean()), 3)
        planes.setdefault(key, []).append(ijk[:, :2])
    positions = np.asarray(sorted(planes))
    if plane_spacing_mm is not None:
        plane_spacing = plane_spacing_mm / grid.spacing_mm[2]
    else:
        plane_spacing = _smallest_gap(positions)
    reach = max(0.5, plane_spacing / 2.0) + 1e-6
    slices = np.arange(nz, dtype=np.float64)
    nearest = np.abs(slices[:, None] - positions[None, :]).argmin(axis=1)
    distance = np.abs(slices - positions[nearest])
    filled: dict[int, BoolArray] = {}
    for slice_index in np.flatnonzero(distance <= reach).tolist():
        plane_index = int(nearest[slice_index])
        if plane_index not in filled:
            filled[plane_index] = _crossings_mask(planes[float(positions[plane_index])], (ny, nx))
        mask[slice_index] = filled[plane_index]
    return mask, outside / total


def read_rtstruct(
    path: str | Path,
    image: Image | Grid,
    *,
    names: Iterable[str] | None = None,
    allow_partial: bool = False,
) -> Vois:
    """Rasterise the ROIs of an RTSTRUCT onto the grid of ``image``.

    Parameters
    ----------
    path
        The RTSTRUCT file.
    image
        Image (or grid) to rasterise onto; its FrameOfReferenceUID, when known, must equal
        the structure set's.
    names
        ROIs to take (exact ROIName); by default every ROI that has closed contours.
    allow_partial
        Accept ROIs with contour points outside the grid (the part inside is kept). By
        default that is refused, because a dose statistic over a cut VOI misleads.

    Returns
    -------
    Vois
        Name -> mask on the grid of ``image``.

    Raises
    ------
    GeometryError
        If the frames of reference differ (both UIDs named) or a contour is oblique.
    VoiNotFoundError
        If a requested name is not in the file (the available names are listed).
    EmptyVoiError
        If a ROI has no contour, no voxel on the grid, or (without ``allow_partial``)
        lies partly outside the image.

    Examples
    --------
    >>> vois = read_rtstruct("RS.dcm", ct, names=["liver", "tumor1"])  # doctest: +SKIP
    >>> vois.volume_ml("liver")  # doctest: +SKIP
    1532.4
    """
    path = Path(path)
    grid = image.grid if isinstance(image, Image) else image
    requested = None if names is None else list(names)
    rois, ds = read_rois(path)
    require_same_frame(
        structure_set_frame_uid(ds),
        grid.frame_of_reference_uid,
        what_a=f"RTSTRUCT {path}",
        what_b="the image",
    )
    by_name: dict[str, Roi] = {}
    for roi in rois:
        if roi.name in by_name and (requested is None or roi.name in requested):
            raise ImageError(f"{path}: two ROIs are named {roi.name!r}; names must be unique")
        by_name[roi.name] = roi
    if requested is None:
        wanted = [roi.name for roi in rois if roi.contours_mm]
        if not wanted:
            raise EmptyVoiError(f"{path}: no ROI has closed planar contours")
    else:
        wanted = requested
        missing = [n for n in wanted if n not in by_name]
        if missing:
            raise VoiNotFoundError(f"{path}: no ROI named {missing}; available: {sorted(by_name)}")
    masks: dict[str, BoolArray] = {}
    plane_spacing_mm = structure_set_plane_spacing_mm(
        [roi.contours_mm for roi in rois if roi.contours_mm], grid
    )
    for name in wanted:
        roi = by_name[name]
        require_same_frame(
            roi.frame_of_reference_uid,
            grid.frame_of_reference_uid,
            what_a=f"ROI {name!r} of {path}",
            what_b="the image",
        )
        if not roi.contours_mm:
            raise EmptyVoiError(f"{path}: ROI {name!r} has no closed planar contour")
        mask, fraction_outside = rasterise_contours(
            roi.contours_mm, grid, name=name, plane_spacing_mm=plane_spacing_mm
        )
        if not mask.any():
            raise EmptyVoiError(
                f"{path}: ROI {name!r} has no voxel on the image grid "
                f"({100 * fraction_outside:.0f} % of its contour points lie outside the image)"
            )
        if fraction_outside > 0 and not allow_partial:
            raise EmptyVoiError(
                f"{path}: ROI {name!r} extends outside the image ({100 * fraction_outside:.1f} % "
                "of its contour points); pass allow_partial=True to keep the part inside"
            )
        masks[name] = mask
    return Vois(grid, masks)


def contours_summary(rois: Sequence[Roi]) -> dict[str, Any]:
    """Name -> number of closed contours, for logs and error messages."""
    return {roi.name: len(roi.contours_mm) for roi in rois}
