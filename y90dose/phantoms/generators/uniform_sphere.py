"""``uniform-sphere``: a sphere of uniform Y-90 activity in a water cylinder.

Known answers (physics.md section 6): the sphere's mean local-deposition (LDM) dose
D = C x A / M with M the analytic sphere mass, and the voxel LDM dose C x c / rho inside;
deep inside the sphere (more than the 11 mm maximum beta range from its surface) a dose
voxel kernel must give the same dose, because all the beta energy emitted there is
absorbed there (charged-particle equilibrium).
"""

from __future__ import annotations

import numpy as np

from y90dose.constants import ENERGY_EANM_J_PER_GBQ, Y90_MAX_BETA_ENERGY_MEV
from y90dose.errors import InputError
from y90dose.phantoms.analytic import ldm_dose_gy, sphere_volume_ml
from y90dose.phantoms.base import Phantom
from y90dose.phantoms.generators.common import TISSUES, mixed_property
from y90dose.phantoms.geometry import VoxelGrid, elliptic_cylinder, sphere

MAX_BETA_RANGE_MM = 11.0
"""Maximum Y-90 beta range in water, mm (physics.md section 1, NRC registry entry)."""


def generate(
    *,
    activity_gbq: float = 1.0,
    radius_mm: float = 40.0,
    spacing_mm: float = 3.0,
    cylinder_diameter_mm: float = 200.0,
    cylinder_length_mm: float = 200.0,
    seed: int = 0,
) -> Phantom:
    """Build the phantom (deterministic; ``seed`` unused, kept for a uniform signature).

    Parameters
    ----------
    activity_gbq
        Activity in the sphere at the reference time, GBq.
    radius_mm
        Sphere radius, mm (> 11 mm so an interior exists).
    spacing_mm
        Isotropic voxel size, mm (3 mm: the Lanconelli 2012 tabulated size).
    cylinder_diameter_mm, cylinder_length_mm
        The water cylinder.
    """
    if radius_mm <= MAX_BETA_RANGE_MM + spacing_mm:
        raise InputError("radius_mm", radius_mm, f"a radius > {MAX_BETA_RANGE_MM + spacing_mm} mm")
    if activity_gbq <= 0:
        raise InputError("activity_gbq", activity_gbq, "an activity > 0 GBq")
    extent = cylinder_diameter_mm + 4 * spacing_mm
    grid = VoxelGrid.centred((extent, extent, cylinder_length_mm + 4 * spacing_mm), spacing_mm)
    half_length = cylinder_length_mm / 2.0
    radius_cyl = cylinder_diameter_mm / 2.0
    body_shape = elliptic_cylinder(
        (0.0, 0.0), (radius_cyl, radius_cyl), (-half_length, half_length)
    )
    sphere_shape = sphere((0.0, 0.0, 0.0), radius_mm)
    f_body = grid.occupancy(body_shape)
    f_sphere = grid.occupancy(sphere_shape)
    volume_ml = sphere_volume_ml(radius_mm)
    density = TISSUES["water"][1]
    concentration_bq_ml = activity_gbq * 1e9 / volume_ml
    activity = concentration_bq_ml * grid.voxel_volume_ml * f_sphere
    ct = mixed_property({"water": f_body}, "air", 0)
    rho = mixed_property({"water": f_body}, "air", 1)
    x, y, z = grid.centres_mm()
    r = np.sqrt(x**2 + y**2 + z**2)
    vois = {
        "body": np.broadcast_to(body_shape(x, y, z), grid.shape_zyx).copy(),
        "sphere": np.broadcast_to(sphere_shape(x, y, z), grid.shape_zyx).copy(),
        "sphere_interior": (r <= radius_mm - MAX_BETA_RANGE_MM - spacing_mm),
    }
    c = ENERGY_EANM_J_PER_GBQ.value
    mass_kg = volume_ml * density / 1000.0
    dose = ldm_dose_gy(activity_gbq, mass_kg, c)
    known = {
        "energy_j_per_gbq": {"value": c, "source": ENERGY_EANM_J_PER_GBQ.source},
        "activity_gbq": {"value": activity_gbq, "derivation": "generator parameter"},
        "sphere_volume_ml": {"value": volume_ml, "derivation": "4/3 pi r^3"},
        "sphere_mass_kg": {"value": mass_kg, "derivation": "volume x 1.0 g/mL (water)"},
        "sphere_mean_ldm_dose_gy": {
            "value": dose,
            "derivation": "D = C x A / M (physics.md 4.1/6)",
        },
        "interior_dose_gy": {
            "value": dose,
            "derivation": "charged-particle equilibrium deeper than the 11 mm maximum beta "
            "range (+1 voxel) inside the sphere: LDM and DVK doses equal C x c / rho",
        },
        "voxelised_activity_gbq": {
            "value": float(activity.sum() / 1e9),
            "derivation": "sum of the exact (partial-volume) activity map; differs from the "
            "analytic activity only by the occupancy sampling",
        },
        "max_beta_energy_mev": Y90_MAX_BETA_ENERGY_MEV.value,
    }
    return Phantom(
        name="uniform-sphere",
        grid=grid,
        ct_hu=ct,
        density_g_ml=rho,
        activity_bq=activity,
        vois=vois,
        known_answers=known,
        parameters={
            "activity_gbq": activity_gbq,
            "radius_mm": radius_mm,
            "spacing_mm": spacing_mm,
            "cylinder_diameter_mm": cylinder_diameter_mm,
            "cylinder_length_mm": cylinder_length_mm,
            "seed": seed,
        },
    )
