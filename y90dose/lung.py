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


# --- The lung shunt fraction at which the lung limit binds (lsf_bound) --------------------
# L: the lung dose still allowed (Gy); M_L: lung mass (kg). Derivations in docs/physics.md.


def lsf_bound_fixed_liver_energy(
    liver_energy_j: float, lung_mass_kg: float, allowance_gy: float
) -> float:
    """LSF at which a plan that puts ``liver_energy_j`` into the liver reaches ``allowance_gy``.

    A plan (dose -> activity) fixes the liver's energy E = C x A x (1 - R) x (1 - LSF)
    (MIRD: D x M_perfused; partition: D_N x (sum TN_i x M_T,i + M_N)), so the lung gets
    E x LSF / (1 - LSF): D_L = L at LSF = x / (1 + x) with x = L x M_L / E. With nothing
    allowed (L <= 0) any shunt binds: 0.

    Examples
    --------
    MIRD 120 Gy to 1.2 kg (E = 144 J), 1 kg lungs, 30 Gy: x = 30/144, LSF = 30/174.

    >>> round(lsf_bound_fixed_liver_energy(144.0, 1.0, 30.0), 6) == round(30 / 174, 6)
    True
    """
    if allowance_gy <= 0:
        return 0.0
    x = allowance_gy * lung_mass_kg / liver_energy_j
    return x / (1.0 + x)


def lsf_bound_fixed_activity(
    delivered_energy_j: float, lung_mass_kg: float, allowance_gy: float
) -> float | None:
    """LSF at which a fixed activity reaches ``allowance_gy`` in the lungs; None if none < 1.

    An activity (activity -> doses) fixes E_total = C x A x (1 - R): D_L = E_total x LSF /
    M_L = L at LSF = L x M_L / E_total.
    """
    if allowance_gy <= 0:
        return 0.0
    bound = allowance_gy * lung_mass_kg / delivered_energy_j
    return bound if bound < 1.0 else None


def lsf_bound_reduction_bands(
    unreduced_energy_j: float,
    lung_mass_kg: float,
    allowance_gy: float,
    bands: tuple[tuple[float, float, float], ...],
    lsf_limit: float,
) -> float | None:
    """The smallest LSF at which an activity reduced by LSF bands reaches ``allowance_gy``.

    BSA: A = A_0 x (1 - r(LSF)), so D_L = E_0 x (1 - r) x LSF / M_L with E_0 = C x A_0 x
    (1 - R), increasing within a band and dropping at its upper edge. The first band
    ``[lower, upper)`` (the last one up to ``lsf_limit`` inclusive) holding
    LSF = L x M_L / (E_0 x (1 - r)) gives the bound (it is never below the band's lower
    edge: the band before would have held it). None when no band up to ``lsf_limit`` does.
    """
    if allowance_gy <= 0:
        return 0.0
    for index, (_lower, upper, reduction) in enumerate(bands):
        bound = allowance_gy * lung_mass_kg / (unreduced_energy_j * (1.0 - reduction))
        last = index == len(bands) - 1
        if bound < upper or (last and bound <= lsf_limit):
            return bound
    return None
