"""CT number (HU) to mass density (g/mL) by a piecewise-linear calibration curve.

Default curve
-------------
A typical bilinear calibration of the form of Schneider et al. 1996, not any particular
scanner's:

====== ========= ==========================================================
HU     g/mL      segment
====== ========= ==========================================================
-1024  0.00121   air (ICRU dry air 0.0012 g/cm3), flat to -1000 HU
-1000  0.00121   air
0      1.000     water; air-water mixtures in between (lung -700 HU -> 0.30)
100    1.100     soft tissue: liver ~60 HU -> 1.06, muscle ~40 HU -> 1.04
3071   2.883     bone line, 0.0006 g/mL per HU (cortical bone ~1500 HU -> 1.94)
====== ========= ==========================================================

The bone slope (0.6 g/mL per 1000 HU) is the one of Schneider's tissue-substitute fit
for bone-like mixtures. A site should pass its own scanner's calibration (a list of
(HU, g/mL) points measured with an electron-density phantom, e.g. CIRS 062M) through
:meth:`HuDensityCurve.from_points` or :meth:`HuDensityCurve.from_csv`.

Outside the curve's HU range (e.g. -2048 or -3024 padding outside the field of view) the
density is the curve's end value; the number of such voxels is reported in the result (or
refused with ``out_of_range="error"``), never clamped silently.

Reference
---------
Schneider U, Pedroni E, Lomax A. The calibration of CT Hounsfield units for radiotherapy
treatment planning. Phys Med Biol 1996;41(1):111-124.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from y90dose.errors import InputError
from y90dose.validation import given_path

__all__ = [
    "DEFAULT_HU_DENSITY_CURVE",
    "DensityMap",
    "HuDensityCurve",
    "hu_to_density",
]


@dataclass(frozen=True)
class HuDensityCurve:
    """A CT calibration: (HU, density g/mL) points, HU strictly increasing.

    Densities must be > 0 and non-decreasing with HU (a calibration is monotonic).
    Linear interpolation between points.
    """

    points: tuple[tuple[float, float], ...]
    source: str

    def __post_init__(self) -> None:
        if len(self.points) < 2:
            raise InputError(
                "hu_density_curve", list(self.points), "at least two (HU, g/mL) points"
            )
        for hu, rho in self.points:
            if not (math.isfinite(hu) and math.isfinite(rho)) or rho <= 0:
                raise InputError(
                    "hu_density_curve", (hu, rho), "finite points with density > 0 g/mL"
                )
        for (hu0, rho0), (hu1, rho1) in zip(self.points, self.points[1:], strict=False):
            if hu1 <= hu0:
                raise InputError(
                    "hu_density_curve",
                    [hu0, hu1],
                    "HU values strictly increasing from one point to the next",
                )
            if rho1 < rho0:
                raise InputError(
                    "hu_density_curve",
                    [(hu0, rho0), (hu1, rho1)],
                    "densities non-decreasing with HU (a monotonic calibration)",
                )

    @classmethod
    def from_points(
        cls, points: Iterable[Sequence[float]], source: str = "user calibration"
    ) -> HuDensityCurve:
        """A curve from (HU, g/mL) pairs; validated (see the class docstring)."""
        pairs: list[tuple[float, float]] = []
        for point in points:
            if len(point) != 2:
                raise InputError("hu_density_curve", list(point), "pairs (HU, g/mL)")
            pairs.append((float(point[0]), float(point[1])))
        return cls(tuple(pairs), source)

    @classmethod
    def from_csv(cls, path: str | Path) -> HuDensityCurve:
        """Read ``hu,density_g_ml`` rows (a header line and ``#`` comments allowed)."""
        file = given_path(path, "hu_density_curve")
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(
                "hu_density_curve", str(file), f"a readable CSV file ({exc})"
            ) from None
        rows: list[tuple[float, float]] = []
        header_allowed = True
        for number, row in enumerate(csv.reader(text.splitlines()), start=1):
            if not row or row[0].strip().startswith("#"):
                continue
            try:
                rows.append((float(row[0]), float(row[1])))
            except (ValueError, IndexError):
                if header_allowed:  # the first non-comment row may be a header
                    header_allowed = False
                    continue
                raise InputError(
                    "hu_density_curve", f"{file}:{number}: {row}", "rows 'HU,density_g_ml'"
                ) from None
            header_allowed = False
        return cls.from_points(rows, source=str(file))

    @property
    def hu(self) -> NDArray[np.float64]:
        """HU of the points."""
        return np.array([p[0] for p in self.points], dtype=np.float64)

    @property
    def density_g_ml(self) -> NDArray[np.float64]:
        """Densities of the points, g/mL."""
        return np.array([p[1] for p in self.points], dtype=np.float64)


DEFAULT_HU_DENSITY_CURVE = HuDensityCurve(
    points=(
        (-1024.0, 0.00121),
        (-1000.0, 0.00121),
        (0.0, 1.000),
        (100.0, 1.100),
        (3071.0, 2.8826),
    ),
    source="y90dose default: typical bilinear calibration in the form of Schneider U et al., "
    "Phys Med Biol 1996;41:111 (not scanner specific)",
)


@dataclass(frozen=True)
class DensityMap:
    """Densities from a CT image and how they were obtained.

    Attributes
    ----------
    density_g_ml
        Density per voxel, g/mL (float32), the CT's shape.
    curve
        The calibration used.
    below_range_voxels, above_range_voxels
        Voxels whose HU lay outside the curve and took its end density.
    warnings
        Messages for a report.
    """

    density_g_ml: NDArray[np.float32]
    curve: HuDensityCurve
    below_range_voxels: int = 0
    above_range_voxels: int = 0
    warnings: tuple[str, ...] = field(default_factory=tuple)


def hu_to_density(
    hu: ArrayLike,
    curve: HuDensityCurve = DEFAULT_HU_DENSITY_CURVE,
    *,
    out_of_range: str = "clip",
) -> DensityMap:
    """Densities (g/mL) from CT numbers by linear interpolation of ``curve``.

    Parameters
    ----------
    hu
        CT numbers (any shape), finite.
    curve
        Calibration; default :data:`DEFAULT_HU_DENSITY_CURVE`.
    out_of_range
        ``"clip"`` (default): HU outside the curve take its end density and are counted
        in the result; ``"error"``: refuse them.

    Raises
    ------
    InputError
        Non-finite HU, unknown ``out_of_range``, or HU out of range with ``"error"``.

    Examples
    --------
    >>> float(hu_to_density([0.0]).density_g_ml[0])
    1.0
    >>> round(float(hu_to_density([-700.0]).density_g_ml[0]), 2)
    0.3
    """
    if out_of_range not in ("clip", "error"):
        raise InputError("out_of_range", out_of_range, "one of 'clip', 'error'")
    values = np.asarray(hu, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise InputError("hu", "NaN or infinite CT numbers", "finite HU values")
    lo, hi = curve.points[0][0], curve.points[-1][0]
    below = int(np.count_nonzero(values < lo))
    above = int(np.count_nonzero(values > hi))
    warnings: list[str] = []
    if below or above:
        if out_of_range == "error":
            raise InputError(
                "hu",
                f"{below} voxel(s) below {lo:g} HU, {above} above {hi:g} HU",
                f"HU within the calibration curve [{lo:g}, {hi:g}]",
            )
        warnings.append(
            f"{below} voxel(s) below {lo:g} HU and {above} above {hi:g} HU took the "
            "calibration curve's end density"
        )
    density = np.interp(values, curve.hu, curve.density_g_ml).astype(np.float32)
    return DensityMap(density, curve, below, above, tuple(warnings))
