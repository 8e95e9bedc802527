"""Cumulative dose-volume histograms and dose metrics of volumes of interest (VOIs).

Conventions
-----------
Every voxel of a VOI carries a weight: its volume (default) or its mass (density x volume,
``weighting="mass"``). With W the VOI's total weight:

- Cumulative DVH: V(d) = 100 x sum(w_i for D_i >= d) / W, percent, evaluated exactly at
  the dose points 0, b, 2b, ... (b the bin width) up to the first point above the
  maximum dose, where it is 0. No histogram binning error: each point is exact.
- V_t (threshold t in Gy) = V(t), dose >= t inclusive, percent of the VOI.
- D_x = the minimum dose received by the hottest x % of the VOI: sort the voxels by
  decreasing dose, accumulate their weights, and take the dose of the first voxel at
  which the accumulated weight reaches x % of W (no interpolation between voxels;
  equivalently D_x = max{d : V(d) >= x}). For half of a VOI at 100 Gy and half at 50 Gy:
  D50 = 100 Gy, D51 = 50 Gy. This is the ICRU 83 definition applied to voxels.
- median_gy is D50 under this convention (the upper weighted median).
- Mean: weighted mean (volume or mass). min/max over the VOI's voxels.
- Mean absorbed dose: energy / mass = sum(D_i m_i) / sum(m_i), whatever the weighting.
  This is the MIRD mean absorbed dose of the region (the quantity of D_L = C A LSF / M_L);
  it equals the volume-weighted mean where the density is uniform, and is lower than it
  where low-density voxels (airways, lung edges) carry high doses.

Radiobiology (optional, needs tissue parameters): BED and EQD2 of the mean dose; the mean
of the voxel BED and EQD2 maps (>= the former, BED is convex); EUD
(Niemierko/O'Donoghue, weighted by the same weights) when a radiosensitivity alpha is
given. Formulas in :mod:`y90dose.radiobiology` (Dale 1985; physics.md section 7).

References
----------
ICRU Report 83 (2010), D_x and V_D notation. Dale RG. Br J Radiol 1985;58:515-528.
O'Donoghue JA. Implications of nonuniform tumor doses for radioimmunotherapy. J Nucl Med
1999;40:1337-1341 (EUD).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from y90dose.constants import (
    LIVER_DENSITY_G_ML,
    NORMAL_LIVER_ALPHA_BETA_GY,
    NORMAL_LIVER_REPAIR_HALF_TIME_H,
    TUMOR_ALPHA_BETA_GY,
    TUMOR_REPAIR_HALF_TIME_H,
    Y90_HALF_LIFE_H,
)
from y90dose.errors import InputError
from y90dose.radiobiology import bed_gy, eqd2_gy, eqd2_of_bed_gy, eud_gy
from y90dose.voxel._checks import check_density, check_mask, check_spacing_zyx_mm, check_volume

__all__ = [
    "DEFAULT_DX_PERCENT",
    "DEFAULT_V_THRESHOLDS_GY",
    "Dvh",
    "DvhWeighting",
    "RadiobiologyParameters",
    "VoiDoseMetrics",
    "VoiDoses",
    "bed_map_gy",
    "cumulative_dvh",
    "dose_at_volume_gy",
    "dose_metrics",
    "dvhs_to_csv",
    "eqd2_map_gy",
    "volume_at_dose_percent",
]

DEFAULT_DX_PERCENT: tuple[float, ...] = (2.0, 50.0, 70.0, 90.0, 95.0, 98.0)
"""D_x reported by default: D2 (near-maximum, ICRU 83), D50, D70, D90, D95, D98."""
DEFAULT_V_THRESHOLDS_GY: tuple[float, ...] = (100.0, 120.0, 150.0, 200.0, 205.0, 400.0)
"""V_t thresholds (Gy) reported by default: the EANM 2022 targets and limits of
physics.md section 5 (resin tumour 100-120 Gy, glass perfused normal 120 Gy, resin
segmentectomy 150 Gy, glass segmentectomy ~200 Gy, glass tumour 205 Gy, ablative 400 Gy)."""
MAX_DVH_POINTS = 200_000
_RELATIVE_TOLERANCE = 1e-9


class DvhWeighting(StrEnum):
    """Weight of a voxel in a DVH: its volume or its mass."""

    VOLUME = "volume"
    MASS = "mass"


@dataclass(frozen=True)
class RadiobiologyParameters:
    """Tissue parameters for BED/EQD2 (and EUD when ``alpha_per_gy`` is given).

    Attributes
    ----------
    alpha_beta_gy
        alpha/beta, Gy.
    repair_half_time_h
        Sub-lethal damage repair half-time, h.
    alpha_per_gy
        Radiosensitivity for the EUD, 1/Gy; ``None``: no EUD (there is no consensus
        default for Y-90, so the caller states it).
    half_life_h
        Y-90 half-life, h.
    name
        Label for the report.
    """

    alpha_beta_gy: float
    repair_half_time_h: float
    alpha_per_gy: float | None = None
    half_life_h: float = Y90_HALF_LIFE_H.value
    name: str = "user"

    @classmethod
    def normal_liver(cls, alpha_per_gy: float | None = None) -> RadiobiologyParameters:
        """Normal liver defaults of ``y90dose.constants`` (alpha/beta 2.5 Gy, T_rep 2.5 h)."""
        return cls(
            NORMAL_LIVER_ALPHA_BETA_GY.value,
            NORMAL_LIVER_REPAIR_HALF_TIME_H.value,
            alpha_per_gy,
            name="normal liver",
        )

    @classmethod
    def tumor(cls, alpha_per_gy: float | None = None) -> RadiobiologyParameters:
        """Tumour defaults of ``y90dose.constants`` (alpha/beta 10 Gy, T_rep 1.5 h)."""
        return cls(
            TUMOR_ALPHA_BETA_GY.value, TUMOR_REPAIR_HALF_TIME_H.value, alpha_per_gy, name="tumour"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able parameters."""
        return {
            "name": self.name,
            "alpha_beta_gy": self.alpha_beta_gy,
            "repair_half_time_h": self.repair_half_time_h,
            "alpha_per_gy": self.alpha_per_gy,
            "half_life_h": self.half_life_h,
        }


def bed_map_gy(dose_gy: NDArray[np.floating], params: RadiobiologyParameters) -> NDArray[Any]:
    """Voxel BED map (Gy) of a permanent Y-90 implant (Dale), same shape as ``dose_gy``."""
    return np.asarray(
        bed_gy(
            np.asarray(dose_gy, dtype=np.float64),
            params.alpha_beta_gy,
            params.repair_half_time_h,
            params.half_life_h,
        )
    )


def eqd2_map_gy(dose_gy: NDArray[np.floating], params: RadiobiologyParameters) -> NDArray[Any]:
    """Voxel EQD2 map (Gy): BED / (1 + 2 / (alpha/beta))."""
    return np.asarray(
        eqd2_gy(
            np.asarray(dose_gy, dtype=np.float64),
            params.alpha_beta_gy,
            params.repair_half_time_h,
            params.half_life_h,
        )
    )


def dose_at_volume_gy(
    dose_gy: ArrayLike,
    mask: ArrayLike,
    percent: float,
    *,
    spacing_zyx_mm: float | Sequence[float] = 1.0,
    density_g_ml: float | ArrayLike = LIVER_DENSITY_G_ML.value,
    weighting: DvhWeighting | str = DvhWeighting.VOLUME,
) -> float:
    """D_x: the minimum dose (Gy) to the hottest ``percent`` % of the VOI (module docstring).

    Examples
    --------
    >>> d = np.array([100.0, 100.0, 50.0, 50.0]).reshape(1, 1, 4)
    >>> m = np.ones_like(d, dtype=bool)
    >>> dose_at_volume_gy(d, m, 50), dose_at_volume_gy(d, m, 90)
    (100.0, 50.0)
    """
    voi = VoiDoses.from_mask(
        dose_gy,
        mask,
        spacing_zyx_mm=spacing_zyx_mm,
        density_g_ml=density_g_ml,
        weighting=weighting,
        voi_name="mask",
    )
    return voi.dose_at_volume_gy(percent)


def volume_at_dose_percent(
    dose_gy: ArrayLike,
    mask: ArrayLike,
    threshold_gy: float,
    *,
    spacing_zyx_mm: float | Sequence[float] = 1.0,
    density_g_ml: float | ArrayLike = LIVER_DENSITY_G_ML.value,
    weighting: DvhWeighting | str = DvhWeighting.VOLUME,
) -> float:
    """V_t: percent of the VOI receiving a dose >= ``threshold_gy`` (inclusive).

    Examples
    --------
    >>> d = np.array([100.0, 100.0, 50.0, 50.0]).reshape(1, 1, 4)
    >>> volume_at_dose_percent(d, np.ones_like(d, dtype=bool), 100.0)
    50.0
    """
    voi = VoiDoses.from_mask(
        dose_gy,
        mask,
        spacing_zyx_mm=spacing_zyx_mm,
        density_g_ml=density_g_ml,
        weighting=weighting,
        voi_name="mask",
    )
    return voi.volume_at_dose_percent(threshold_gy)


# --- DVH -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dvh:
    """A cumulative DVH of one VOI.

    Attributes
    ----------
    voi_name
        Name of the VOI.
    dose_gy
        Dose points, Gy: 0, b, 2b, ... up to the first point above the maximum dose.
    volume_percent
        Percent of the VOI (by ``weighting``) receiving at least each dose.
    weighting
        ``volume`` or ``mass``.
    volume_ml, mass_g
        Size of the VOI.
    bin_width_gy
        Spacing of the dose points, Gy.
    """

    voi_name: str
    dose_gy: NDArray[np.float64]
    volume_percent: NDArray[np.float64]
    weighting: DvhWeighting
    volume_ml: float
    mass_g: float
    bin_width_gy: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-able DVH."""
        return {
            "voi_name": self.voi_name,
            "weighting": self.weighting.value,
            "volume_ml": self.volume_ml,
            "mass_g": self.mass_g,
            "bin_width_gy": self.bin_width_gy,
            "dose_gy": self.dose_gy.tolist(),
            "volume_percent": self.volume_percent.tolist(),
        }

    def to_csv(self) -> str:
        """CSV text with columns ``voi,dose_gy,volume_percent``."""
        return dvhs_to_csv([self])


def dvhs_to_csv(dvhs: Sequence[Dvh]) -> str:
    """Several DVHs as one long-format CSV: ``voi,weighting,dose_gy,volume_percent``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["voi", "weighting", "dose_gy", "volume_percent"])
    for dvh in dvhs:
        for dose, volume in zip(dvh.dose_gy, dvh.volume_percent, strict=True):
            writer.writerow([dvh.voi_name, dvh.weighting.value, f"{dose:.6g}", f"{volume:.6g}"])
    return buffer.getvalue()


def cumulative_dvh(
    dose_gy: ArrayLike,
    mask: ArrayLike,
    *,
    spacing_zyx_mm: float | Sequence[float],
    bin_width_gy: float = 1.0,
    density_g_ml: float | ArrayLike = LIVER_DENSITY_G_ML.value,
    weighting: DvhWeighting | str = DvhWeighting.VOLUME,
    voi_name: str = "voi",
) -> Dvh:
    """Cumulative DVH of the voxels in ``mask``, exact at each dose point.

    Parameters
    ----------
    dose_gy
        Dose map, Gy (3-D, z, y, x), >= 0.
    mask
        Boolean VOI mask of the same shape, not empty.
    spacing_zyx_mm
        Voxel size (z, y, x), mm.
    bin_width_gy
        Spacing of the dose points, Gy (> 0; default 1 Gy).
    density_g_ml
        Density (one number or a map) for the mass and for ``weighting="mass"``.
    weighting
        ``"volume"`` (default) or ``"mass"``.
    voi_name
        Name for the report and the exports.

    Raises
    ------
    InputError
        Negative or non-finite doses, empty mask, bin width <= 0, or more than 200 000
        dose points.

    Examples
    --------
    >>> d = np.array([100.0, 100.0, 50.0, 50.0]).reshape(1, 1, 4)
    >>> h = cumulative_dvh(d, np.ones_like(d, dtype=bool), spacing_zyx_mm=1.0, bin_width_gy=50.0)
    >>> h.dose_gy.tolist(), h.volume_percent.tolist()
    ([0.0, 50.0, 100.0, 150.0], [100.0, 100.0, 50.0, 0.0])
    """
    width = float(bin_width_gy)
    if not math.isfinite(width) or width <= 0:
        raise InputError("bin_width_gy", bin_width_gy, "a dose step > 0 Gy")
    voi = VoiDoses.from_mask(
        dose_gy,
        mask,
        spacing_zyx_mm=spacing_zyx_mm,
        density_g_ml=density_g_ml,
        weighting=weighting,
        voi_name=voi_name,
    )
    return voi.dvh(bin_width_gy=width)


# --- metrics -------------------------------------------------------------------------------


def _label(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True)
class VoiDoseMetrics:
    """Dose metrics of one VOI (see the module docstring for the conventions).

    ``d_gy`` maps ``"D90"`` -> Gy, ``v_percent`` maps ``"V205"`` -> percent; the
    radiobiological fields are ``None`` without tissue parameters (EUD also without
    ``alpha_per_gy``).
    """

    voi_name: str
    n_voxels: int
    volume_ml: float
    mass_g: float
    weighting: DvhWeighting
    mean_gy: float
    mean_absorbed_gy: float
    energy_j: float
    min_gy: float
    max_gy: float
    median_gy: float
    d_gy: dict[str, float]
    v_percent: dict[str, float]
    bed_of_mean_gy: float | None = None
    eqd2_of_mean_gy: float | None = None
    mean_bed_gy: float | None = None
    mean_eqd2_gy: float | None = None
    eud_gy: float | None = None
    radiobiology: RadiobiologyParameters | None = None
    conventions: str = field(
        default="Dx: minimum dose to the hottest x % (no interpolation); Vt: % with dose >= t"
    )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able metrics."""
        return {
            "voi_name": self.voi_name,
            "n_voxels": self.n_voxels,
            "volume_ml": self.volume_ml,
            "mass_g": self.mass_g,
            "weighting": self.weighting.value,
            "mean_gy": self.mean_gy,
            "mean_absorbed_gy": self.mean_absorbed_gy,
            "energy_j": self.energy_j,
            "min_gy": self.min_gy,
            "max_gy": self.max_gy,
            "median_gy": self.median_gy,
            "d_gy": dict(self.d_gy),
            "v_percent": dict(self.v_percent),
            "bed_of_mean_gy": self.bed_of_mean_gy,
            "eqd2_of_mean_gy": self.eqd2_of_mean_gy,
            "mean_bed_gy": self.mean_bed_gy,
            "mean_eqd2_gy": self.mean_eqd2_gy,
            "eud_gy": self.eud_gy,
            "radiobiology": None if self.radiobiology is None else self.radiobiology.to_dict(),
            "conventions": self.conventions,
        }


# --- core: doses and weights of one VOI, extracted and sorted once ----------------------


def _float_dtype(dtype: np.dtype[Any]) -> type[np.floating[Any]]:
    """float32 and float64 doses are kept as they are (sorting is exact); others -> float64."""
    return np.float32 if dtype == np.float32 else np.float64


def _as_thresholds(values: NDArray[np.float64], dtype: np.dtype[Any]) -> NDArray[Any]:
    """Thresholds t (float64) in the doses' dtype, rounded up: for every dose d of that
    dtype, d >= t exactly when d >= the result (the smallest value of the dtype >= t), so
    comparisons against float32 doses stay those of float64 arithmetic."""
    if dtype == np.float64:
        return values
    with np.errstate(over="ignore"):
        rounded = values.astype(dtype)
    low = rounded.astype(np.float64) < values
    rounded[low] = np.nextafter(rounded[low], np.inf)
    return rounded


@dataclass(frozen=True)
class VoiDoses:
    """The doses of one VOI, extracted from the dose map and sorted once.

    Build it with :meth:`from_mask`; :meth:`metrics`, :meth:`dvh`,
    :meth:`dose_at_volume_gy` and :meth:`volume_at_dose_percent` then work on the sorted
    values (a DVH and the metrics of one VOI need one pass over the dose map and one sort,
    not one each). The doses keep their dtype when float32 or float64 (a float32 dose map
    is sorted as float32: the values are the map's own, so D_x, min, max and V_t are
    exact); sums (mean, energy, weights) are float64.

    Attributes
    ----------
    voi_name
        Name of the VOI.
    doses_gy
        The VOI's voxel doses, Gy, sorted increasing.
    weights
        Their weights (1 per voxel for ``volume``, the voxel mass in g for ``mass``), same
        order, float64.
    cumulative_weight
        Weight of the voxels at or above each dose, hottest first: ``cumulative_weight[i]``
        is the weight of the ``i + 1`` hottest voxels.
    volume_ml, mass_g, energy_j
        Size, mass and absorbed energy (sum of dose x mass) of the VOI.
    weighting
        ``volume`` or ``mass``.
    """

    voi_name: str
    doses_gy: NDArray[np.floating]
    weights: NDArray[np.float64]
    cumulative_weight: NDArray[np.float64]
    volume_ml: float
    mass_g: float
    energy_j: float
    weighting: DvhWeighting

    @classmethod
    def from_mask(
        cls,
        dose_gy: ArrayLike,
        mask: ArrayLike,
        *,
        spacing_zyx_mm: float | Sequence[float],
        density_g_ml: float | ArrayLike = LIVER_DENSITY_G_ML.value,
        weighting: DvhWeighting | str = DvhWeighting.VOLUME,
        voi_name: str = "voi",
    ) -> VoiDoses:
        """Extract and sort the doses of the voxels in ``mask``.

        Parameters
        ----------
        dose_gy
            Dose map, Gy (3-D, z, y, x), >= 0.
        mask
            Boolean VOI mask of the same shape, not empty.
        spacing_zyx_mm
            Voxel size (z, y, x), mm.
        density_g_ml
            Density (one number or a map), g/mL, for the mass (default 1.03, liver).
        weighting
            ``"volume"`` (default) or ``"mass"``.
        voi_name
            Name for the report.

        Raises
        ------
        InputError
            Negative or non-finite doses, empty mask, density <= 0, unknown weighting.
        GeometryError
            Mask or density map of another shape than the dose map.

        Examples
        --------
        >>> d = np.array([100.0, 100.0, 50.0, 50.0]).reshape(1, 1, 4)
        >>> voi = VoiDoses.from_mask(d, np.ones_like(d, dtype=bool), spacing_zyx_mm=1.0)
        >>> voi.dose_at_volume_gy(50), voi.volume_at_dose_percent(100.0)
        (100.0, 50.0)
        """
        try:
            mode = DvhWeighting(weighting)
        except ValueError:
            raise InputError("weighting", weighting, "one of 'volume', 'mass'") from None
        dose = check_volume(dose_gy, field="dose_gy")
        spacing = check_spacing_zyx_mm(spacing_zyx_mm)
        inside = check_mask(mask, dose.shape, field=f"mask '{voi_name}'")
        density = check_density(density_g_ml, dose.shape, keep_dtype=True)
        voxel_ml = math.prod(spacing) / 1000.0
        doses = np.asarray(dose[inside], dtype=_float_dtype(dose.dtype))
        count = doses.size
        if isinstance(density, np.ndarray):
            masses: NDArray[np.float64] | None = (
                np.asarray(density[inside], dtype=np.float64) * voxel_ml
            )
            assert masses is not None
            mass_g = float(masses.sum())
            energy_j = float(np.dot(doses.astype(np.float64), masses)) / 1000.0  # Gy x kg = J
        else:
            masses = None
            mass_g = float(density * voxel_ml * count)
            energy_j = float(doses.sum(dtype=np.float64)) * density * voxel_ml / 1000.0
        if mode is DvhWeighting.MASS and masses is not None:
            # weights differ per voxel: sort the doses and carry the weights with them
            order = np.argsort(doses)
            doses = doses[order]
            weights = masses[order]
            cumulative = np.cumsum(weights[::-1])
        else:
            # equal weights: the doses alone are sorted; unit weights for volume, so that
            # percentages are exact ratios of voxel counts
            doses = np.sort(doses)
            weight = density * voxel_ml if mode is DvhWeighting.MASS else 1.0
            weights = np.full(count, weight, dtype=np.float64)
            cumulative = (
                np.arange(1, count + 1, dtype=np.float64) if weight == 1.0 else np.cumsum(weights)
            )
        return cls(
            voi_name=voi_name,
            doses_gy=doses,
            weights=weights,
            cumulative_weight=cumulative,
            volume_ml=float(count * voxel_ml),
            mass_g=mass_g,
            energy_j=energy_j,
            weighting=mode,
        )

    @property
    def n_voxels(self) -> int:
        """Number of voxels in the VOI."""
        return int(self.doses_gy.size)

    def dose_at_volume_gy(self, percent: float) -> float:
        """D_x: the minimum dose (Gy) to the hottest ``percent`` % (module docstring)."""
        if not (math.isfinite(percent) and 0.0 < percent <= 100.0):
            raise InputError("dx_percent", percent, "a percentage 0 < x <= 100")
        cumulative = self.cumulative_weight
        needed = percent / 100.0 * cumulative[-1] * (1.0 - _RELATIVE_TOLERANCE)
        index = min(int(np.searchsorted(cumulative, needed, side="left")), cumulative.size - 1)
        return float(self.doses_gy[self.doses_gy.size - 1 - index])

    def volume_at_dose_percent(self, threshold_gy: float) -> float:
        """V_t: percent of the VOI receiving a dose >= ``threshold_gy`` (inclusive)."""
        if not math.isfinite(threshold_gy):
            raise InputError("threshold_gy", threshold_gy, "a finite dose in Gy")
        limit = _as_thresholds(np.array([threshold_gy], dtype=np.float64), self.doses_gy.dtype)
        below = int(np.searchsorted(self.doses_gy, limit[0], side="left"))
        received = self.doses_gy.size - below  # the hottest voxels, dose >= threshold
        if received == 0:
            return 0.0
        total = self.cumulative_weight[-1]
        return float(100.0 * self.cumulative_weight[received - 1] / total)

    def dvh(self, *, bin_width_gy: float = 1.0) -> Dvh:
        """Cumulative DVH, exact at the dose points 0, b, 2b, ... (see :func:`cumulative_dvh`)."""
        width = float(bin_width_gy)
        if not math.isfinite(width) or width <= 0:
            raise InputError("bin_width_gy", bin_width_gy, "a dose step > 0 Gy")
        max_dose = float(self.doses_gy[-1])
        n_points = math.floor(max_dose / width) + 2
        if n_points > MAX_DVH_POINTS:
            raise InputError(
                "bin_width_gy",
                bin_width_gy,
                f"a step giving at most {MAX_DVH_POINTS} points up to {max_dose:.4g} Gy",
            )
        points = np.arange(n_points, dtype=np.float64) * width
        # weight of voxels with dose >= d: the hottest (count - below) voxels
        below = np.searchsorted(
            self.doses_gy, _as_thresholds(points, self.doses_gy.dtype), side="left"
        )
        received_count = self.doses_gy.size - below
        cumulative = np.concatenate([[0.0], self.cumulative_weight])
        volume = 100.0 * cumulative[received_count] / self.cumulative_weight[-1]
        return Dvh(
            voi_name=self.voi_name,
            dose_gy=points,
            volume_percent=np.clip(volume, 0.0, 100.0),
            weighting=self.weighting,
            volume_ml=self.volume_ml,
            mass_g=self.mass_g,
            bin_width_gy=width,
        )

    def metrics(
        self,
        *,
        dx_percent: Sequence[float] = DEFAULT_DX_PERCENT,
        v_thresholds_gy: Sequence[float] = DEFAULT_V_THRESHOLDS_GY,
        radiobiology: RadiobiologyParameters | None = None,
    ) -> VoiDoseMetrics:
        """Dose metrics of the VOI (see :func:`dose_metrics` for the arguments)."""
        doses, weights = self.doses_gy, self.weights
        total_weight = float(self.cumulative_weight[-1])
        mean = float(np.dot(doses.astype(np.float64), weights)) / total_weight
        d_values = {f"D{_label(x)}": self.dose_at_volume_gy(float(x)) for x in dx_percent}
        v_values = {f"V{_label(t)}": self.volume_at_dose_percent(float(t)) for t in v_thresholds_gy}
        extra: dict[str, Any] = {}
        if radiobiology is not None:
            bed_map = bed_map_gy(doses, radiobiology)
            mean_bed = float(np.dot(bed_map, weights)) / total_weight
            eqd2_map = eqd2_of_bed_gy(bed_map, radiobiology.alpha_beta_gy)  # as eqd2_map_gy
            del bed_map
            extra = {
                "bed_of_mean_gy": float(bed_map_gy(np.array([mean]), radiobiology)[0]),
                "eqd2_of_mean_gy": float(eqd2_map_gy(np.array([mean]), radiobiology)[0]),
                "mean_bed_gy": mean_bed,
                "mean_eqd2_gy": float(np.dot(eqd2_map, weights)) / total_weight,
            }
            del eqd2_map
            if radiobiology.alpha_per_gy is not None:
                extra["eud_gy"] = eud_gy(
                    doses.astype(np.float64), radiobiology.alpha_per_gy, weights
                )
        return VoiDoseMetrics(
            voi_name=self.voi_name,
            n_voxels=self.n_voxels,
            volume_ml=self.volume_ml,
            mass_g=self.mass_g,
            weighting=self.weighting,
            mean_gy=mean,
            mean_absorbed_gy=self.energy_j / (self.mass_g / 1000.0),
            energy_j=self.energy_j,
            min_gy=float(doses[0]),
            max_gy=float(doses[-1]),
            median_gy=self.dose_at_volume_gy(50.0),
            d_gy=d_values,
            v_percent=v_values,
            radiobiology=radiobiology,
            **extra,
        )


def dose_metrics(
    dose_gy: ArrayLike,
    mask: ArrayLike,
    *,
    spacing_zyx_mm: float | Sequence[float],
    voi_name: str = "voi",
    density_g_ml: float | ArrayLike = LIVER_DENSITY_G_ML.value,
    weighting: DvhWeighting | str = DvhWeighting.VOLUME,
    dx_percent: Sequence[float] = DEFAULT_DX_PERCENT,
    v_thresholds_gy: Sequence[float] = DEFAULT_V_THRESHOLDS_GY,
    radiobiology: RadiobiologyParameters | None = None,
) -> VoiDoseMetrics:
    """Dose metrics of one VOI: volume, mass, mean/min/max/median, D_x, V_t, BED, EQD2, EUD.

    Parameters
    ----------
    dose_gy
        Dose map, Gy (3-D, z, y, x), >= 0.
    mask
        Boolean VOI mask, same shape, not empty.
    spacing_zyx_mm
        Voxel size (z, y, x), mm.
    voi_name
        Name for the report.
    density_g_ml
        Density (one number or a map), g/mL, for the mass (default 1.03, liver).
    weighting
        ``"volume"`` (default) or ``"mass"`` for the mean, D_x, V_t and EUD.
    dx_percent
        x values of D_x (default 2, 50, 70, 90, 95, 98).
    v_thresholds_gy
        t values of V_t (default 100, 120, 150, 200, 205, 400 Gy).
    radiobiology
        Tissue parameters for BED/EQD2 (and EUD); ``None`` skips them.

    Examples
    --------
    >>> d = np.full((2, 2, 2), 120.0)
    >>> m = dose_metrics(d, np.ones_like(d, dtype=bool), spacing_zyx_mm=10.0,
    ...                  radiobiology=RadiobiologyParameters.tumor(alpha_per_gy=0.005))
    >>> m.volume_ml, m.d_gy["D90"], m.v_percent["V120"], round(m.eud_gy, 6)
    (8.0, 120.0, 100.0, 120.0)
    """
    voi = VoiDoses.from_mask(
        dose_gy,
        mask,
        spacing_zyx_mm=spacing_zyx_mm,
        density_g_ml=density_g_ml,
        weighting=weighting,
        voi_name=voi_name,
    )
    return voi.metrics(
        dx_percent=dx_percent, v_thresholds_gy=v_thresholds_gy, radiobiology=radiobiology
    )
