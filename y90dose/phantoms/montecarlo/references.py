"""Monte Carlo reference cases: Y-90 voxel S values and the lung-slab depth dose.

Each ``*_case`` builds a :class:`MonteCarloCase`; each ``compute_*`` runs it (one process
per simulation) and reduces the dose cube to the small table the validation suite keeps in
``y90dose/phantoms/reference/*.json`` with its provenance. ``load_reference`` reads that cache
without needing ompMC.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from y90dose.errors import InputError
from y90dose.phantoms.montecarlo.case import MEDIA, MonteCarloCase, MonteCarloResult, run_case

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "reference"
J_PER_MEV = 1.602176634e-13  # CODATA 2018 exact (y90dose.constants.J_PER_MEV)

S_VALUE_OCTANT = 6
"""The octant tabulated (i, j, k = 0..5), as in Lanconelli 2012."""


def s_value_case(
    voxel_mm: float = 3.0,
    medium: str = "water",
    *,
    n_histories: int = 200_000,
    seed: int = 90,
    half_width_voxels: int = 7,
) -> MonteCarloCase:
    """A cube of ``medium`` with the source uniform in its central voxel.

    Parameters
    ----------
    voxel_mm
        Cubic voxel size, mm.
    medium
        Key of :data:`y90dose.phantoms.montecarlo.case.MEDIA`.
    n_histories, seed
        Decays simulated and the seed.
    half_width_voxels
        Voxels each side of the source voxel (7 -> 15^3 voxels, 45 mm at 3 mm, beyond the
        11 mm maximum beta range so no electron escapes).
    """
    if medium not in MEDIA:
        raise InputError("medium", medium, f"one of {sorted(MEDIA)}")
    if not voxel_mm > 0:
        raise InputError("voxel_mm", voxel_mm, "a size > 0 mm")
    n = 2 * half_width_voxels + 1
    bounds = np.asarray((np.arange(n + 1) - n / 2.0) * voxel_mm / 10.0, dtype=np.float64)
    shape = (n, n, n)
    weight = np.zeros(shape)
    weight[half_width_voxels, half_width_voxels, half_width_voxels] = 1.0
    return MonteCarloCase(
        name=f"s-values-{voxel_mm:g}mm-{medium}",
        x_bounds_cm=bounds,
        y_bounds_cm=bounds,
        z_bounds_cm=bounds,
        media=(medium,),
        medium_index=np.ones(shape, dtype=np.int32),
        density_g_cm3=np.full(shape, MEDIA[medium][1]),
        source_weight=weight,
        n_histories=n_histories,
        seed=seed,
    )


def octant_s_values(result: MonteCarloResult, half_width_voxels: int = 7) -> dict[str, Any]:
    """Fold the dose cube into the 6x6x6 octant of S values (Gy per decay).

    Every voxel equivalent under the 48 symmetries of the cube (permutations and sign
    changes of i, j, k) is averaged, as the tabulated octant is defined. The uncertainty of
    the average assumes the equivalent voxels independent (they share histories but an
    electron rarely deposits in two distant equivalent voxels), so it is an estimate.

    Returns
    -------
    dict
        ``{"ijk": [[i, j, k], ...], "s_gy_per_decay": [...], "relative_uncertainty": [...]}``
        for i <= j <= k sorted ascending (one entry per symmetry class).
    """
    dose = result.dose_gy_per_decay
    unc = np.where(result.relative_uncertainty >= 0.999, np.nan, result.relative_uncertainty)
    c = half_width_voxels
    classes: dict[tuple[int, int, int], list[tuple[int, int, int]]] = {}
    span = range(-min(S_VALUE_OCTANT - 1, c), min(S_VALUE_OCTANT - 1, c) + 1)
    for i in span:
        for j in span:
            for k in span:
                key = tuple(sorted((abs(i), abs(j), abs(k))))
                classes.setdefault(key, []).append((c + i, c + j, c + k))  # type: ignore[arg-type]
    ijk: list[list[int]] = []
    s_values: list[float] = []
    rel_unc: list[float] = []
    for key in sorted(classes):
        idx = tuple(np.array(classes[key]).T)
        values = dose[idx]
        mean = float(values.mean())
        sigma = np.sqrt(np.nansum((values * unc[idx]) ** 2)) / len(values)
        ijk.append(list(key))
        s_values.append(mean)
        known = bool(np.any(np.isfinite(unc[idx])))
        rel_unc.append(float(sigma / mean) if mean > 0 and known else 1.0)
    return {"ijk": ijk, "s_gy_per_decay": s_values, "relative_uncertainty": rel_unc}


def compute_s_values(
    voxel_mm: float = 3.0, medium: str = "water", *, n_histories: int = 200_000, seed: int = 90
) -> dict[str, Any]:
    """Run :func:`s_value_case` and return the JSON-able reference (see the module doc)."""
    case = s_value_case(voxel_mm, medium, n_histories=n_histories, seed=seed)
    result = run_case(case)
    table = octant_s_values(result)
    deposited_mev = float((result.dose_gy_per_decay * case.voxel_mass_kg()).sum() / J_PER_MEV)
    return {
        "quantity": "Y-90 voxel S value, Gy per decay, source voxel uniform, target voxel "
        "(i, j, k) voxels away; symmetry-averaged octant",
        "voxel_mm": voxel_mm,
        "medium": medium,
        "density_g_cm3": MEDIA[medium][1],
        "energy_deposited_mev_per_decay": deposited_mev,
        **table,
        "provenance": result.provenance,
    }


# --- lung slab --------------------------------------------------------------------------
LUNG_SLAB_LAYERS_MM: tuple[tuple[str, float, float], ...] = (
    ("water", 0.0, 20.0),
    ("lung", 20.0, 40.0),
    ("water", 40.0, 70.0),
)
"""(medium, z start, z end) of the lung-slab phantom along depth, mm."""
LUNG_SLAB_SOURCE_MM = (10.0, 20.0)
"""The source layer: uniform activity in 10 mm of water right before the lung, mm."""
LUNG_SLAB_LATERAL_MM = 140.0
"""Lateral width of phantom and source layer, mm. Dose is scored in the central 60 mm
column, 40 mm from the lateral faces: only the few electrons that travel more than 40 mm
sideways (the maximum CSDA range, 11 mm of water, is 42 mm in 0.26 g/cm3 lung) see the
edge, so the column stands for an infinite slab."""
LUNG_SLAB_SCORE_MM = 60.0
LUNG_SLAB_DEPTH_STEP_MM = 1.0


def lung_slab_case(
    *, lung: bool = True, n_histories: int = 200_000, seed: int = 91
) -> MonteCarloCase:
    """The water/lung/water slab phantom with a source layer in water (see constants).

    Parameters
    ----------
    lung
        False replaces the lung by water (the homogeneous control, where a soft-tissue
        kernel must agree with the Monte Carlo).
    """
    edge = LUNG_SLAB_LATERAL_MM / 20.0
    half_score = LUNG_SLAB_SCORE_MM / 20.0
    lateral = np.array([-edge, -half_score, half_score, edge])
    depth_mm = np.arange(0.0, LUNG_SLAB_LAYERS_MM[-1][2] + 1e-9, LUNG_SLAB_DEPTH_STEP_MM)
    z_bounds = depth_mm / 10.0
    centres = 0.5 * (depth_mm[1:] + depth_mm[:-1])
    media = ("water", "lung") if lung else ("water",)
    index_z = np.ones(centres.size, dtype=np.int32)
    density_z = np.full(centres.size, MEDIA["water"][1])
    for medium, z0, z1 in LUNG_SLAB_LAYERS_MM:
        inside = (centres > z0) & (centres < z1)
        if medium == "lung" and lung:
            index_z[inside] = 2
            density_z[inside] = MEDIA["lung"][1]
    source_z = ((centres > LUNG_SLAB_SOURCE_MM[0]) & (centres < LUNG_SLAB_SOURCE_MM[1])).astype(
        float
    )
    shape = (3, 3, centres.size)
    # Source weight proportional to voxel volume (uniform activity concentration).
    dx = np.diff(lateral)
    weight = dx[:, None, None] * dx[None, :, None] * source_z[None, None, :]
    return MonteCarloCase(
        name="lung-slab" if lung else "water-slab",
        x_bounds_cm=lateral,
        y_bounds_cm=lateral,
        z_bounds_cm=z_bounds,
        media=media,
        medium_index=np.ascontiguousarray(np.broadcast_to(index_z, shape)).astype(np.int32),
        density_g_cm3=np.ascontiguousarray(np.broadcast_to(density_z, shape)).astype(np.float64),
        source_weight=np.ascontiguousarray(weight),
        n_histories=n_histories,
        seed=seed,
    )


def compute_lung_slab(
    *, lung: bool = True, n_histories: int = 200_000, seed: int = 91
) -> dict[str, Any]:
    """Depth dose (Gy per decay of the whole source layer) in the central column."""
    case = lung_slab_case(lung=lung, n_histories=n_histories, seed=seed)
    result = run_case(case)
    z = case.z_bounds_cm * 10.0
    dose = result.dose_gy_per_decay[1, 1, :]
    unc = result.relative_uncertainty[1, 1, :]
    medium = ["lung" if i == 2 else "water" for i in case.medium_index[1, 1, :]]
    source_volume_ml = (
        (LUNG_SLAB_LATERAL_MM / 10.0) ** 2
        * (LUNG_SLAB_SOURCE_MM[1] - LUNG_SLAB_SOURCE_MM[0])
        / 10.0
    )
    return {
        "quantity": "absorbed dose per decay in the source layer, Gy, central 60x60 mm column, "
        "1 mm depth bins",
        "layers_mm": [list(layer) for layer in LUNG_SLAB_LAYERS_MM]
        if lung
        else [["water", 0.0, 70.0]],
        "source_layer_mm": list(LUNG_SLAB_SOURCE_MM),
        "lateral_mm": LUNG_SLAB_LATERAL_MM,
        "source_volume_ml": source_volume_ml,
        "depth_start_mm": z[:-1].tolist(),
        "depth_end_mm": z[1:].tolist(),
        "medium": medium,
        "dose_gy_per_decay": dose.tolist(),
        "relative_uncertainty": unc.tolist(),
        "provenance": result.provenance,
    }


REFERENCE_FILES = {
    "s-values-3mm-water": "mc_s_values_3mm_water.json",
    "s-values-3mm-icru-tissue": "mc_s_values_3mm_icru_tissue.json",
    "s-values-4.8mm-bone": "mc_s_values_4.8mm_bone.json",
    "lung-slab": "mc_lung_slab.json",
    "water-slab": "mc_water_slab.json",
    "liver-dome": "mc_liver_dome.json",
}


def compute_reference(name: str, *, scale: float = 1.0, seed: int | None = None) -> dict[str, Any]:
    """Compute one cached reference by name.

    ``scale`` multiplies the default histories; ``seed`` replaces the default seed (an
    independent run for a statistical comparison with the cache).
    """
    if name not in REFERENCE_FILES:
        raise InputError("name", name, f"one of {sorted(REFERENCE_FILES)}")
    if name == "liver-dome":
        from y90dose.phantoms.montecarlo.dome import DOME_N_HISTORIES, DOME_SEED, compute_dome

        return compute_dome(
            n_histories=int(DOME_N_HISTORIES * scale), seed=DOME_SEED if seed is None else seed
        )
    if name == "s-values-4.8mm-bone":
        return compute_s_values(
            4.8, "bone", n_histories=int(200_000 * scale), seed=92 if seed is None else seed
        )
    if name.startswith("s-values-3mm-"):
        medium = "water" if name.endswith("water") else "icru-tissue"
        return compute_s_values(
            3.0, medium, n_histories=int(200_000 * scale), seed=90 if seed is None else seed
        )
    return compute_lung_slab(
        lung=name == "lung-slab",
        n_histories=int(300_000 * scale),
        seed=91 if seed is None else seed,
    )


def load_reference(name: str, directory: Path | None = None) -> dict[str, Any]:
    """Read a cached reference (no ompMC needed)."""
    if name not in REFERENCE_FILES:
        raise InputError("name", name, f"one of {sorted(REFERENCE_FILES)}")
    path = (directory or REFERENCE_DIR) / REFERENCE_FILES[name]
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def write_reference(name: str, data: dict[str, Any], directory: Path | None = None) -> Path:
    """Write a reference JSON (floats with 6 significant digits)."""
    path = (directory or REFERENCE_DIR) / REFERENCE_FILES[name]
    path.parent.mkdir(parents=True, exist_ok=True)

    def _round(value: Any) -> Any:
        if isinstance(value, float):
            return float(f"{value:.6g}")
        if isinstance(value, list):
            return [_round(v) for v in value]
        if isinstance(value, dict):
            return {k: _round(v) for k, v in value.items()}
        return value

    path.write_text(json.dumps(_round(data), indent=1) + "\n")
    return path
