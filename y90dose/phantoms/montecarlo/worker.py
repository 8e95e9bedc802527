"""Child process of :func:`y90dose.phantoms.montecarlo.case.run_case`: one ompMC simulation.

``python -m y90dose.phantoms.montecarlo.worker WORKDIR`` reads ``case.npz`` and ``case.json`` from
WORKDIR, writes the Y-90 source as an IAEA phase-space file (electrons, isotropic,
ICRP-107 energies, positions uniform within the source voxels, chosen in proportion to
``source_weight``), transports it with ompMC (EGSnrc physics, PEGS4 521icru, ECUT 0.521
MeV) and writes ``result.npz`` (dose in Gy per decay, relative uncertainty) and
``provenance.json``. This is the only module that imports ompMC (GPL, optional extra).
"""

from __future__ import annotations

import json
import sys
from importlib import metadata
from pathlib import Path

import numpy as np

from y90dose.phantoms.montecarlo.case import (
    ELECTRON_CUTOFF_MEV,
    MEDIA,
    PEGS_DATA,
    PHOTON_CUTOFF_MEV,
)
from y90dose.phantoms.montecarlo.phsp import isotropic_directions, write_electron_phsp
from y90dose.phantoms.montecarlo.spectrum import y90_beta_spectrum


def main(workdir: Path) -> int:
    """Run the case stored in ``workdir``; return the process exit code."""
    import ompmc

    data = np.load(workdir / "case.npz")
    meta = json.loads((workdir / "case.json").read_text())
    n = int(meta["n_histories"])
    seed = int(meta["seed"])
    rng = np.random.default_rng(seed)

    xb, yb, zb = (
        np.asarray(data[k], dtype=np.float64) for k in ("x_bounds_cm", "y_bounds_cm", "z_bounds_cm")
    )
    weight = np.asarray(data["source_weight"], dtype=np.float64)
    flat = weight.ravel(order="C")
    voxel = rng.choice(flat.size, size=n, p=flat / flat.sum())
    ix, iy, iz = np.unravel_index(voxel, weight.shape, order="C")
    position = np.stack(
        [
            xb[ix] + rng.random(n) * (xb[ix + 1] - xb[ix]),
            yb[iy] + rng.random(n) * (yb[iy + 1] - yb[iy]),
            zb[iz] + rng.random(n) * (zb[iz + 1] - zb[iz]),
        ],
        axis=1,
    )
    spectrum = y90_beta_spectrum()
    energy = spectrum.sample(n, rng)
    direction = isotropic_directions(n, rng)
    base = write_electron_phsp(
        workdir / "y90",
        energy_mev=energy,
        position_cm=position,
        direction=direction,
        title=f"Y-90 beta source for case {meta['name']}",
    )

    pegs_names = [MEDIA[m][0] for m in meta["media"]]
    geometry = ompmc.Geometry(
        xb,
        yb,
        zb,
        pegs_names,
        np.asfortranarray(data["density_g_cm3"], dtype=np.float64),
        np.asfortranarray(data["medium_index"], dtype=np.int32),
    )
    physics = ompmc.Physics(
        pegs_file=ompmc.data_path() / "pegs4" / f"{PEGS_DATA}.pegs4dat",
        output_folder=str(workdir) + "/",
        global_ecut=ELECTRON_CUTOFF_MEV,
        global_pcut=PHOTON_CUTOFF_MEV,
        n_split=1,
        seeds=(seed, 33),
    )
    dose, uncertainty, summary = ompmc.calc_forward_phsp(
        geometry,
        ompmc.PhaseSpaceSource(str(base)),
        physics,
        n_histories=n,
        n_batches=int(meta["n_batches"]),
        output_dose=True,
    )
    np.savez(
        workdir / "result.npz",
        dose=np.ascontiguousarray(dose),
        uncertainty=np.ascontiguousarray(uncertainty),
    )
    provenance = {
        "case": meta["name"],
        "engine": f"ompmc {ompmc.__version__} (EGSnrc physics in C, GPL-3.0)",
        "spectrum": f"{spectrum.source}, icrp107-database {metadata.version('icrp107-database')}",
        "spectrum_mean_energy_mev": round(spectrum.mean_energy_mev, 5),
        "sampled_mean_energy_mev": round(float(energy.mean()), 5),
        "pegs4": PEGS_DATA,
        "ecut_mev_total": ELECTRON_CUTOFF_MEV,
        "pcut_mev": PHOTON_CUTOFF_MEV,
        "media": {m: {"pegs4": MEDIA[m][0], "density_g_cm3": MEDIA[m][1]} for m in meta["media"]},
        "n_histories": summary.n_histories,
        "n_started": summary.n_started,
        "n_batches": int(meta["n_batches"]),
        "seed": seed,
        "energy_fraction_kept": summary.energy_fraction,
        "source": "electrons, one per decay, isotropic, uniform within the source voxels",
    }
    (workdir / "provenance.json").write_text(json.dumps(provenance))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
