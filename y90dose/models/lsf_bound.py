"""``lsf_bound``: the lung shunt fraction at which a plan's lung dose would reach its limit.

One function for every model, read from the result itself, so that a treatment can ask it
again of each territory with the lung dose the other territories leave (derivations in
docs/physics.md, "lsf_bound"):

- a plan (dose -> activity, MIRD or partition) fixes the liver's energy E = D x M
  (D_perfused x M_perfused = C x A x (1 - R) x (1 - LSF)): LSF = x / (1 + x),
  x = L x M_L / E;
- a dose calculation (activity -> doses) fixes C x A x (1 - R): LSF = L x M_L / (C x A x
  (1 - R)), null from 1 up;
- BSA reduces its activity by LSF bands: the first band that holds L x M_L /
  (C x A_0 x (1 - r) x (1 - R)), A_0 the unreduced activity; null when none up to the
  resin limit does.

L is the lung dose allowed (``checks.lung_allowance_gy``): the per-treatment limit or what
the cumulative limit leaves after the prior lung dose, whichever is lower.
"""

from __future__ import annotations

from y90dose.constants import BSA_LSF_REDUCTION_BANDS, RESIN_LSF_LIMIT
from y90dose.lung import (
    lsf_bound_fixed_activity,
    lsf_bound_fixed_liver_energy,
    lsf_bound_reduction_bands,
)
from y90dose.models.common import PlanResult


def lsf_bound_of(result: PlanResult, allowance_gy: float) -> float | None:
    """The LSF at which ``result``'s lung dose reaches ``allowance_gy`` (None: no LSF does).

    Examples
    --------
    >>> from y90dose.models.mird import MirdPlanInput, plan_mird
    >>> r = plan_mird(MirdPlanInput(target_dose_gy=120, perfused_volume_ml=1000,
    ...     density_g_ml=1.0, lsf=0.05))
    >>> round(lsf_bound_of(r, 30.0), 6) == round(30 / (120 + 30), 6)
    True
    """
    lung_mass_kg = result.mass_kg("lung")
    energy = result.constants.energy_j_per_gbq
    if result.model == "bsa":
        unreduced_gbq = float(result.details["whole_liver_activity_gbq"]) * float(
            result.details["treated_fraction"]
        )
        return lsf_bound_reduction_bands(
            energy * unreduced_gbq * (1.0 - result.residual),
            lung_mass_kg,
            allowance_gy,
            BSA_LSF_REDUCTION_BANDS,
            RESIN_LSF_LIMIT.value,
        )
    if result.direction == "plan":
        liver_energy_j = result.dose_gy("perfused") * result.mass_kg("perfused")
        return lsf_bound_fixed_liver_energy(liver_energy_j, lung_mass_kg, allowance_gy)
    return lsf_bound_fixed_activity(
        energy * result.delivered_activity_gbq, lung_mass_kg, allowance_gy
    )


def with_lsf_bound(result: PlanResult, allowance_gy: float) -> PlanResult:
    """``result`` with its ``lsf_bound`` for ``allowance_gy``."""
    return result.model_copy(update={"lsf_bound": lsf_bound_of(result, allowance_gy)})
