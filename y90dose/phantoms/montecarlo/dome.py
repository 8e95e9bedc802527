"""The liver-dome Monte Carlo reference: liver with uniform activity under a lung dome.

Geometry (all in mm, cubic voxels of :data:`DOME_VOXEL_MM`, axes z up, y, x):

- a cubic box of :data:`DOME_SHAPE_ZYX` voxels (234 mm), z from 0 (bottom);
- liver (ICRU soft tissue, 1.04 g/cm3): voxels whose centre lies inside a sphere of
  radius :data:`DOME_RADIUS_MM` at the box centre; its upper half is the dome;
- lung (ICRU 44 inflated lung, 0.26 g/cm3): every other voxel, at least
  :data:`DOME_LUNG_MARGIN_MM` thick between the liver and every face of the box;
- activity: uniform in the liver, and :data:`DOME_TUMOUR_RATIO` times that concentration
  in a spherical tumour of radius :data:`DOME_TUMOUR_RADIUS_MM` touching the dome from
  below on the axis.

Why the whole liver sits inside lung: a first version (120 x 120 x 108 mm box, the dome cut
by the box's faces) put lung next to the box's lateral faces just above the liver. Beta
electrons in lung travel about 4 times further than in tissue (CSDA range of the 2.28 MeV
endpoint 11 mm in water, 42 mm at 0.26 g/mL), so part of the energy entering the lung there
left the Monte Carlo box, which a patient's lung (closed by the chest wall) does not do, and
the "mean lung dose" measured the box rather than the interface. With a margin wider than
that range on every face, no lung energy leaves the box: the mean lung dose then measures
the energy that crosses the liver surface, which is what a lung-dose calculation needs.

Regions scored from the Monte Carlo dose per decay: the whole lung in the box, the liver
within :data:`DOME_BAND_MM` (voxel centre distance to the sphere) under the dome (upper
half), the liver and the tumour; and the lung dose in shells by distance from the sphere
(diagnostic). The same voxel grid, densities and activity are what y90dose's engines are
run on, so the comparison has no voxelisation difference.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from y90dose.constants import J_PER_MEV
from y90dose.phantoms.montecarlo.case import MEDIA, MonteCarloCase, run_case

DOME_VOXEL_MM = 3.0
DOME_SHAPE_ZYX = (78, 78, 78)
"""Voxels (z, y, x): 234 mm on each side."""
DOME_RADIUS_MM = 70.0
"""Liver sphere radius: a diaphragm dome's radius of curvature is about 70-120 mm."""
DOME_CENTRE_Z_MM = DOME_SHAPE_ZYX[0] * DOME_VOXEL_MM / 2.0
DOME_LUNG_MARGIN_MM = DOME_SHAPE_ZYX[0] * DOME_VOXEL_MM / 2.0 - DOME_RADIUS_MM
"""47 mm of lung between the liver and each face: more than the 42 mm CSDA range of the
Y-90 endpoint in 0.26 g/mL lung, so no lung energy leaves the box."""
DOME_TUMOUR_RADIUS_MM = 12.0
DOME_TUMOUR_RATIO = 4.0
"""Tumour-to-liver activity concentration ratio."""
DOME_BAND_MM = 5.0
"""Thickness of the liver layer under the dome that is scored."""
DOME_N_HISTORIES = 4_000_000
DOME_SEED = 94
DOME_SHELLS_MM = (0.0, 3.0, 6.0, 9.0, 12.0, 15.0, 18.0, 24.0, 30.0, 42.0)
"""Edges of the lung shells (voxel centre distance to the sphere, mm) scored as a
diagnostic depth profile."""


@dataclass(frozen=True)
class DomeGeometry:
    """Arrays in (z, y, x) order on the dome grid.

    Attributes
    ----------
    density_g_ml
        1.04 in liver, 0.26 in lung.
    activity_relative
        Relative activity per voxel (1 per liver voxel, the ratio in the tumour).
    liver, lung, tumour, liver_band
        Masks; ``liver_band`` is the liver within :data:`DOME_BAND_MM` of the dome (the
        sphere's upper half).
    lung_depth_mm
        Distance of each voxel centre outside the sphere, mm (negative inside).
    spacing_mm
        Voxel size (z, y, x), mm.
    """

    density_g_ml: npt.NDArray[np.float64]
    activity_relative: npt.NDArray[np.float64]
    liver: npt.NDArray[np.bool_]
    lung: npt.NDArray[np.bool_]
    tumour: npt.NDArray[np.bool_]
    liver_band: npt.NDArray[np.bool_]
    lung_depth_mm: npt.NDArray[np.float64]
    spacing_mm: tuple[float, float, float]


def dome_geometry() -> DomeGeometry:
    """The phantom on its voxel grid (deterministic)."""
    h = DOME_VOXEL_MM
    nz, ny, nx = DOME_SHAPE_ZYX
    z = (np.arange(nz) + 0.5) * h
    y = (np.arange(ny) + 0.5 - ny / 2) * h
    x = (np.arange(nx) + 0.5 - nx / 2) * h
    zz, yy, xx = np.meshgrid(z, y, x, indexing="ij")
    distance = np.sqrt((zz - DOME_CENTRE_Z_MM) ** 2 + yy**2 + xx**2)
    liver = distance < DOME_RADIUS_MM
    top = DOME_CENTRE_Z_MM + DOME_RADIUS_MM
    tumour_centre = top - DOME_TUMOUR_RADIUS_MM
    tumour = np.sqrt((zz - tumour_centre) ** 2 + yy**2 + xx**2) < DOME_TUMOUR_RADIUS_MM
    tumour &= liver
    density = np.where(liver, MEDIA["icru-tissue"][1], MEDIA["lung"][1])
    activity = np.where(liver, 1.0, 0.0)
    activity[tumour] = DOME_TUMOUR_RATIO
    band = liver & (distance > DOME_RADIUS_MM - DOME_BAND_MM) & (zz > DOME_CENTRE_Z_MM)
    return DomeGeometry(
        density_g_ml=density,
        activity_relative=activity,
        liver=liver,
        lung=~liver,
        tumour=tumour,
        liver_band=band,
        lung_depth_mm=distance - DOME_RADIUS_MM,
        spacing_mm=(h, h, h),
    )


def dome_case(*, n_histories: int = DOME_N_HISTORIES, seed: int = DOME_SEED) -> MonteCarloCase:
    """The Monte Carlo case (arrays transposed to ompMC's [ix, iy, iz])."""
    geo = dome_geometry()
    nz, ny, nx = DOME_SHAPE_ZYX
    h = DOME_VOXEL_MM / 10.0
    to_xyz = (2, 1, 0)
    medium = np.where(geo.liver, 1, 2).astype(np.int32)
    return MonteCarloCase(
        name="liver-dome",
        x_bounds_cm=np.asarray((np.arange(nx + 1) - nx / 2) * h, dtype=np.float64),
        y_bounds_cm=np.asarray((np.arange(ny + 1) - ny / 2) * h, dtype=np.float64),
        z_bounds_cm=np.asarray(np.arange(nz + 1) * h, dtype=np.float64),
        media=("icru-tissue", "lung"),
        medium_index=np.ascontiguousarray(medium.transpose(to_xyz)),
        density_g_cm3=np.ascontiguousarray(geo.density_g_ml.transpose(to_xyz)),
        source_weight=np.ascontiguousarray(geo.activity_relative.transpose(to_xyz)),
        n_histories=n_histories,
        seed=seed,
    )


def _region(
    dose: npt.NDArray[np.float64], unc: npt.NDArray[np.float64], mask: npt.NDArray[np.bool_]
) -> tuple[float, float]:
    values = dose[mask]
    mean = float(values.mean())
    sigma = float(np.sqrt(np.sum((values * unc[mask]) ** 2)) / values.size)
    return mean, sigma / mean if mean > 0 else 1.0


def compute_dome(*, n_histories: int = DOME_N_HISTORIES, seed: int = DOME_SEED) -> dict[str, Any]:
    """Run the case; return region means (Gy per decay) with provenance."""
    case = dome_case(n_histories=n_histories, seed=seed)
    result = run_case(case)
    dose = result.dose_gy_per_decay.transpose(2, 1, 0)
    unc = np.where(result.relative_uncertainty >= 0.999, 0.0, result.relative_uncertainty)
    unc = unc.transpose(2, 1, 0)
    geo = dome_geometry()
    regions = {
        "lung": geo.lung,
        "liver_band_5mm": geo.liver_band,
        "liver": geo.liver,
        "tumour": geo.tumour,
    }
    means = {name: _region(dose, unc, mask) for name, mask in regions.items()}
    axis = dose[:, DOME_SHAPE_ZYX[1] // 2 - 1 : DOME_SHAPE_ZYX[1] // 2 + 1, :]
    axis = axis[:, :, DOME_SHAPE_ZYX[2] // 2 - 1 : DOME_SHAPE_ZYX[2] // 2 + 1].mean(axis=(1, 2))
    shells = [
        _region(dose, unc, geo.lung & (geo.lung_depth_mm >= a) & (geo.lung_depth_mm < b))
        for a, b in itertools.pairwise(DOME_SHELLS_MM)
    ]
    mass = geo.density_g_ml * DOME_VOXEL_MM**3 * 1e-6  # kg
    decay_j = float(result.provenance["sampled_mean_energy_mev"]) * J_PER_MEV.value
    energy = dose * mass / decay_j
    return {
        "quantity": "mean absorbed dose per decay (of the whole source), Gy, per region; "
        "relative uncertainty assumes independent voxels",
        "geometry": {
            "voxel_mm": DOME_VOXEL_MM,
            "shape_zyx": list(DOME_SHAPE_ZYX),
            "dome_centre_z_mm": DOME_CENTRE_Z_MM,
            "dome_radius_mm": DOME_RADIUS_MM,
            "tumour_radius_mm": DOME_TUMOUR_RADIUS_MM,
            "tumour_to_liver_ratio": DOME_TUMOUR_RATIO,
            "band_mm": DOME_BAND_MM,
            "lung_margin_mm": DOME_LUNG_MARGIN_MM,
            "media": {"liver": "icru-tissue 1.04 g/cm3", "lung": "lung 0.26 g/cm3"},
            "generator": "y90dose.phantoms.montecarlo.dome.dome_geometry",
        },
        "region_dose_gy_per_decay": {name: m for name, (m, _) in means.items()},
        "region_relative_uncertainty": {name: u for name, (_, u) in means.items()},
        "region_voxels": {name: int(mask.sum()) for name, mask in regions.items()},
        "energy_fraction_of_decay": {
            "lung": float(energy[geo.lung].sum()),
            "liver": float(energy[geo.liver].sum()),
            "box": float(energy.sum()),
        },
        "lung_shell_edges_mm": list(DOME_SHELLS_MM),
        "lung_shell_dose_gy_per_decay": [m for m, _ in shells],
        "lung_shell_relative_uncertainty": [u for _, u in shells],
        "central_axis_dose_gy_per_decay": axis.tolist(),
        "provenance": result.provenance,
    }
