"""Helpers shared by the phantom generators: tissue table, blur, noise, provenance."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from y90dose.errors import InputError
from y90dose.phantoms.geometry import VoxelGrid

FloatArray = npt.NDArray[np.float64]

# Analytic materials: CT number (HU) and mass density (g/mL). The densities are those the
# known answers use. The CT numbers of the phantom "scanner" follow the linear calibration
# rho = 1 + HU/1000 g/mL between air and soft tissue (the water-air mixing line, which
# holds for lung and soft tissue to a few per cent), so a pipeline that converts HU with a
# calibration of that form recovers the analytic densities. Bone is given a typical
# vertebral CT number with the density of a bone line of 0.6 g/mL per 1000 HU above
# 100 HU (Schneider 1996 form); no activity sits near it.
TISSUES: dict[str, tuple[float, float]] = {
    "air": (-1000.0, 0.0012),
    "water": (0.0, 1.0),
    "soft_tissue": (40.0, 1.04),
    "liver": (30.0, 1.03),
    "tumor": (30.0, 1.03),
    "lung": (-750.0, 0.25),
    "lung_insert": (-700.0, 0.30),
    "bone": (700.0, 1.46),
}
"""Tissue -> (HU, density g/mL). Liver and tumour density 1.03 g/mL is the EANM2022
convention (y90dose.constants.LIVER_DENSITY_G_ML); soft tissue 1.04 g/mL is ICRU 44
(SOFT_TISSUE_DENSITY_G_ML); lung 0.25 g/mL (-750 HU); the NEMA lung insert 0.30 g/mL."""


def fwhm_to_sigma_voxels(fwhm_mm: float, grid: VoxelGrid) -> tuple[float, float, float]:
    """Gaussian sigma in voxels along (z, y, x): sigma = FWHM / (2 sqrt(2 ln 2))."""
    if not fwhm_mm >= 0:
        raise InputError("fwhm_mm", fwhm_mm, "a resolution >= 0 mm")
    sigma_mm = fwhm_mm / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    sx, sy, sz = grid.spacing_mm
    return (sigma_mm / sz, sigma_mm / sy, sigma_mm / sx)


def blur(image: FloatArray, fwhm_mm: float, grid: VoxelGrid) -> FloatArray:
    """Isotropic 3-D Gaussian blur (a stand-in for the SPECT/PET point-spread function).

    Zero outside the field of view, so counts near the edge leak out as in a real camera;
    the phantoms keep activity well inside.
    """
    if fwhm_mm == 0:
        return image.astype(np.float64).copy()
    return np.asarray(
        ndimage.gaussian_filter(
            image.astype(np.float64),
            fwhm_to_sigma_voxels(fwhm_mm, grid),
            mode="constant",
            truncate=4.0,
        ),
        dtype=np.float64,
    )


def counts_image(
    blurred_activity: FloatArray, total_counts: float | None, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray]:
    """Scale a blurred activity map to expected counts, then draw Poisson counts.

    Returns
    -------
    (counts, expected)
        Noisy counts (or the expected counts when ``total_counts`` is None, i.e. no noise)
        and the noise-free expected counts.
    """
    total = float(blurred_activity.sum())
    if total <= 0:
        raise InputError("activity", total, "a positive total activity")
    scale = (total_counts if total_counts is not None else total) / total
    expected = blurred_activity * scale
    if total_counts is None:
        return expected.copy(), expected
    return rng.poisson(expected).astype(np.float64), expected


def mixed_property(fractions: dict[str, FloatArray], background: str, index: int) -> FloatArray:
    """Partial-volume mix of a tissue property (0: HU, 1: density) over exclusive fractions.

    ``fractions`` maps tissue -> voxel fraction (summing to <= 1); the rest is ``background``.
    """
    rest = np.ones_like(next(iter(fractions.values())))
    value = np.zeros_like(rest)
    for tissue, fraction in fractions.items():
        value += fraction * TISSUES[tissue][index]
        rest -= fraction
    return value + np.clip(rest, 0.0, 1.0) * TISSUES[background][index]


def voi_stats(image: FloatArray, vois: dict[str, npt.NDArray[np.bool_]]) -> dict[str, Any]:
    """Sum and mean of ``image`` in each VOI."""
    return {
        name: {
            "sum": float(image[mask].sum()),
            "mean": float(image[mask].mean()),
            "voxels": int(mask.sum()),
        }
        for name, mask in vois.items()
    }
