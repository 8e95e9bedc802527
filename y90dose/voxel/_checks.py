"""Argument checks shared by the voxel modules: spacing, arrays, densities.

Every check raises :class:`~y90dose.errors.InputError` naming the argument, the value and
what is allowed; nothing is clamped silently.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from y90dose.errors import GeometryError, InputError


def check_spacing_zyx_mm(
    spacing_zyx_mm: float | Sequence[float] | NDArray[np.floating],
    *,
    field: str = "spacing_zyx_mm",
    min_mm: float = 0.0,
    max_mm: float = math.inf,
    min_inclusive: bool = False,
) -> tuple[float, float, float]:
    """Voxel spacing as three floats in array-axis order (z, y, x), each in (min_mm, max_mm].

    A single number means an isotropic voxel.
    """
    raw = np.atleast_1d(np.asarray(spacing_zyx_mm, dtype=float)).ravel()
    if raw.size == 1:
        raw = np.repeat(raw, 3)
    if raw.size != 3:
        raise InputError(
            field, list(map(float, raw)), "one number or three numbers (z, y, x) in mm"
        )
    for value in raw:
        too_small = value < min_mm if min_inclusive else value <= min_mm
        if not math.isfinite(value) or too_small or value > max_mm:
            lower = ">=" if min_inclusive else ">"
            limit = "" if math.isinf(max_mm) else f" and <= {max_mm:g}"
            raise InputError(
                field, tuple(map(float, raw)), f"each spacing {lower} {min_mm:g}{limit} mm"
            )
    return (float(raw[0]), float(raw[1]), float(raw[2]))


def check_volume(values: ArrayLike, *, field: str, allow_negative: bool = False) -> NDArray[Any]:
    """A finite 3-D array; negative values refused unless ``allow_negative``."""
    array = np.asarray(values)
    if array.ndim != 3:
        raise InputError(field, f"array of shape {array.shape}", "a 3-D array (z, y, x)")
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise InputError(field, f"array of dtype {array.dtype}", "a real numeric array")
    if not np.all(np.isfinite(array)):
        bad = int(np.count_nonzero(~np.isfinite(array)))
        raise InputError(field, f"{bad} NaN or infinite voxel(s)", "finite values only")
    if not allow_negative and array.size and float(array.min()) < 0.0:
        raise InputError(
            field,
            f"minimum {float(array.min()):g} ({int(np.count_nonzero(array < 0))} negative "
            "voxel(s))",
            "values >= 0",
        )
    return array


def check_density(
    density_g_ml: float | ArrayLike,
    shape: tuple[int, ...],
    *,
    field: str = "density_g_ml",
    keep_dtype: bool = False,
) -> NDArray[Any] | float:
    """A density > 0 g/mL: one number, or an array of the image's shape.

    A map is returned as float64, or with ``keep_dtype`` a float32/float64 map as it is
    (no full-size copy; the caller converts what it uses).
    """
    if np.ndim(density_g_ml) == 0:
        value = float(density_g_ml)  # type: ignore[arg-type]
        if not math.isfinite(value) or value <= 0.0:
            raise InputError(field, value, "a density > 0 g/mL")
        return value
    array = np.asarray(density_g_ml)
    if not (keep_dtype and array.dtype in (np.float32, np.float64)):
        array = array.astype(np.float64, copy=False)
    if array.shape != shape:
        raise GeometryError(
            f"{field}: density map of shape {array.shape} does not match the activity "
            f"image of shape {shape}"
        )
    if not np.all(np.isfinite(array)) or float(array.min()) <= 0.0:
        raise InputError(
            field, f"minimum {float(np.nanmin(array)):g}", "a density > 0 g/mL in every voxel"
        )
    return array


def check_mask(
    mask: ArrayLike, shape: tuple[int, ...], *, field: str = "mask"
) -> NDArray[np.bool_]:
    """A boolean mask of the image's shape with at least one voxel."""
    array = np.asarray(mask)
    if array.shape != shape:
        raise GeometryError(
            f"{field}: mask of shape {array.shape} does not match the image of shape {shape}"
        )
    if array.dtype != np.bool_:
        if not np.all(np.isin(array, (0, 1))):
            raise InputError(field, f"values {np.unique(array)[:5].tolist()}", "0/1 or boolean")
        array = array.astype(bool)
    if not array.any():
        raise InputError(field, "empty mask (0 voxels)", "a mask with at least one voxel")
    return array
