"""Radiobiology for a permanent implant with mono-exponential decay.

BED = D x [1 + D x T_rep / ((T_rep + T1/2) x alpha/beta)]  (Dale RG, Br J Radiol 1985;
physics.md 7), with T_rep the repair half-time and T1/2 the Y-90 half-life;
EQD2 = BED / (1 + 2 / (alpha/beta));
EUD = -(1/alpha) x ln(sum_i w_i exp(-alpha D_i) / sum_i w_i)  (Niemierko; O'Donoghue 1999).
All functions accept floats or numpy arrays (voxel maps) and return the same shape.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import numpy.typing as npt

from y90dose.constants import Y90_HALF_LIFE_H
from y90dose.errors import InputError

DoseT = TypeVar("DoseT", float, npt.NDArray[np.floating])

# The tissue parameters (alpha/beta, repair half-times) are in y90dose.constants; the EUD's
# radiosensitivity alpha has no consensus default, so the caller gives it, within:
MAX_ALPHA_PER_GY = 1.0
"""Largest radiosensitivity alpha accepted, 1/Gy. Published Y-90 tumour values are about
0.001-0.05 /Gy and external-beam tumour values about 0.1-0.5 /Gy; above 1 /Gy the value
is a unit or typing error (and alpha x dose overflows for absurd ones)."""


def _positive(name: str, value: float) -> None:
    if not value > 0:
        raise InputError(name, value, "a number > 0")


def check_alpha_per_gy(name: str, value: object) -> float:
    """``value`` as a radiosensitivity alpha, 0 < alpha <= ``MAX_ALPHA_PER_GY`` (1/Gy).

    Raises
    ------
    InputError
        (``name``) when it is not a number in that range.

    Examples
    --------
    >>> check_alpha_per_gy("alpha_per_gy", 0.005)
    0.005
    """
    try:
        alpha = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        alpha = float("nan")
    if not 0.0 < alpha <= MAX_ALPHA_PER_GY:
        raise InputError(
            name, value, f"a radiosensitivity > 0 and <= {MAX_ALPHA_PER_GY:g} per Gy (e.g. 0.005)"
        )
    return alpha


def bed_gy(
    dose_gy: DoseT,
    alpha_beta_gy: float,
    repair_half_time_h: float,
    half_life_h: float = Y90_HALF_LIFE_H.value,
) -> DoseT:
    """Biologically effective dose (Gy) of a permanent Y-90 implant (Dale).

    Examples
    --------
    100 Gy, alpha/beta 2.5 Gy, T_rep 2.5 h: 100 x (1 + 100 x 2.5 / (66.6 x 2.5)) = 250.15 Gy.

    >>> round(bed_gy(100.0, 2.5, 2.5), 2)
    250.15
    """
    _positive("alpha_beta_gy", alpha_beta_gy)
    _positive("repair_half_time_h", repair_half_time_h)
    _positive("half_life_h", half_life_h)
    g = repair_half_time_h / ((repair_half_time_h + half_life_h) * alpha_beta_gy)
    return dose_gy * (1.0 + dose_gy * g)


def eqd2_gy(
    dose_gy: DoseT,
    alpha_beta_gy: float,
    repair_half_time_h: float,
    half_life_h: float = Y90_HALF_LIFE_H.value,
) -> DoseT:
    """Equivalent dose in 2 Gy fractions (Gy): BED / (1 + 2 / (alpha/beta))."""
    bed = bed_gy(dose_gy, alpha_beta_gy, repair_half_time_h, half_life_h)
    return eqd2_of_bed_gy(bed, alpha_beta_gy)


def eqd2_of_bed_gy(bed: DoseT, alpha_beta_gy: float) -> DoseT:
    """EQD2 (Gy) of a BED (Gy): BED / (1 + 2 / (alpha/beta)).

    Examples
    --------
    >>> eqd2_of_bed_gy(250.15, 2.5)
    138.97222222222223
    """
    _positive("alpha_beta_gy", alpha_beta_gy)
    return bed / (1.0 + 2.0 / alpha_beta_gy)


def eud_gy(
    doses_gy: npt.ArrayLike,
    alpha_per_gy: float,
    weights: npt.ArrayLike | None = None,
) -> float:
    """Equivalent uniform dose (Gy) over voxels for radiosensitivity ``alpha_per_gy``.

    Computed with a log-sum-exp so that doses of thousands of Gy do not underflow.
    A uniform dose D gives EUD = D exactly.
    """
    alpha_per_gy = check_alpha_per_gy("alpha_per_gy", alpha_per_gy)
    doses = np.asarray(doses_gy, dtype=np.float64).ravel()
    if doses.size == 0:
        raise InputError("doses_gy", "[]", "at least one dose value")
    w = np.ones_like(doses) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    if w.shape != doses.shape or np.any(w < 0) or not np.any(w > 0):
        raise InputError(
            "weights", f"shape {w.shape}", "non-negative weights, one per dose, not all 0"
        )
    exponent = -alpha_per_gy * doses
    peak = float(np.max(exponent[w > 0]))
    mean_exp = float(np.sum(w * np.exp(exponent - peak)) / np.sum(w))
    return float(-(peak + np.log(mean_exp)) / alpha_per_gy)
