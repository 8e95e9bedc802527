"""``liver``: a digital patient for planning and voxel dosimetry with known answers.

Body: elliptic cylinder of soft tissue with a bone spine. Liver: an ellipsoid of
1.5 L on the patient's right holding three spherical tumours of different sizes and
tumour-to-normal ratios (TN, ratio of activity concentrations). Lungs: two ellipsoids
above the diaphragm receiving the lung shunt fraction (LSF) of the activity. The exact
activity map puts a uniform concentration in each compartment (partial-volume weighted);
the MAA-like SPECT is that map blurred by a Gaussian of the SPECT resolution (FWHM 13 mm by
default, typical of Tc-99m SPECT with a LEHR collimator) with Poisson noise at a realistic
total count (4 million counts by default).

Known answers (physics.md sections 4.3 and 6), from the analytic shapes only:
compartment volumes, masses and activities, LSF, TN, partition-model doses (equal to the
compartments' mean LDM doses, since each compartment is uniform), plus what an image-based
pipeline should find on the noise-free blurred SPECT (labelled as such).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from y90dose.constants import ENERGY_EANM_J_PER_GBQ
from y90dose.errors import InputError
from y90dose.phantoms.analytic import ellipsoid_volume_ml, partition_doses_gy, sphere_volume_ml
from y90dose.phantoms.base import Phantom
from y90dose.phantoms.generators.common import TISSUES, blur, counts_image, mixed_property
from y90dose.phantoms.geometry import VoxelGrid, ellipsoid, elliptic_cylinder, sphere, union

LIVER_VOLUME_ML = 1500.0
LIVER_CENTRE_MM = (-60.0, 0.0, -30.0)
LIVER_SEMI_AXES_XY_MM = (100.0, 75.0)
TUMORS: tuple[tuple[str, tuple[float, float, float], float, float], ...] = (
    ("tumor1", (-95.0, -5.0, -30.0), 20.0, 4.0),
    ("tumor2", (-25.0, 25.0, -25.0), 14.0, 6.0),
    ("tumor3", (-55.0, -40.0, -35.0), 10.0, 2.0),
)
"""(name, centre mm, radius mm, TN) of each tumour."""
LUNGS: tuple[tuple[float, float, float], ...] = ((-80.0, 0.0, 100.0), (80.0, 0.0, 100.0))
LUNG_SEMI_AXES_MM = (55.0, 65.0, 65.0)
BODY_SEMI_AXES_MM = (170.0, 120.0)
SPINE = ((0.0, 95.0), 15.0)


def generate(
    *,
    activity_gbq: float = 2.0,
    lsf: float = 0.08,
    spacing_mm: float = 4.0,
    spect_fwhm_mm: float = 13.0,
    spect_total_counts: float | None = 4.0e6,
    seed: int = 4,
) -> Phantom:
    """Build the liver phantom.

    Parameters
    ----------
    activity_gbq
        Y-90 activity administered (liver + lungs) at the reference time, GBq.
    lsf
        Lung shunt fraction, 0 <= lsf < 1.
    spacing_mm
        Isotropic voxel size of CT, SPECT and maps, mm.
    spect_fwhm_mm
        SPECT resolution, mm.
    spect_total_counts
        Expected total counts of the SPECT (Poisson noise), or None for no noise.
    seed
        Seed of the Poisson noise.
    """
    if not 0.0 <= lsf < 1.0:
        raise InputError("lsf", lsf, "a fraction 0 <= lsf < 1")
    if activity_gbq <= 0:
        raise InputError("activity_gbq", activity_gbq, "an activity > 0 GBq")
    rng = np.random.default_rng(seed)
    grid = VoxelGrid.centred((360.0, 256.0, 296.0), spacing_mm)
    # The grid is centred on z = 0 with 296 mm extent: shift the anatomy to fit, keeping
    # liver and lungs > 20 mm (4 sigma of the SPECT blur) from the top and bottom slices.
    a, b = LIVER_SEMI_AXES_XY_MM
    c = LIVER_VOLUME_ML * 1000.0 / (4.0 / 3.0 * np.pi * a * b)
    z_shift = -45.0
    liver_centre = (LIVER_CENTRE_MM[0], LIVER_CENTRE_MM[1], LIVER_CENTRE_MM[2] + z_shift)
    body = elliptic_cylinder((0.0, 0.0), BODY_SEMI_AXES_MM, (-1e9, 1e9))
    liver = ellipsoid(liver_centre, (a, b, c))
    tumors = [(name, sphere((x, y, z + z_shift), r), r, tn) for name, (x, y, z), r, tn in TUMORS]
    lungs = union(*(ellipsoid((x, y, z + z_shift), LUNG_SEMI_AXES_MM) for x, y, z in LUNGS))
    spine = elliptic_cylinder(SPINE[0], (SPINE[1], SPINE[1]), (-1e9, 1e9))

    f_body = grid.occupancy(body)
    f_liver = grid.occupancy(liver)
    f_tumors = [grid.occupancy(shape) for _, shape, _, _ in tumors]
    f_lungs = grid.occupancy(lungs)
    f_spine = grid.occupancy(spine)
    f_tumor_all = np.sum(f_tumors, axis=0)
    if np.any(f_tumor_all > f_liver + 1e-9):
        raise AssertionError("a tumour reaches outside the liver")  # geometry constants
    f_normal = np.clip(f_liver - f_tumor_all, 0.0, 1.0)

    # Analytic volumes and masses.
    liver_ml = ellipsoid_volume_ml(a, b, c)
    tumor_ml = [sphere_volume_ml(r) for _, _, r, _ in tumors]
    normal_ml = liver_ml - sum(tumor_ml)
    lungs_ml = 2 * ellipsoid_volume_ml(*LUNG_SEMI_AXES_MM)
    rho_liver = TISSUES["liver"][1]
    rho_lung = TISSUES["lung"][1]
    tn = [tn for _, _, _, tn in tumors]

    # Compartment concentrations (Bq/mL) from the analytic volumes.
    activity_bq = activity_gbq * 1e9
    liver_bq = activity_bq * (1.0 - lsf)
    c_normal = liver_bq / (normal_ml + sum(t * v for t, v in zip(tn, tumor_ml, strict=True)))
    c_lung = activity_bq * lsf / lungs_ml
    v = grid.voxel_volume_ml
    activity = v * (c_normal * f_normal + c_lung * f_lungs)
    for t, f in zip(tn, f_tumors, strict=True):
        activity += v * t * c_normal * f

    fractions = {
        "lung": f_lungs,
        "liver": f_normal,
        "tumor": f_tumor_all,
        "bone": np.clip(f_spine, 0.0, 1.0),
    }
    soft = np.clip(f_body - f_lungs - f_liver - f_spine, 0.0, 1.0)
    ct = mixed_property({**fractions, "soft_tissue": soft}, "air", 0)
    rho = mixed_property({**fractions, "soft_tissue": soft}, "air", 1)

    blurred = blur(activity, spect_fwhm_mm, grid)
    counts, expected = counts_image(blurred, spect_total_counts, rng)

    x, y, z = grid.centres_mm()

    def mask(shape: Any) -> np.ndarray:
        return np.broadcast_to(shape(x, y, z), grid.shape_zyx).copy()

    vois: dict[str, np.ndarray] = {"body": mask(body), "lungs": mask(lungs), "liver": mask(liver)}
    for name, shape, _, _ in tumors:
        vois[name] = mask(shape)

    energy = ENERGY_EANM_J_PER_GBQ.value
    tumor_kg = [vol * rho_liver / 1000.0 for vol in tumor_ml]
    normal_kg = normal_ml * rho_liver / 1000.0
    lung_kg = lungs_ml * rho_lung / 1000.0
    doses = partition_doses_gy(
        activity_gbq=activity_gbq,
        lsf=lsf,
        tumor_mass_kg=tumor_kg,
        tn_ratio=tn,
        normal_mass_kg=normal_kg,
        lung_mass_kg=lung_kg,
        energy_j_per_gbq=energy,
    )

    # What an image-based pipeline should find on the noise-free blurred SPECT, with the
    # VOIs as drawn (voxel centres inside the analytic shapes).
    tumor_any = np.zeros(grid.shape_zyx, dtype=bool)
    for name, _, _, _ in tumors:
        tumor_any |= vois[name]
    normal_mask = vois["liver"] & ~tumor_any
    lung_counts = float(expected[vois["lungs"]].sum())
    liver_counts = float(expected[vois["liver"]].sum())
    normal_mean = float(expected[normal_mask].mean())
    image_tn = [float(expected[vois[name]].mean()) / normal_mean for name, _, _, _ in tumors]

    known = {
        "energy_j_per_gbq": {"value": energy, "source": ENERGY_EANM_J_PER_GBQ.source},
        "activity_gbq": {"value": activity_gbq, "derivation": "generator parameter"},
        "lsf": {"value": lsf, "derivation": "generator parameter: lung activity / total"},
        "tn_ratio": {"value": tn, "derivation": "generator parameter (concentration ratios)"},
        "volumes_ml": {
            "value": {
                "liver": liver_ml,
                "normal_liver": normal_ml,
                "lungs": lungs_ml,
                "tumors": tumor_ml,
            },
            "derivation": "4/3 pi abc (ellipsoids), 4/3 pi r^3 (spheres)",
        },
        "masses_kg": {
            "value": {"normal_liver": normal_kg, "tumors": tumor_kg, "lungs": lung_kg},
            "derivation": "volume x density (liver and tumour 1.03 g/mL EANM2022; lung "
            "0.25 g/mL, the phantom's lung)",
        },
        "compartment_activity_gbq": {
            "value": {
                "lungs": activity_gbq * lsf,
                "liver": activity_gbq * (1 - lsf),
                "normal_liver": c_normal * normal_ml / 1e9,
                "tumors": [t * c_normal * vol / 1e9 for t, vol in zip(tn, tumor_ml, strict=True)],
            },
            "derivation": "c_N = A (1-LSF) / (V_N + sum TN_i V_T,i); A_T,i = TN_i c_N V_T,i",
        },
        "partition_doses_gy": {
            "value": doses,
            "derivation": "physics.md 4.3 inverse form with the analytic masses; equal to "
            "each compartment's mean LDM dose",
        },
        "ldm_mean_dose_gy": {
            "value": {
                "normal_liver": doses["normal_gy"],
                "tumors": doses["tumors_gy"],
                "lungs": doses["lung_gy"],
            },
            "derivation": "C x A_compartment / M_compartment (uniform compartments)",
        },
        "spect": {
            "fwhm_mm": spect_fwhm_mm,
            "total_counts_expected": spect_total_counts,
            "noise": "Poisson" if spect_total_counts is not None else "none",
            "seed": seed,
        },
        "image_expected_noise_free": {
            "value": {
                "lsf": lung_counts / (lung_counts + liver_counts),
                "tn_ratio": image_tn,
            },
            "derivation": "generator's noise-free blurred SPECT in the VOIs: LSF = lungs / "
            "(lungs + liver) counts, TN = mean tumour / mean normal-liver counts. Partial-"
            "volume loss makes these differ from the analytic LSF and TN on purpose.",
        },
        "voxelised_activity_gbq": {
            "value": float(activity.sum() / 1e9),
            "derivation": "sum of the exact activity map (occupancy-sampling check)",
        },
    }
    return Phantom(
        name="liver",
        grid=grid,
        ct_hu=ct,
        density_g_ml=rho,
        activity_bq=activity,
        vois=vois,
        known_answers=known,
        spect_counts=counts,
        spect_truth_counts=expected,
        parameters={
            "activity_gbq": activity_gbq,
            "lsf": lsf,
            "spacing_mm": spacing_mm,
            "spect_fwhm_mm": spect_fwhm_mm,
            "spect_total_counts": spect_total_counts,
            "seed": seed,
        },
    )
