"""Mass density on the dose grid from a CT: HU -> g/mL, then averaged into each dose voxel.

The CT's voxels are much smaller than the emission image's (about 1 x 1 x 3 mm against
4-5 mm), so sampling the CT at the dose-voxel centres would take one noisy CT voxel per
dose voxel. Instead each CT voxel is converted to a density with the calibration curve
(:func:`y90dose.voxel.density.hu_to_density`) and assigned to the dose voxel containing
its centre; the dose voxel's density is the mean over its CT voxels, i.e. its mass
divided by its volume, which is what ``dose = energy / local mass`` needs.

Dose voxels that contain no CT voxel centre take the density of the CT voxel nearest
their centre when they lie inside the CT, and the liver density
(:data:`y90dose.constants.LIVER_DENSITY_G_ML`) when they lie outside the CT's field of
view; both counts are reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from y90dose.constants import LIVER_DENSITY_G_ML
from y90dose.imaging.image import Grid, Image
from y90dose.voxel.density import DEFAULT_HU_DENSITY_CURVE, HuDensityCurve, hu_to_density

_AXIS_TOLERANCE = 1e-6


@dataclass(frozen=True)
class GridDensity:
    """Density per dose voxel (g/mL, float64, array axes z, y, x) and how it was obtained."""

    density_g_ml: npt.NDArray[np.float64]
    curve: HuDensityCurve
    averaged_voxels: int
    nearest_voxels: int
    outside_ct_voxels: int
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def provenance(self) -> dict[str, Any]:
        """JSON-able description (no arrays)."""
        return {
            "source": "CT",
            "hu_density_curve": self.curve.source,
            "hu_density_points": [list(p) for p in self.curve.points],
            "method": "mean density of the CT voxels whose centres lie in each dose voxel",
            "averaged_voxels": self.averaged_voxels,
            "nearest_ct_voxel_voxels": self.nearest_voxels,
            "outside_ct_voxels": self.outside_ct_voxels,
            "outside_ct_density_g_ml": LIVER_DENSITY_G_ML.value,
            "warnings": list(self.warnings),
        }


def _axis_map(ct: Grid, target: Grid) -> npt.NDArray[np.float64] | None:
    """3x3 matrix A and offset so that target index = A @ ct index + b, if A is diagonal."""
    matrix = np.linalg.inv(target.index_to_physical_matrix) @ ct.index_to_physical_matrix
    off_diagonal = matrix - np.diag(np.diag(matrix))
    if np.max(np.abs(off_diagonal)) > _AXIS_TOLERANCE:
        return None
    return matrix


def _bin_indices(count: int, scale: float, offset: float, size: int) -> npt.NDArray[np.intp]:
    """Target index (or -1 outside) of each of ``count`` source indices along one axis."""
    index = np.floor(np.arange(count) * scale + offset + 0.5).astype(np.intp)
    index[(index < 0) | (index >= size)] = -1
    return index


def _bin_sum(
    values: npt.NDArray[np.float64], index: npt.NDArray[np.intp], size: int, axis: int
) -> npt.NDArray[np.float64]:
    """Sum of ``values`` along ``axis`` into ``size`` bins given each element's bin (-1: none).

    ``index`` is monotonic along the axis (an axis-aligned grid), so the valid elements of
    each bin are contiguous and one ``np.add.reduceat`` does the binning.
    """
    shape = list(values.shape)
    shape[axis] = size
    out = np.zeros(shape, dtype=np.float64)
    valid = np.flatnonzero(index >= 0)
    if valid.size == 0:
        return out
    chosen = index[valid]
    taken = np.take(values, valid, axis=axis)
    starts = np.flatnonzero(np.concatenate([[True], chosen[1:] != chosen[:-1]]))
    sums = np.add.reduceat(taken, starts, axis=axis)
    target = [slice(None)] * values.ndim
    target[axis] = chosen[starts]  # type: ignore[call-overload]
    out[tuple(target)] = sums  # each bin's elements are contiguous: one sum per bin
    return out


def density_on_grid(
    ct: Image, target: Grid, curve: HuDensityCurve = DEFAULT_HU_DENSITY_CURVE
) -> GridDensity:
    """Mean density (g/mL) of the CT inside each voxel of ``target`` (module docstring).

    Parameters
    ----------
    ct
        CT in HU, in the target's frame of reference.
    target
        The dose grid.
    curve
        HU -> density calibration (default: :data:`DEFAULT_HU_DENSITY_CURVE`).

    Returns
    -------
    GridDensity

    Examples
    --------
    >>> ct = Image(np.zeros((4, 4, 4)), (0.5, 0.5, 0.5), (1.0, 1.0, 1.0))
    >>> g = density_on_grid(ct, Grid((2, 2, 2), (1.0, 1.0, 1.0), (2.0, 2.0, 2.0)))
    >>> g.density_g_ml.tolist() == np.ones((2, 2, 2)).tolist()
    True
    """
    nz, ny, nx = target.shape_zyx
    sums = np.zeros(target.shape_zyx, dtype=np.float64)
    counts = np.zeros(target.shape_zyx, dtype=np.float64)
    warnings: list[str] = []
    below = above = 0
    matrix = _axis_map(ct.grid, target)
    offset = np.linalg.inv(target.index_to_physical_matrix) @ (
        np.asarray(ct.origin_mm) - np.asarray(target.origin_mm)
    )
    cz, cy, cx = ct.shape_zyx
    if matrix is not None:
        rows = _bin_indices(cy, matrix[1, 1], offset[1], ny)
        cols = _bin_indices(cx, matrix[0, 0], offset[0], nx)
        slices = _bin_indices(cz, matrix[2, 2], offset[2], nz)
        per_plane = np.outer(
            np.bincount(rows[rows >= 0], minlength=ny), np.bincount(cols[cols >= 0], minlength=nx)
        )
        for k in range(cz):
            tk = int(slices[k])
            if tk < 0:
                continue
            converted = hu_to_density(ct.array[k], curve)
            below += converted.below_range_voxels
            above += converted.above_range_voxels
            plane = converted.density_g_ml.astype(np.float64)
            sums[tk] += _bin_sum(_bin_sum(plane, rows, ny, 0), cols, nx, 1)
            counts[tk] += per_plane
    else:
        inverse = np.linalg.inv(target.index_to_physical_matrix)
        jj, ii = np.meshgrid(np.arange(cy), np.arange(cx), indexing="ij")
        for k in range(cz):
            converted = hu_to_density(ct.array[k], curve)
            below += converted.below_range_voxels
            above += converted.above_range_voxels
            ijk = np.column_stack([ii.ravel(), jj.ravel(), np.full(ii.size, k)]).astype(float)
            points = ct.grid.index_to_physical_mm(ijk) - np.asarray(target.origin_mm)
            index = np.floor(points @ inverse.T + 0.5).astype(np.intp)
            valid = np.all((index >= 0) & (index < (nx, ny, nz)), axis=1)
            flat = np.ravel_multi_index(
                (index[valid, 2], index[valid, 1], index[valid, 0]), target.shape_zyx
            )
            values = converted.density_g_ml.ravel()[valid]
            sums.ravel()[:] += np.bincount(flat, weights=values, minlength=sums.size)
            counts.ravel()[:] += np.bincount(flat, minlength=sums.size)
    if below or above:
        warnings.append(
            f"CT: {below} voxel(s) below and {above} above the HU range of the calibration "
            "curve took its end densities"
        )
    density = np.full(target.shape_zyx, np.nan, dtype=np.float64)
    filled = counts > 0
    density[filled] = sums[filled] / counts[filled]
    empty = np.argwhere(~filled)  # (n, 3) in z, y, x
    nearest = outside = 0
    if empty.size:
        points = target.index_to_physical_mm(empty[:, ::-1].astype(np.float64))
        ct_index = np.floor(ct.grid.physical_mm_to_index(points) + 0.5).astype(np.intp)
        inside = np.all((ct_index >= 0) & (ct_index < (cx, cy, cz)), axis=1)
        if inside.any():
            hu = ct.array[ct_index[inside, 2], ct_index[inside, 1], ct_index[inside, 0]]
            values = hu_to_density(hu, curve).density_g_ml
            density[empty[inside, 0], empty[inside, 1], empty[inside, 2]] = values
        nearest = int(inside.sum())
        outside = int((~inside).sum())
        density[empty[~inside, 0], empty[~inside, 1], empty[~inside, 2]] = LIVER_DENSITY_G_ML.value
        if outside:
            warnings.append(
                f"{outside} dose voxel(s) lie outside the CT's field of view and took the "
                f"liver density {LIVER_DENSITY_G_ML.value} g/mL"
            )
    return GridDensity(
        density_g_ml=density,
        curve=curve,
        averaged_voxels=int(filled.sum()),
        nearest_voxels=nearest,
        outside_ct_voxels=outside,
        warnings=tuple(warnings),
    )
