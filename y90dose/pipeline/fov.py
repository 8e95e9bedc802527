"""VOIs cut by the emission image's field of view: how much of each lies outside it.

A SPECT's axial field of view (about 40 cm) often cuts the lung apices. A lung VOI drawn
on the CT then extends beyond the SPECT, and the lung counts outside are missing from the
lung shunt fraction measured on it, which is underestimated. To know how much is
outside, the VOIs are rasterised on the SPECT grid padded by its own length above and
below and by half its width on each side (same voxel centres inside, so the crop back to
the SPECT grid is the VOI on the SPECT grid), and the fraction of each VOI's voxels
outside the crop is counted. A VOI that reaches a face of the SPECT grid without
extending beyond it (a label map drawn on the SPECT) may still be cut: that is said too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from y90dose.findings import Code, Finding, Severity
from y90dose.imaging.image import Grid
from y90dose.imaging.vois import EmptyVoiError, Vois
from y90dose.pipeline.inputs import VoiSource, read_vois

PAD_Z = 1.0
"""Padding above and below, as a fraction of the grid's length along z."""
PAD_XY = 0.5
"""Padding on each side in x and y, as a fraction of the grid's width."""


def _padded(grid: Grid) -> tuple[Grid, tuple[int, int, int]]:
    """``grid`` grown by the padding (same spacing and voxel centres), and the offset."""
    nz, ny, nx = grid.shape_zyx
    pz, py, px = int(np.ceil(PAD_Z * nz)), int(np.ceil(PAD_XY * ny)), int(np.ceil(PAD_XY * nx))
    origin = np.asarray(grid.origin_mm) - grid.index_to_physical_matrix @ np.array(
        [px, py, pz], dtype=np.float64
    )
    big = Grid(
        (nz + 2 * pz, ny + 2 * py, nx + 2 * px),
        (float(origin[0]), float(origin[1]), float(origin[2])),
        grid.spacing_mm,
        grid.direction,
        grid.frame_of_reference_uid,
    )
    return big, (pz, py, px)


def read_vois_outside(
    path: str | Path, grid: Grid, *, roi_names: Any = None
) -> tuple[Vois, VoiSource, dict[str, float]]:
    """The VOIs on ``grid`` (the part inside) and the fraction of each outside it.

    Raises
    ------
    EmptyVoiError
        A VOI with no voxel inside ``grid``.
    """
    big, (pz, py, px) = _padded(grid)
    vois_big, source = read_vois(path, big, roi_names=roi_names, allow_partial=True)
    nz, ny, nx = grid.shape_zyx
    masks = {}
    outside = {}
    for name in vois_big:
        mask = vois_big[name]
        inner = mask[pz : pz + nz, py : py + ny, px : px + nx]
        inside = int(np.count_nonzero(inner))
        if inside == 0:
            raise EmptyVoiError(
                f"{path}: VOI {name!r} has no voxel inside the emission image (it lies "
                "outside its field of view)",
                field="vois",
            )
        outside[name] = 1.0 - inside / int(np.count_nonzero(mask))
        masks[name] = inner
    return Vois(grid, masks), source, outside


def refuse_cut(outside: dict[str, float], names: list[str], path: str | Path) -> None:
    """Refuse VOIs (other than the lungs) that extend outside the emission image, as a
    strict reading of the VOIs does."""
    for name in names:
        if outside.get(name, 0.0) > 0.0:
            raise EmptyVoiError(
                f"{path}: VOI {name!r} extends outside the emission image "
                f"({100 * outside[name]:.1f} % of its voxels); crop it to the image first",
                field="vois",
            )


def reaches_a_face(mask: np.ndarray[Any, Any]) -> bool:
    """True when ``mask`` has a voxel on a face of its grid."""
    return any(
        np.take(mask, index, axis=axis).any()
        for axis in range(3)
        for index in (0, mask.shape[axis] - 1)
    )


def lung_fov_finding(
    lung_roi: str, fraction_outside: float, reaches_edge: bool, lsf: float, lsf_used: bool
) -> Finding | None:
    """``LSF_LUNG_VOI_OUTSIDE_FOV`` when the lung VOI is (or may be) cut by the SPECT's field
    of view; a warning when the plan uses the LSF measured on it, else information."""
    if fraction_outside <= 0.0 and not reaches_edge:
        return None
    if fraction_outside > 0.0:
        where = (
            f"{100 * fraction_outside:.1f} % of lung VOI {lung_roi!r} lies outside the SPECT "
            "field of view"
        )
    else:
        where = (
            f"lung VOI {lung_roi!r} reaches the edge of the SPECT field of view (part of the "
            "lungs may lie outside it)"
        )
    use = "the plan uses it" if lsf_used else "the plan uses the given LSF"
    return Finding(
        severity=Severity.WARNING if lsf_used else Severity.INFO,
        code=Code.LSF_LUNG_VOI_OUTSIDE_FOV,
        message=f"{where}: the LSF measured on it ({100 * lsf:.2f} %) misses those lung "
        f"counts and is an underestimate ({use}); compare with a planar LSF",
    )
