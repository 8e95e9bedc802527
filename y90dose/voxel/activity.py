"""Activity maps (GBq per voxel) from reconstructed images.

Three ways, each returning the map and a description of the scaling for the report:

(a) ``activity_from_counts``: post-treatment Y-90 SPECT (bremsstrahlung) or PET whose
    voxel values are relative (counts): scaled so that the activity inside a mask (the
    liver, or the perfused volume) equals the activity that reached it,
    A_mask = A_administered x (1 - LSF) x (1 - R)  (physics.md 4.1; the "relative
    calibration" of Y-90 SPECT, EANM 2022 / MPPG 14.a). Microspheres are a permanent
    implant, so the image's distribution at scan time is the distribution of the activity
    at implantation; no decay correction is needed for the dose to complete decay.
(b) ``activity_from_concentration``: quantitative images already in Bq/mL (Y-90 PET):
    A_voxel = c x V_voxel. The concentration must be decay corrected to the implantation
    time by the caller (the reader of the image knows the acquisition time).
(c) ``activity_predictive_from_maa``: pre-treatment Tc-99m MAA SPECT counts scaled to the
    planned activity, as (a) with the planned activity: a *predictive* dose map.

Refused: negative or non-finite voxel values, an empty mask, a mask without counts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from y90dose.errors import InputError
from y90dose.voxel._checks import check_mask, check_spacing_zyx_mm, check_volume

__all__ = [
    "ActivityMap",
    "ActivityMethod",
    "activity_from_concentration",
    "activity_from_counts",
    "activity_predictive_from_maa",
]


class ActivityMethod(StrEnum):
    """How an activity map was obtained."""

    COUNTS_SCALED = "counts_scaled"
    CONCENTRATION = "concentration_bq_ml"
    CONCENTRATION_RESCALED = "concentration_rescaled"
    """A Bq/mL image rescaled so that a mask holds a given activity (its shape kept)."""
    PREDICTIVE_MAA = "predictive_maa"


@dataclass(frozen=True)
class ActivityMap:
    """Activity per voxel (GBq) with the scaling used.

    Attributes
    ----------
    activity_gbq
        GBq per voxel (float64), the image's shape (z, y, x).
    spacing_zyx_mm
        Voxel size (z, y, x), mm.
    method
        See :class:`ActivityMethod`.
    scale_factor
        GBq per count (counts methods) or GBq per (Bq/mL) of one voxel (concentration).
    mask_name
        Name of the normalisation mask (``None`` if none was used).
    counts_in_mask
        Sum of the image inside the mask (counts methods).
    target_activity_gbq
        Activity the mask was scaled to: A x (1 - LSF) x (1 - R) (counts methods).
    activity_in_mask_gbq, activity_outside_mask_gbq
        Activity of the map inside / outside the mask (outside: image spill-out and
        extrahepatic uptake, kept unless ``zero_outside_mask``).
    description
        One sentence for a report.
    """

    activity_gbq: NDArray[np.float64]
    spacing_zyx_mm: tuple[float, float, float]
    method: ActivityMethod
    scale_factor: float
    mask_name: str | None
    counts_in_mask: float | None
    target_activity_gbq: float | None
    activity_in_mask_gbq: float
    activity_outside_mask_gbq: float
    description: str

    @property
    def total_activity_gbq(self) -> float:
        """Sum of the map, GBq."""
        return self.activity_in_mask_gbq + self.activity_outside_mask_gbq

    @property
    def fraction_outside_mask(self) -> float:
        """Share of the map's activity (= of the image's counts, the scaling being one factor)
        outside the normalisation mask, 0..1 (0 for an empty map)."""
        total = self.total_activity_gbq
        return self.activity_outside_mask_gbq / total if total > 0.0 else 0.0

    def provenance(self) -> dict[str, Any]:
        """JSON-able description (no arrays)."""
        return {
            "method": self.method.value,
            "spacing_zyx_mm": list(self.spacing_zyx_mm),
            "scale_factor": self.scale_factor,
            "mask_name": self.mask_name,
            "counts_in_mask": self.counts_in_mask,
            "target_activity_gbq": self.target_activity_gbq,
            "activity_in_mask_gbq": self.activity_in_mask_gbq,
            "activity_outside_mask_gbq": self.activity_outside_mask_gbq,
            "fraction_outside_mask": self.fraction_outside_mask,
            "description": self.description,
        }


def _fraction(name: str, value: float) -> float:
    number = float(value)
    if not math.isfinite(number) or number < 0.0 or number >= 1.0:
        raise InputError(name, value, "a fraction 0 <= value < 1")
    return number


def _positive_activity(name: str, value: float) -> float:
    number = float(value)
    if not math.isfinite(number) or number <= 0.0:
        raise InputError(name, value, "an activity > 0 GBq")
    return number


def _scale_counts(
    counts: ArrayLike,
    *,
    spacing_zyx_mm: float | Sequence[float],
    mask: ArrayLike,
    activity_gbq: float,
    activity_field: str,
    lung_shunt_fraction: float,
    residual_fraction: float,
    mask_name: str,
    zero_outside_mask: bool,
    method: ActivityMethod,
) -> ActivityMap:
    image = check_volume(counts, field="counts").astype(np.float64)
    spacing = check_spacing_zyx_mm(spacing_zyx_mm)
    inside = check_mask(mask, image.shape, field=f"mask '{mask_name}'")
    activity = _positive_activity(activity_field, activity_gbq)
    lsf = _fraction("lung_shunt_fraction", lung_shunt_fraction)
    residual = _fraction("residual_fraction", residual_fraction)
    counts_in_mask = float(image[inside].sum())
    if counts_in_mask <= 0.0:
        raise InputError(
            f"mask '{mask_name}'",
            "0 counts inside the mask",
            "a mask that contains counts (check the mask's registration to the image)",
        )
    target = activity * (1.0 - lsf) * (1.0 - residual)
    factor = target / counts_in_mask
    if zero_outside_mask:
        image[~inside] = 0.0
    image *= factor
    in_mask = float(image[inside].sum())
    outside = float(image[~inside].sum())
    kind = "planned" if method is ActivityMethod.PREDICTIVE_MAA else "administered"
    description = (
        f"{'MAA counts' if method is ActivityMethod.PREDICTIVE_MAA else 'counts'} scaled so "
        f"that '{mask_name}' holds {target:.4g} GBq = {activity:.4g} GBq {kind} x "
        f"(1 - LSF {lsf:.4g}) x (1 - residual {residual:.4g}); {counts_in_mask:.6g} counts in "
        f"the mask, {factor:.6g} GBq per count; {outside:.4g} GBq outside the mask "
        f"({outside / (in_mask + outside) if in_mask + outside > 0 else 0.0:.1%} of the "
        "image's counts)" + (" (set to zero)" if zero_outside_mask else "")
    )
    return ActivityMap(
        activity_gbq=image,
        spacing_zyx_mm=spacing,
        method=method,
        scale_factor=factor,
        mask_name=mask_name,
        counts_in_mask=counts_in_mask,
        target_activity_gbq=target,
        activity_in_mask_gbq=in_mask,
        activity_outside_mask_gbq=outside,
        description=description,
    )


def activity_from_counts(
    counts: ArrayLike,
    *,
    spacing_zyx_mm: float | Sequence[float],
    mask: ArrayLike,
    administered_activity_gbq: float,
    lung_shunt_fraction: float = 0.0,
    residual_fraction: float = 0.0,
    mask_name: str = "liver",
    zero_outside_mask: bool = False,
) -> ActivityMap:
    """Activity map from relative counts: the mask holds A x (1 - LSF) x (1 - R).

    Parameters
    ----------
    counts
        Reconstructed counts (3-D, z, y, x), >= 0.
    spacing_zyx_mm
        Voxel size (z, y, x) mm, or one number.
    mask
        Boolean mask of the normalisation volume (the liver or the perfused volume).
    administered_activity_gbq
        Activity administered (at implantation), GBq, > 0.
    lung_shunt_fraction, residual_fraction
        Fractions 0 <= f < 1 that did not reach the mask (lung, vial and tubing).
    mask_name
        Name of the mask for the report.
    zero_outside_mask
        Set the activity outside the mask to zero (default: keep it, reported).

    Returns
    -------
    ActivityMap

    Raises
    ------
    InputError
        Negative counts, empty mask, no counts in the mask, bad fractions or activity.
    GeometryError
        Mask and image shapes differ.

    Examples
    --------
    >>> c = np.ones((2, 2, 2)); m = np.ones((2, 2, 2), bool)
    >>> a = activity_from_counts(c, spacing_zyx_mm=4.0, mask=m, administered_activity_gbq=2.0,
    ...                          lung_shunt_fraction=0.1, residual_fraction=0.05)
    >>> round(a.activity_in_mask_gbq, 4)  # 2 x 0.9 x 0.95
    1.71
    """
    return _scale_counts(
        counts,
        spacing_zyx_mm=spacing_zyx_mm,
        mask=mask,
        activity_gbq=administered_activity_gbq,
        activity_field="administered_activity_gbq",
        lung_shunt_fraction=lung_shunt_fraction,
        residual_fraction=residual_fraction,
        mask_name=mask_name,
        zero_outside_mask=zero_outside_mask,
        method=ActivityMethod.COUNTS_SCALED,
    )


def activity_predictive_from_maa(
    maa_counts: ArrayLike,
    *,
    spacing_zyx_mm: float | Sequence[float],
    mask: ArrayLike,
    planned_activity_gbq: float,
    lung_shunt_fraction: float,
    residual_fraction: float = 0.0,
    mask_name: str = "perfused volume",
    zero_outside_mask: bool = False,
) -> ActivityMap:
    """Predictive activity map: Tc-99m MAA counts scaled to the planned Y-90 activity.

    As :func:`activity_from_counts` with the planned activity; the lung shunt fraction is
    required (it is what the MAA study measured) so that the liver mask receives
    A_planned x (1 - LSF) x (1 - R).

    Examples
    --------
    >>> c = np.ones((2, 2, 2)); m = np.ones((2, 2, 2), bool)
    >>> a = activity_predictive_from_maa(c, spacing_zyx_mm=4.0, mask=m, planned_activity_gbq=3.0,
    ...                                  lung_shunt_fraction=0.1)
    >>> round(a.activity_in_mask_gbq, 4)
    2.7
    """
    return _scale_counts(
        maa_counts,
        spacing_zyx_mm=spacing_zyx_mm,
        mask=mask,
        activity_gbq=planned_activity_gbq,
        activity_field="planned_activity_gbq",
        lung_shunt_fraction=lung_shunt_fraction,
        residual_fraction=residual_fraction,
        mask_name=mask_name,
        zero_outside_mask=zero_outside_mask,
        method=ActivityMethod.PREDICTIVE_MAA,
    )


def activity_from_concentration(
    concentration_bq_ml: ArrayLike,
    *,
    spacing_zyx_mm: float | Sequence[float],
    mask: ArrayLike | None = None,
    mask_name: str | None = None,
) -> ActivityMap:
    """Activity map from a quantitative image in Bq/mL: A = c x V_voxel, in GBq.

    Parameters
    ----------
    concentration_bq_ml
        Activity concentration per voxel, Bq/mL (3-D, z, y, x), >= 0, decay corrected to
        implantation by the caller.
    spacing_zyx_mm
        Voxel size (z, y, x) mm, or one number.
    mask, mask_name
        Optional mask to report the activity inside/outside (the values are not scaled).

    Examples
    --------
    1 MBq/mL in 4 mm voxels (0.064 mL): 64 kBq = 6.4e-5 GBq per voxel.

    >>> a = activity_from_concentration(np.full((1, 1, 1), 1e6), spacing_zyx_mm=4.0)
    >>> round(float(a.activity_gbq[0, 0, 0]), 12)
    6.4e-05
    """
    image = check_volume(concentration_bq_ml, field="concentration_bq_ml").astype(np.float64)
    spacing = check_spacing_zyx_mm(spacing_zyx_mm)
    voxel_ml = math.prod(spacing) / 1000.0
    factor = voxel_ml * 1e-9
    image *= factor
    total = float(image.sum())
    if mask is not None:
        inside = check_mask(mask, image.shape, field=f"mask '{mask_name or 'mask'}'")
        in_mask = float(image[inside].sum())
        outside = float(image[~inside].sum())
    else:
        in_mask, outside = total, 0.0
    description = (
        f"image in Bq/mL used as is: activity = concentration x {voxel_ml:.6g} mL per voxel; "
        f"{total:.4g} GBq in the image"
        + (f", {in_mask:.4g} GBq in '{mask_name or 'mask'}'" if mask is not None else "")
    )
    return ActivityMap(
        activity_gbq=image,
        spacing_zyx_mm=spacing,
        method=ActivityMethod.CONCENTRATION,
        scale_factor=factor,
        mask_name=(mask_name or "mask") if mask is not None else None,
        counts_in_mask=None,
        target_activity_gbq=None,
        activity_in_mask_gbq=in_mask,
        activity_outside_mask_gbq=outside,
        description=description,
    )
