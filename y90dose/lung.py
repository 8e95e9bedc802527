"""Lung shunt fraction and lung dose.

LSF = G_lung / (G_lung + G_liver) with G = sqrt(anterior x posterior), the geometric-mean
counts of planar Tc-99m MAA scintigraphy (physics.md 4.4; MPPG14a). Lung dose
D_L = C x A x LSF / M_L with A the activity leaving the vial and tubing.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field


class LsfInput(BaseModel):
    """Planar geometric-mean counts of the lung and liver regions (counts, not rates)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    lung_ant: float = Field(ge=0.0, description="lung counts, anterior view")
    lung_post: float = Field(ge=0.0, description="lung counts, posterior view")
    liver_ant: float = Field(gt=0.0, description="liver counts, anterior view")
    liver_post: float = Field(gt=0.0, description="liver counts, posterior view")


class LsfResult(BaseModel):
    """Lung shunt fraction with the geometric means it came from."""

    model_config = ConfigDict(frozen=True)

    lsf: float = Field(description="lung shunt fraction (0..1)")
    lsf_percent: float
    lung_geometric_mean: float
    liver_geometric_mean: float
    method: str = "planar geometric mean, sqrt(anterior x posterior)"


def geometric_mean(anterior: float, posterior: float) -> float:
    """Geometric mean of conjugate-view counts, sqrt(A x P) (as sqrt A x sqrt P: no overflow)."""
    return math.sqrt(anterior) * math.sqrt(posterior)


def lsf_from_counts(counts: LsfInput) -> LsfResult:
    """Lung shunt fraction from planar conjugate-view counts.

    Examples
    --------
    >>> round(lsf_from_counts(LsfInput(lung_ant=1, lung_post=1, liver_ant=9, liver_post=9)).lsf, 3)
    0.1
    """
    g_lung = geometric_mean(counts.lung_ant, counts.lung_post)
    g_liver = geometric_mean(counts.liver_ant, counts.liver_post)
    lsf = 1.0 / (1.0 + g_liver / g_lung) if g_lung > 0 else 0.0  # = G_lung / (G_lung + G_liver)
    return LsfResult(
        lsf=lsf,
        lsf_percent=100.0 * lsf,
        lung_geometric_mean=g_lung,
        liver_geometric_mean=g_liver,
    )


def lung_dose_gy(
    delivered_activity_gbq: float, lsf: float, lung_mass_kg: float, energy_j_per_gbq: float
) -> float:
    """Mean lung dose (Gy): C x A x LSF / M_L, A being the activity leaving the vial."""
    return energy_j_per_gbq * delivered_activity_gbq * lsf / lung_mass_kg
