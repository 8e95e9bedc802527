"""``point-source``: all the activity in one voxel at the centre of a soft-tissue cube.

The dose map of a kernel method is the kernel itself times the number of decays:
D(i, j, k) = N x S(i, j, k) with N = A0 x T1/2 / ln 2 (permanent implant). Known answers:
the published Lanconelli 2012 3 mm ICRU soft-tissue S values (the phantom's medium and
voxel size) and the y90dose Monte Carlo S values (``y90dose/phantoms/reference``), each times N.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from y90dose.constants import ENERGY_EANM_J_PER_GBQ
from y90dose.errors import InputError
from y90dose.phantoms.analytic import cumulated_decays
from y90dose.phantoms.base import Phantom
from y90dose.phantoms.generators.common import TISSUES
from y90dose.phantoms.geometry import VoxelGrid

LANCONELLI_3MM_SOFT = "90Y3mmsoft.txt"


def lanconelli_octant(path: Path | None = None) -> dict[tuple[int, int, int], float]:
    """The Lanconelli 2012 Y-90 3 mm soft-tissue octant, (i, j, k) -> S in mGy/(MBq s).

    Read from the copy shipped with y90dose (``y90dose/data/lanconelli2012``).
    """
    if path is None:
        path = Path(__file__).resolve().parents[2] / "data" / "lanconelli2012" / LANCONELLI_3MM_SOFT
    table: dict[tuple[int, int, int], float] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split()
        if len(parts) == 4 and all(p.lstrip("-").isdigit() for p in parts[:3]):
            i, j, k = (int(p) for p in parts[:3])
            table[(i, j, k)] = float(parts[3])
    return table


def generate(
    *,
    activity_gbq: float = 1.0,
    spacing_mm: float = 3.0,
    half_width_voxels: int = 12,
    seed: int = 0,
) -> Phantom:
    """Build the phantom: a (2n+1)^3 cube of ICRU soft tissue, source in the centre voxel."""
    if spacing_mm != 3.0:
        raise InputError("spacing_mm", spacing_mm, "3.0 (the tabulated Lanconelli voxel size)")
    if half_width_voxels < 6:
        raise InputError(
            "half_width_voxels", half_width_voxels, "at least 6 (the tabulated octant)"
        )
    n = 2 * half_width_voxels + 1
    grid = VoxelGrid.centred((n * spacing_mm,) * 3, spacing_mm)
    hu, rho = TISSUES["soft_tissue"]
    ct = np.full(grid.shape_zyx, hu)
    density = np.full(grid.shape_zyx, rho)
    activity = np.zeros(grid.shape_zyx)
    c = half_width_voxels
    activity[c, c, c] = activity_gbq * 1e9
    decays = cumulated_decays(activity_gbq * 1e9)
    table = lanconelli_octant()
    offsets = [(0, 0, 0), (0, 0, 1), (0, 1, 1), (1, 1, 1), (0, 0, 2), (0, 1, 2), (0, 0, 3)]
    expected = {f"{i},{j},{k}": table[(i, j, k)] * 1e-3 * 1e-6 * decays for (i, j, k) in offsets}
    source_mask = np.zeros(grid.shape_zyx, dtype=bool)
    source_mask[c, c, c] = True
    known = {
        "energy_j_per_gbq": {
            "value": ENERGY_EANM_J_PER_GBQ.value,
            "source": ENERGY_EANM_J_PER_GBQ.source,
        },
        "activity_gbq": {"value": activity_gbq, "derivation": "generator parameter"},
        "cumulated_decays": {"value": decays, "derivation": "A0 x T1/2 / ln 2, T1/2 = 64.1 h"},
        "source_voxel_zyx": [c, c, c],
        "dose_gy_at_offset_lanconelli": {
            "value": expected,
            "derivation": "Lanconelli 2012 3 mm soft-tissue S value (mGy/(MBq s)) x 1e-9 "
            "Gy/(mGy/MBq) x decays; offset (i, j, k) voxels from the source, any axes",
            "source": "Lanconelli N et al., Phys Med Biol 2012;57:517",
        },
        "total_energy_mev_per_decay": {
            "value": 0.935,
            "tolerance": 0.01,
            "derivation": "physics.md: sum S x voxel mass over the kernel = 0.934-0.936 MeV",
        },
    }
    return Phantom(
        name="point-source",
        grid=grid,
        ct_hu=ct,
        density_g_ml=density,
        activity_bq=activity,
        vois={"body": np.ones(grid.shape_zyx, dtype=bool), "source": source_mask},
        known_answers=known,
        parameters={
            "activity_gbq": activity_gbq,
            "spacing_mm": spacing_mm,
            "half_width_voxels": half_width_voxels,
            "seed": seed,
        },
    )
