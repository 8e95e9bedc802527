"""Resampling images and masks onto another voxel grid (SimpleITK).

Linear interpolation suits concentrations and doses (Bq/mL, Gy): values at the target
voxel centres are interpolated, so the *integral* (total activity) is not conserved when
the grid becomes coarser; use :func:`total_activity_bq` on the source if it matters.
Masks use nearest neighbour, so each target voxel takes the label of the source voxel
whose centre is closest. Target voxels outside the source get ``outside_value``, which
the caller must choose (there is no silent default for images). As in SimpleITK, the
source extends half a voxel beyond its outer voxel centres; in that outer half voxel the
edge value is held (not extrapolated).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import SimpleITK as sitk  # noqa: N813

from y90dose.errors import InputError
from y90dose.imaging.image import Grid, Image, require_same_frame

Interpolation = Literal["linear", "nearest", "bspline"]

_INTERPOLATORS = {
    "linear": sitk.sitkLinear,
    "nearest": sitk.sitkNearestNeighbor,
    "bspline": sitk.sitkBSpline,
}


def _target_grid(target: Image | Grid) -> Grid:
    return target.grid if isinstance(target, Image) else target


def _resample(
    source: sitk.Image, grid: Grid, interpolator: int, outside_value: float, pixel_type: int
) -> sitk.Image:
    """``source`` resampled onto ``grid`` (identity transform), without allocating a
    reference image of the target's size."""
    z, y, x = grid.shape_zyx
    resampler = sitk.ResampleImageFilter()
    resampler.SetSize([x, y, z])
    resampler.SetOutputOrigin(tuple(float(v) for v in grid.origin_mm))
    resampler.SetOutputSpacing(tuple(float(v) for v in grid.spacing_mm))
    resampler.SetOutputDirection(tuple(grid.direction.ravel().tolist()))
    resampler.SetTransform(sitk.Transform())
    resampler.SetInterpolator(interpolator)
    resampler.SetDefaultPixelValue(outside_value)
    resampler.SetOutputPixelType(pixel_type)
    result: sitk.Image = resampler.Execute(source)
    return result


def resample_image(
    image: Image,
    target: Image | Grid,
    *,
    outside_value: float,
    interpolation: Interpolation = "linear",
) -> Image:
    """``image`` resampled onto the grid of ``target``; metadata kept, geometry replaced.

    Parameters
    ----------
    image
        Source volume (e.g. SPECT activity or dose).
    target
        The grid to resample onto (e.g. the CT).
    outside_value
        Value of target voxels whose centre lies outside the source volume (e.g. 0.0
        for activity or dose, -1000.0 for CT in HU, ``nan`` to mark them).
    interpolation
        ``"linear"`` (default, for continuous quantities), ``"nearest"`` or ``"bspline"``.

    Raises
    ------
    GeometryError
        If both frames of reference are known and differ.
    InputError
        If ``interpolation`` is not one of the allowed names.

    Examples
    --------
    >>> dose_on_ct = resample_image(spect_dose, ct, outside_value=0.0)  # doctest: +SKIP
    """
    if interpolation not in _INTERPOLATORS:
        raise InputError("interpolation", interpolation, f"one of {sorted(_INTERPOLATORS)}")
    grid = _target_grid(target)
    require_same_frame(
        image.frame_of_reference_uid,
        grid.frame_of_reference_uid,
        what_a="the image to resample",
        what_b="the target grid",
    )
    if image.same_geometry(grid):
        return image
    result = _resample(
        image.to_sitk(),
        grid,
        _INTERPOLATORS[interpolation],
        float(outside_value),
        sitk.sitkFloat64 if image.array.dtype == np.float64 else sitk.sitkFloat32,
    )
    array = sitk.GetArrayFromImage(result)
    del result
    fields: dict[str, Any] = {
        "origin_mm": grid.origin_mm,
        "spacing_mm": grid.spacing_mm,
        "direction": grid.direction,
        "frame_of_reference_uid": image.frame_of_reference_uid or grid.frame_of_reference_uid,
        "sop_instance_uids": (),
        "metadata": {**image.metadata, "resampled_from_spacing_mm": image.spacing_mm},
    }
    return replace(image, array=array, **fields)


def resample_mask(
    mask: npt.NDArray[np.bool_], source: Grid, target: Image | Grid
) -> npt.NDArray[np.bool_]:
    """A boolean mask on ``source`` resampled onto ``target`` by nearest neighbour.

    Voxels outside the source grid are ``False``.

    Raises
    ------
    GeometryError
        If both frames of reference are known and differ.
    """
    if mask.shape != source.shape_zyx:
        raise InputError("mask", f"shape {mask.shape}", f"the source grid's {source.shape_zyx}")
    grid = _target_grid(target)
    require_same_frame(
        source.frame_of_reference_uid,
        grid.frame_of_reference_uid,
        what_a="the mask",
        what_b="the target grid",
    )
    if source.same_geometry(grid):
        return mask.astype(bool)
    labels = resample_labels(mask.astype(np.uint8), source, grid)
    return labels.astype(bool)


def resample_labels(
    labels: npt.NDArray[np.integer[Any]], source: Grid, target: Image | Grid
) -> npt.NDArray[np.int32]:
    """An integer label volume resampled by nearest neighbour (0 outside the source)."""
    grid = _target_grid(target)
    image = sitk.GetImageFromArray(np.ascontiguousarray(labels.astype(np.int32)))
    image.SetOrigin(source.origin_mm)
    image.SetSpacing(source.spacing_mm)
    image.SetDirection(tuple(source.direction.ravel().tolist()))
    result = _resample(image, grid, sitk.sitkNearestNeighbor, 0.0, sitk.sitkInt32)
    out: npt.NDArray[np.int32] = sitk.GetArrayFromImage(result)
    return out


def total_activity_bq(activity_bq_per_ml: Image) -> float:
    """Sum of concentration x voxel volume: total activity (Bq) of a Bq/mL image."""
    return float(np.nansum(activity_bq_per_ml.array)) * activity_bq_per_ml.voxel_volume_ml
