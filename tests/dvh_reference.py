"""The first release's DVH algorithm, frozen: the oracle for y90dose.dvh's faster one.

Copied from ``y90dose/dvh.py`` as it was before issue 10 (each call extracts the VOI's
doses as float64 and sorts them with a stable argsort; D_x by a cumulative sum of the
weights; V_t by a mask over all the VOI's doses). ``tests/test_dvh.py`` compares the
library with it on random data, and ``benchmarks/bench_dvh.py`` times both. Not used by
the library.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

_RELATIVE_TOLERANCE = 1e-9


def reference_voi(
    dose_gy: ArrayLike,
    mask: ArrayLike,
    spacing_mm: float | Sequence[float],
    density_g_ml: float | ArrayLike,
    weighting: str,
) -> dict[str, Any]:
    """Sorted (decreasing) doses, weights and masses of the voxels in ``mask``."""
    dose = np.asarray(dose_gy)
    inside = np.asarray(mask, dtype=bool)
    spacing = np.broadcast_to(np.asarray(spacing_mm, dtype=float), (3,))
    voxel_ml = math.prod(float(s) for s in spacing) / 1000.0
    doses = np.asarray(dose[inside], dtype=np.float64)
    if np.ndim(density_g_ml) > 0:
        mass_per_voxel = np.asarray(density_g_ml, dtype=float)[inside] * voxel_ml
    else:
        mass_per_voxel = np.full(doses.shape, float(density_g_ml) * voxel_ml)  # type: ignore[arg-type]
    weights = mass_per_voxel if weighting == "mass" else np.ones(doses.shape)
    order = np.argsort(-doses, kind="stable")
    return {
        "doses": doses[order],
        "weights": np.asarray(weights, dtype=np.float64)[order],
        "masses": np.asarray(mass_per_voxel, dtype=np.float64)[order],
        "volume_ml": float(doses.size * voxel_ml),
        "mass_g": float(mass_per_voxel.sum()),
    }


def reference_dose_at(voi: dict[str, Any], percent: float) -> float:
    """D_x, first release."""
    cumulative = np.cumsum(voi["weights"])
    needed = percent / 100.0 * cumulative[-1] * (1.0 - _RELATIVE_TOLERANCE)
    index = int(np.searchsorted(cumulative, needed, side="left"))
    return float(voi["doses"][min(index, voi["doses"].size - 1)])


def reference_volume_at(voi: dict[str, Any], threshold_gy: float) -> float:
    """V_t, first release."""
    received = voi["weights"][voi["doses"] >= threshold_gy].sum()
    return float(100.0 * received / voi["weights"].sum())


def reference_dvh(voi: dict[str, Any], bin_width_gy: float) -> tuple[NDArray[Any], NDArray[Any]]:
    """Dose points and volume percent of the cumulative DVH, first release."""
    width = float(bin_width_gy)
    max_dose = float(voi["doses"][0])
    n_points = math.floor(max_dose / width) + 2
    points = np.arange(n_points, dtype=np.float64) * width
    ascending_doses = voi["doses"][::-1]
    ascending_weights = voi["weights"][::-1]
    below = np.concatenate([[0.0], np.cumsum(ascending_weights)])
    index = np.searchsorted(ascending_doses, points, side="left")
    total = below[-1]
    volume = 100.0 * (total - below[index]) / total
    return points, np.clip(volume, 0.0, 100.0)


def reference_metrics(
    voi: dict[str, Any], dx_percent: Sequence[float], v_thresholds_gy: Sequence[float]
) -> dict[str, Any]:
    """Mean, energy, min, max, median, D_x and V_t, first release."""
    doses, weights = voi["doses"], voi["weights"]
    energy_j = float(np.sum(doses * voi["masses"])) / 1000.0
    return {
        "mean_gy": float(np.sum(doses * weights) / np.sum(weights)),
        "energy_j": energy_j,
        "mean_absorbed_gy": energy_j / (voi["mass_g"] / 1000.0),
        "min_gy": float(doses[-1]),
        "max_gy": float(doses[0]),
        "median_gy": reference_dose_at(voi, 50.0),
        "d_gy": {f"D{x:g}": reference_dose_at(voi, float(x)) for x in dx_percent},
        "v_percent": {f"V{t:g}": reference_volume_at(voi, float(t)) for t in v_thresholds_gy},
        "volume_ml": voi["volume_ml"],
        "mass_g": voi["mass_g"],
    }
