"""Hand formulas for the known answers, written from physics.md, independent of y90dose.

Nothing here calls the y90dose planning or voxel code: the known answers must come from
the phantom's analytic definition (volumes of spheres and ellipsoids, compartment
concentrations) and the published formulas, so a bug in the pipeline cannot hide in its
own expected values. Only the constants (with their sources) are shared.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from y90dose.constants import SECONDS_PER_HOUR, Y90_HALF_LIFE_H


def sphere_volume_ml(radius_mm: float) -> float:
    """4/3 pi r^3, mL (1 mL = 1000 mm^3)."""
    return 4.0 / 3.0 * math.pi * radius_mm**3 / 1000.0


def ellipsoid_volume_ml(a_mm: float, b_mm: float, c_mm: float) -> float:
    """4/3 pi a b c, mL."""
    return 4.0 / 3.0 * math.pi * a_mm * b_mm * c_mm / 1000.0


def ldm_dose_gy(activity_gbq: float, mass_kg: float, energy_j_per_gbq: float) -> float:
    """Local deposition: D = C x A / M (physics.md sections 4.1 and 6)."""
    return energy_j_per_gbq * activity_gbq / mass_kg


def cumulated_decays(activity_bq: float, half_life_h: float = Y90_HALF_LIFE_H.value) -> float:
    """Decays of a permanent implant: A0 x T1/2 / ln 2 (physics.md section 6)."""
    return activity_bq * half_life_h * SECONDS_PER_HOUR / math.log(2.0)


def partition_doses_gy(
    *,
    activity_gbq: float,
    lsf: float,
    tumor_mass_kg: Sequence[float],
    tn_ratio: Sequence[float],
    normal_mass_kg: float,
    lung_mass_kg: float,
    energy_j_per_gbq: float,
) -> dict[str, object]:
    """Inverse partition model from an activity (physics.md section 4.3).

    D_N = C A (1 - LSF) / (sum_i TN_i M_T,i + M_N), D_T,i = TN_i D_N, D_L = C A LSF / M_L.
    """
    weighted = sum(t * m for t, m in zip(tn_ratio, tumor_mass_kg, strict=True)) + normal_mass_kg
    normal = energy_j_per_gbq * activity_gbq * (1.0 - lsf) / weighted
    return {
        "normal_gy": normal,
        "tumors_gy": [t * normal for t in tn_ratio],
        "lung_gy": energy_j_per_gbq * activity_gbq * lsf / lung_mass_kg,
    }
