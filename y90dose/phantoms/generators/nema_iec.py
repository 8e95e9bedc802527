"""``nema-iec``: the NEMA NU 2 / IEC 61675-1 body phantom with six hot spheres.

Geometry (interior, approximated from the published drawings): cross-section the union
of a half-disc of radius 147 mm (anterior) and a 294 x 77 mm rectangle (posterior), 180 mm
long; a lung insert (cylinder, 51 mm diameter, no activity, 0.30 g/mL) along the axis;
six spheres of inner diameter 10, 13, 17, 22, 28 and 37 mm with centres on a 57.2 mm
radius circle about the insert, in the transverse plane 70 mm from the lid (z = +20 mm).
Sphere walls are not modelled.

Known answers: compartment volumes and activities, each sphere's mean LDM dose
C x c / rho, and each sphere's recovery coefficient RC = mean of the blurred truth in the
sphere VOI / true concentration (blurred truth: the exact activity map convolved with the
Gaussian resolution of the parameter ``fwhm_mm``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from y90dose.constants import ENERGY_EANM_J_PER_GBQ
from y90dose.errors import InputError
from y90dose.phantoms.analytic import ldm_dose_gy, sphere_volume_ml
from y90dose.phantoms.base import Phantom
from y90dose.phantoms.generators.common import TISSUES, blur, counts_image, mixed_property
from y90dose.phantoms.geometry import FloatArray, VoxelGrid, elliptic_cylinder, sphere

SPHERE_DIAMETERS_MM = (10.0, 13.0, 17.0, 22.0, 28.0, 37.0)
SPHERE_RING_RADIUS_MM = 57.2
SPHERE_PLANE_Z_MM = 20.0
HALF_LENGTH_MM = 90.0
HALF_DISC_RADIUS_MM = 147.0
RECT_DEPTH_MM = 77.0
LUNG_INSERT_RADIUS_MM = 25.5


def _body(x: FloatArray, y: FloatArray, z: FloatArray) -> Any:
    in_z = np.abs(z) <= HALF_LENGTH_MM
    half_disc = (x**2 + y**2 <= HALF_DISC_RADIUS_MM**2) & (y <= 0)
    rect = (np.abs(x) <= HALF_DISC_RADIUS_MM) & (y >= 0) & (y <= RECT_DEPTH_MM)
    return in_z & (half_disc | rect)


def sphere_centres_mm() -> list[tuple[float, float, float]]:
    """Centres of the six spheres (smallest first), 60 degrees apart, anterior half first."""
    centres = []
    for n in range(6):
        angle = np.deg2rad(180.0 + 60.0 * n)
        centres.append(
            (
                SPHERE_RING_RADIUS_MM * float(np.cos(angle)),
                SPHERE_RING_RADIUS_MM * float(np.sin(angle)),
                SPHERE_PLANE_Z_MM,
            )
        )
    return centres


def generate(
    *,
    background_mbq_ml: float = 0.1,
    sphere_to_background: float = 4.0,
    spacing_mm: float = 3.0,
    fwhm_mm: float = 13.0,
    total_counts: float | None = None,
    seed: int = 5,
) -> Phantom:
    """Build the NEMA/IEC phantom.

    Parameters
    ----------
    background_mbq_ml
        Y-90 background concentration, MBq/mL.
    sphere_to_background
        Sphere-to-background concentration ratio (NEMA uses 4 and 8).
    spacing_mm
        Isotropic voxel size, mm.
    fwhm_mm
        Resolution of the emission image (13 mm SPECT-like; about 6 mm PET-like).
    total_counts
        Poisson noise at this total count, or None (default) for the noise-free image.
    seed
        Noise seed.
    """
    if sphere_to_background <= 0 or background_mbq_ml < 0:
        raise InputError("sphere_to_background", sphere_to_background, "a ratio > 0")
    grid = VoxelGrid.centred((306.0, 306.0, 192.0), spacing_mm)
    f_body = grid.occupancy(_body)
    insert = elliptic_cylinder(
        (0.0, 0.0), (LUNG_INSERT_RADIUS_MM,) * 2, (-HALF_LENGTH_MM, HALF_LENGTH_MM)
    )
    f_insert = grid.occupancy(insert)
    centres = sphere_centres_mm()
    shapes = [sphere(c, d / 2.0) for c, d in zip(centres, SPHERE_DIAMETERS_MM, strict=True)]
    f_spheres = [grid.occupancy(s) for s in shapes]
    f_sphere_all = np.sum(f_spheres, axis=0)
    f_background = np.clip(f_body - f_insert - f_sphere_all, 0.0, 1.0)
    c_bg = background_mbq_ml * 1e6
    c_sphere = c_bg * sphere_to_background
    v = grid.voxel_volume_ml
    activity = v * (c_bg * f_background + c_sphere * f_sphere_all)
    fractions = {"lung_insert": f_insert, "water": f_background + f_sphere_all}
    ct = mixed_property(fractions, "air", 0)
    rho = mixed_property(fractions, "air", 1)
    truth = blur(activity, fwhm_mm, grid)
    counts, expected = counts_image(truth, total_counts, np.random.default_rng(seed))
    x, y, z = grid.centres_mm()
    vois: dict[str, np.ndarray] = {
        "body": np.broadcast_to(_body(x, y, z), grid.shape_zyx).copy(),
        "lung_insert": np.broadcast_to(insert(x, y, z), grid.shape_zyx).copy(),
    }
    names = [f"sphere_{int(d)}mm" for d in SPHERE_DIAMETERS_MM]
    for name, shape in zip(names, shapes, strict=True):
        vois[name] = np.broadcast_to(shape(x, y, z), grid.shape_zyx).copy()
    # Background VOI: a 37 mm... simple choice: body minus insert and spheres dilated by 15 mm.
    near = np.zeros(grid.shape_zyx, dtype=bool)
    for c, d in zip(centres, SPHERE_DIAMETERS_MM, strict=True):
        near |= (x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2 <= (d / 2 + 15.0) ** 2
    vois["background"] = (
        vois["body"]
        & ~near
        & ((x**2 + y**2) > (LUNG_INSERT_RADIUS_MM + 15.0) ** 2)
        & (np.abs(z) < HALF_LENGTH_MM - 15.0)
    )
    # The emission image is quantitative (Bq/mL, like a calibrated PET or SPECT): the
    # expected counts scaled back so that the noise-free image holds the true activity.
    scale = float(activity.sum() / expected.sum())
    to_bq_ml = scale / grid.voxel_volume_ml
    energy = ENERGY_EANM_J_PER_GBQ.value
    rho_water = TISSUES["water"][1]
    volumes = [sphere_volume_ml(d / 2) for d in SPHERE_DIAMETERS_MM]
    rc = [float((expected[vois[n]] * scale).mean() / v / c_sphere) for n in names]
    body_ml = (
        (np.pi * HALF_DISC_RADIUS_MM**2 / 2 + 2 * HALF_DISC_RADIUS_MM * RECT_DEPTH_MM)
        * (2 * HALF_LENGTH_MM)
        / 1000.0
    )
    insert_ml = np.pi * LUNG_INSERT_RADIUS_MM**2 * 2 * HALF_LENGTH_MM / 1000.0
    background_ml = body_ml - insert_ml - sum(volumes)
    known = {
        "energy_j_per_gbq": {"value": energy, "source": ENERGY_EANM_J_PER_GBQ.source},
        "sphere_diameters_mm": list(SPHERE_DIAMETERS_MM),
        "sphere_names": names,
        "sphere_volumes_ml": {"value": volumes, "derivation": "4/3 pi r^3"},
        "sphere_activity_mbq": {
            "value": [c_sphere * vol / 1e6 for vol in volumes],
            "derivation": "concentration x analytic volume",
        },
        "background_volume_ml": {
            "value": background_ml,
            "derivation": "analytic body - lung insert - spheres",
        },
        "total_activity_mbq": {
            "value": (c_bg * background_ml + c_sphere * sum(volumes)) / 1e6,
            "derivation": "analytic volumes x concentrations",
        },
        "concentration_mbq_ml": {"value": {"background": c_bg / 1e6, "spheres": c_sphere / 1e6}},
        "sphere_ldm_dose_gy": {
            "value": [ldm_dose_gy(c_sphere / 1e9, rho_water / 1000.0, energy)] * 6,
            "derivation": "C x c / rho for a uniform sphere (physics.md 6)",
        },
        "background_ldm_dose_gy": {
            "value": ldm_dose_gy(c_bg / 1e9, rho_water / 1000.0, energy),
            "derivation": "C x c / rho",
        },
        "recovery_coefficients": {
            "value": rc,
            "derivation": f"mean of the blurred truth (Gaussian FWHM {fwhm_mm} mm) in each "
            "sphere VOI / true sphere concentration",
        },
        "fwhm_mm": fwhm_mm,
        "voxelised_activity_mbq": {
            "value": float(activity.sum() / 1e6),
            "derivation": "sum of the exact activity map",
        },
    }
    return Phantom(
        name="nema-iec",
        grid=grid,
        ct_hu=ct,
        density_g_ml=rho,
        activity_bq=activity,
        vois=vois,
        known_answers=known,
        spect_counts=counts * to_bq_ml,
        spect_truth_counts=expected * to_bq_ml,
        emission_units="BQML",
        parameters={
            "background_mbq_ml": background_mbq_ml,
            "sphere_to_background": sphere_to_background,
            "spacing_mm": spacing_mm,
            "fwhm_mm": fwhm_mm,
            "total_counts": total_counts,
            "seed": seed,
        },
    )
