"""``lung-slab``: water / lung / water slabs with a Y-90 source layer in water.

Layers along z (mm): water 0-20, lung (0.26 g/mL, ``LUNG_DENSITY``) 20-40, water
40-70; uniform activity in 10-20 mm (the 10 mm of water just before the lung), across the
whole 140 x 140 mm cross-section. The same geometry as the Monte Carlo reference
(:mod:`y90dose.phantoms.montecarlo.references`), whose depth dose in the central column, times
the number of decays, is the known answer. A soft-tissue kernel (even density-scaled at
the source) gets the dose in the lung wrong: this phantom shows by how much.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from y90dose.constants import ENERGY_EANM_J_PER_GBQ
from y90dose.errors import InputError
from y90dose.phantoms.analytic import cumulated_decays, ldm_dose_gy
from y90dose.phantoms.base import Phantom
from y90dose.phantoms.generators.common import TISSUES
from y90dose.phantoms.geometry import VoxelGrid
from y90dose.phantoms.montecarlo.case import MEDIA
from y90dose.phantoms.montecarlo.references import (
    LUNG_SLAB_LATERAL_MM,
    LUNG_SLAB_LAYERS_MM,
    LUNG_SLAB_SCORE_MM,
    LUNG_SLAB_SOURCE_MM,
    load_reference,
)

LUNG_DENSITY = MEDIA["lung"][1]
"""0.26 g/cm3, the Monte Carlo lung (ICRU 44 inflated lung)."""
LUNG_HU = -740.0
"""CT number consistent with 0.26 g/mL on the linear lung calibration rho = 1 + HU/1000."""


def generate(
    *, concentration_mbq_ml: float = 1.0, spacing_mm: float = 2.0, seed: int = 0
) -> Phantom:
    """Build the phantom; ``spacing_mm`` must divide the 10 mm layer boundaries."""
    if not (10.0 / spacing_mm).is_integer():
        raise InputError("spacing_mm", spacing_mm, "a divisor of 10 mm (1, 2, 2.5, 5)")
    nxy = round(LUNG_SLAB_LATERAL_MM / spacing_mm)
    nz = round(LUNG_SLAB_LAYERS_MM[-1][2] / spacing_mm)
    grid = VoxelGrid(
        (nz, nxy, nxy),
        (spacing_mm, spacing_mm, spacing_mm),
        (-(nxy - 1) / 2 * spacing_mm, -(nxy - 1) / 2 * spacing_mm, spacing_mm / 2),
    )
    z = grid.axis_mm("z")
    lung = np.zeros(nz, dtype=bool)
    for medium, z0, z1 in LUNG_SLAB_LAYERS_MM:
        if medium == "lung":
            lung |= (z > z0) & (z < z1)
    source = (z > LUNG_SLAB_SOURCE_MM[0]) & (z < LUNG_SLAB_SOURCE_MM[1])
    shape = grid.shape_zyx
    ct = np.broadcast_to(np.where(lung, LUNG_HU, TISSUES["water"][0])[:, None, None], shape).copy()
    rho = np.broadcast_to(np.where(lung, LUNG_DENSITY, 1.0)[:, None, None], shape).copy()
    c_bq_ml = concentration_mbq_ml * 1e6
    activity = np.broadcast_to(
        np.where(source, c_bq_ml * grid.voxel_volume_ml, 0.0)[:, None, None], shape
    ).copy()
    x = grid.axis_mm("x")
    central = np.abs(x) < LUNG_SLAB_SCORE_MM / 2
    column = (
        central[None, :, None] & central[None, None, :] & np.ones(nz, dtype=bool)[:, None, None]
    )
    vois = {
        "body": np.ones(shape, dtype=bool),
        "lung": np.broadcast_to(lung[:, None, None], shape).copy(),
        "source_layer": np.broadcast_to(source[:, None, None], shape).copy(),
        "central_column": column,
    }
    activity_bq = float(activity.sum())
    decays = cumulated_decays(activity_bq)
    energy = ENERGY_EANM_J_PER_GBQ.value
    known: dict[str, object] = {
        "energy_j_per_gbq": {"value": energy, "source": ENERGY_EANM_J_PER_GBQ.source},
        "activity_gbq": {"value": activity_bq / 1e9, "derivation": "c x source-layer volume"},
        "cumulated_decays": {"value": decays, "derivation": "A0 x T1/2 / ln 2"},
        "source_layer_ldm_dose_gy": {
            "value": ldm_dose_gy(c_bq_ml / 1e9, 1.0 / 1000.0, energy),
            "derivation": "C x c / rho (water)",
        },
    }
    try:
        mc: dict[str, Any] | None = load_reference("lung-slab")
        mc_water: dict[str, Any] | None = load_reference("water-slab")
    except FileNotFoundError:
        mc = mc_water = None
    if mc is not None and mc_water is not None:
        known["mc_depth_dose_gy"] = {
            "depth_start_mm": mc["depth_start_mm"],
            "depth_end_mm": mc["depth_end_mm"],
            "medium": mc["medium"],
            "value": [d * decays for d in mc["dose_gy_per_decay"]],
            "relative_uncertainty": mc["relative_uncertainty"],
            "water_only_value": [d * decays for d in mc_water["dose_gy_per_decay"]],
            "water_only_relative_uncertainty": mc_water["relative_uncertainty"],
            "derivation": "ompMC dose per decay (y90dose/phantoms/reference/mc_lung_slab.json and "
            "mc_water_slab.json) x decays; central 60 x 60 mm column, 1 mm depth bins",
            "provenance": mc["provenance"],
        }
    return Phantom(
        name="lung-slab",
        grid=grid,
        ct_hu=ct,
        density_g_ml=rho,
        activity_bq=activity,
        vois=vois,
        known_answers=known,
        parameters={
            "concentration_mbq_ml": concentration_mbq_ml,
            "spacing_mm": spacing_mm,
            "seed": seed,
        },
    )
