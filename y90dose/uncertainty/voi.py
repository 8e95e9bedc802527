"""Uncertainty of a VOI's mean dose in a voxel run: calibration, partial volume, delineation.

Three independent components, each a standard deviation in Gy (GUM, combined in quadrature;
the structure of Gear JI et al. EJNMMI 2018;45:2456):

- **calibration**: the activity scale of the image (the dose calibrator when the image is
  normalised to an administered activity, the image's own Bq/mL calibration otherwise):
  u = SD% x mean;
- **partial volume**: the image resolution spills activity across the VOI's border, in or
  out depending on the contrast with its surroundings. Its size is the recovery
  coefficient RC of a sphere of the VOI's volume (:mod:`y90dose.uncertainty.recovery`):
  the mean may be off by up to (1/RC - 1) of itself either way, taken as a rectangular
  distribution of that half-width, u = mean x (1/RC - 1) / sqrt(3);
- **delineation**: the VOI's border known to one voxel: the mean over the VOI eroded by
  one voxel and over the VOI dilated by one voxel (6-connected) bound it, taken as a
  rectangular distribution between them, u = |mean_dilated - mean_eroded| / sqrt(12)
  (a VOI too thin to erode takes twice the dilated-to-mean distance as the range).

The 95 % interval is that of a lognormal distribution with the VOI's mean and the
combined SD (doses are positive).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field
from scipy import ndimage

from y90dose.uncertainty.recovery import recovery_coefficient
from y90dose.uncertainty.result import LEVEL, Driver

Z_95 = 1.959963984540054
"""Standard normal quantile of 97.5 %."""
METHOD = (
    "calibration (SD% x mean), partial volume (sphere recovery coefficient, half-width "
    "mean x (1/RC - 1), rectangular), delineation (one voxel erosion and dilation, "
    "rectangular between their means), combined in quadrature; lognormal 95 % interval"
)


class VoiMeanUncertainty(BaseModel):
    """The uncertainty of one VOI's mean dose (``mean_uncertainty`` of its metrics)."""

    model_config = ConfigDict(frozen=True)

    level: float = Field(LEVEL, description="coverage of low_gy..high_gy")
    sd_gy: float = Field(description="combined standard deviation (Gy)")
    low_gy: float
    high_gy: float
    calibration_sd_gy: float
    partial_volume_sd_gy: float
    delineation_sd_gy: float
    calibration_sd_percent: float
    calibration_source: str
    resolution_fwhm_mm: float
    resolution_source: str
    recovery_coefficient: float = Field(description="sphere of the VOI's volume at this FWHM")
    eroded_mean_gy: float | None = Field(description="None when the VOI is too thin to erode")
    dilated_mean_gy: float
    drivers: list[Driver] = Field(description="the components' shares of the variance")
    method: str = METHOD


def _bounding_box(mask: npt.NDArray[np.bool_], margin: int) -> tuple[slice, ...]:
    nonzero = np.nonzero(mask)
    return tuple(
        slice(max(0, int(axis.min()) - margin), min(size, int(axis.max()) + margin + 1))
        for axis, size in zip(nonzero, mask.shape, strict=True)
    )


def eroded_and_dilated_means(
    dose_gy: npt.NDArray[np.floating], mask: npt.NDArray[np.bool_]
) -> tuple[float | None, float]:
    """Mean dose over ``mask`` eroded and dilated by one voxel (6-connected); None when the
    erosion is empty. Voxels beyond the grid are not added by the dilation."""
    box = _bounding_box(mask, 2)
    local, dose = mask[box], np.asarray(dose_gy[box], dtype=np.float64)
    eroded = ndimage.binary_erosion(local)
    dilated = ndimage.binary_dilation(local)
    eroded_mean = float(dose[eroded].mean()) if eroded.any() else None
    return eroded_mean, float(dose[dilated].mean())


def voi_mean_uncertainty(
    dose_gy: npt.NDArray[np.floating],
    mask: npt.NDArray[np.bool_],
    spacing_zyx_mm: Sequence[float],
    mean_gy: float,
    *,
    calibration_sd_percent: float,
    calibration_source: str,
    resolution_fwhm_mm: float,
    resolution_source: str,
) -> VoiMeanUncertainty:
    """The uncertainty of the mean dose ``mean_gy`` of the VOI ``mask`` (module docstring).

    Examples
    --------
    A uniform 20 Gy cube of 10^3 voxels of 4 mm (64 mL) at 10 % calibration, 8 mm FWHM:
    erosion and dilation do not change a uniform mean (delineation 0), calibration 2 Gy.

    >>> dose = np.zeros((14, 14, 14)); mask = np.zeros(dose.shape, bool)
    >>> mask[2:12, 2:12, 2:12] = True; dose[:] = 20.0
    >>> u = voi_mean_uncertainty(dose, mask, (4, 4, 4), 20.0, calibration_sd_percent=10,
    ...     calibration_source="given", resolution_fwhm_mm=8, resolution_source="given")
    >>> u.calibration_sd_gy, u.delineation_sd_gy
    (2.0, 0.0)
    """
    volume_ml = float(np.count_nonzero(mask)) * math.prod(spacing_zyx_mm) / 1000.0
    calibration = calibration_sd_percent / 100.0 * mean_gy
    rc = recovery_coefficient(volume_ml, resolution_fwhm_mm)
    partial = mean_gy * (1.0 / rc - 1.0) / math.sqrt(3.0) if rc > 0 else math.inf
    eroded, dilated = eroded_and_dilated_means(dose_gy, mask)
    spread = abs(dilated - eroded) if eroded is not None else 2.0 * abs(dilated - mean_gy)
    delineation = spread / math.sqrt(12.0)
    components = {
        "calibration": calibration,
        "partial_volume": partial,
        "delineation": delineation,
    }
    total = math.sqrt(sum(v * v for v in components.values()))
    if mean_gy > 0 and math.isfinite(total):
        s = math.sqrt(math.log1p((total / mean_gy) ** 2))
        low = mean_gy * math.exp(-0.5 * s * s - Z_95 * s)
        high = mean_gy * math.exp(-0.5 * s * s + Z_95 * s)
    else:
        low, high = 0.0, math.inf if total > 0 else mean_gy
    variance = total * total
    drivers = (
        sorted(
            (Driver(input=name, share=v * v / variance) for name, v in components.items() if v),
            key=lambda d: d.share,
            reverse=True,
        )
        if variance > 0 and math.isfinite(variance)
        else []
    )
    return VoiMeanUncertainty(
        sd_gy=total,
        low_gy=low,
        high_gy=high,
        calibration_sd_gy=calibration,
        partial_volume_sd_gy=partial,
        delineation_sd_gy=delineation,
        calibration_sd_percent=calibration_sd_percent,
        calibration_source=calibration_source,
        resolution_fwhm_mm=resolution_fwhm_mm,
        resolution_source=resolution_source,
        recovery_coefficient=rc,
        eroded_mean_gy=eroded,
        dilated_mean_gy=dilated,
        drivers=drivers,
    )
