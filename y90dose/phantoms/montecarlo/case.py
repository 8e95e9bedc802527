"""A Monte Carlo case (voxel phantom + Y-90 source) and its result, without ompMC.

The transport itself runs in a separate process (:mod:`y90dose.phantoms.montecarlo.worker`), one
simulation per process, because the ompMC engine keeps global state between runs. This
module only describes cases, hands them to that process and reads the answer back, so it
can be imported (and the cached references read) on a machine without ``ompmc``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from y90dose.errors import InputError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int32]

PEGS_DATA = "521icru"
"""PEGS4 data set: AE = 0.521 MeV total energy (10 keV kinetic) electron production
threshold. The engine's default 700icru (AE = 0.700 MeV, 189 keV kinetic) would stop
electrons far too early for a beta spectrum whose mean kinetic energy is 0.93 MeV."""
ELECTRON_CUTOFF_MEV = 0.521
"""ECUT, total energy (MeV): electrons are followed down to 10 keV kinetic energy."""
PHOTON_CUTOFF_MEV = 0.01
"""PCUT (MeV) for bremsstrahlung photons (the PEGS4 AP of 521icru)."""
MEDIA: dict[str, tuple[str, float]] = {
    "water": ("H2O521ICRU", 1.0),
    "icru-tissue": ("ICRUTISSUE521ICRU", 1.04),
    "lung": ("LUNG521ICRU", 0.26),
    "bone": ("ICRPBONE521ICRU", 1.85),
}
"""Medium name -> (PEGS4 medium in 521icru, mass density g/cm3). Densities: water by
definition; ICRU soft tissue 1.04 (ICRU 44, the medium of Lanconelli 2012); inflated lung
0.26 (ICRU 44 lung, 0.26 g/cm3); ICRP cortical bone 1.85 (ICRP 23/ICRU 44)."""


@dataclass(frozen=True)
class MonteCarloCase:
    """A voxel phantom with a Y-90 source, ready to transport.

    Arrays are indexed ``[ix, iy, iz]`` (x first). Bounds are voxel edges in cm.

    Attributes
    ----------
    name
        Short identifier, written into the provenance.
    x_bounds_cm, y_bounds_cm, z_bounds_cm
        Strictly ascending voxel boundaries, cm.
    media
        Medium names (keys of :data:`MEDIA`); ``medium_index`` counts from 1.
    medium_index
        int32 cube, 1..len(media).
    density_g_cm3
        float cube of mass densities.
    source_weight
        Relative activity per voxel (>= 0, sum > 0); decays are spread uniformly
        inside each voxel.
    n_histories, n_batches, seed
        Statistics and the seed of both the source sampling and the transport RNG.
    """

    name: str
    x_bounds_cm: FloatArray
    y_bounds_cm: FloatArray
    z_bounds_cm: FloatArray
    media: tuple[str, ...]
    medium_index: IntArray
    density_g_cm3: FloatArray
    source_weight: FloatArray
    n_histories: int = 100_000
    n_batches: int = 10
    seed: int = 90

    def __post_init__(self) -> None:
        shape = (len(self.x_bounds_cm) - 1, len(self.y_bounds_cm) - 1, len(self.z_bounds_cm) - 1)
        for label, cube in (
            ("medium_index", self.medium_index),
            ("density_g_cm3", self.density_g_cm3),
            ("source_weight", self.source_weight),
        ):
            if cube.shape != shape:
                raise InputError(label, cube.shape, f"shape {shape} (from the bounds)")
        unknown = [m for m in self.media if m not in MEDIA]
        if unknown:
            raise InputError("media", unknown, f"names from {sorted(MEDIA)}")
        if np.any(self.source_weight < 0) or not self.source_weight.sum() > 0:
            raise InputError("source_weight", "array", "non-negative weights with a positive sum")
        if self.n_histories < 1000:
            raise InputError("n_histories", self.n_histories, "at least 1000")
        if self.n_batches < 2:
            raise InputError("n_batches", self.n_batches, "at least 2")

    def voxel_mass_kg(self) -> FloatArray:
        """Mass of each voxel, kg."""
        dx = np.diff(self.x_bounds_cm)[:, None, None]
        dy = np.diff(self.y_bounds_cm)[None, :, None]
        dz = np.diff(self.z_bounds_cm)[None, None, :]
        return np.asarray(dx * dy * dz * self.density_g_cm3 * 1e-3, dtype=np.float64)


@dataclass(frozen=True)
class MonteCarloResult:
    """Absorbed dose per decay and its relative standard uncertainty, per voxel.

    Attributes
    ----------
    dose_gy_per_decay
        Mean absorbed dose per Y-90 decay (per history), Gy.
    relative_uncertainty
        One standard deviation of the mean, relative (batch method, ompMC);
        0.9999999 where nothing was deposited.
    provenance
        Engine and data versions, seed, histories, cut-offs, date, run time.
    """

    dose_gy_per_decay: FloatArray
    relative_uncertainty: FloatArray
    provenance: dict[str, Any] = field(default_factory=dict)


def run_case(
    case: MonteCarloCase, *, threads: int = 1, timeout_s: float = 1800.0
) -> MonteCarloResult:
    """Transport ``case`` in a fresh Python process and return its dose per decay.

    Parameters
    ----------
    case
        The phantom and source.
    threads
        OpenMP threads for the engine (``OMP_NUM_THREADS``); 1 by default because the
        development and CI machines have two shared cores.
    timeout_s
        Wall-clock limit of the child process, s.

    Returns
    -------
    MonteCarloResult

    Raises
    ------
    RuntimeError
        If the child process fails (its last output lines are in the message) or
        ``ompmc`` / ``icrp107-database`` are missing (``pip install -e '.[mc]'`` from the checkout).
    """
    with tempfile.TemporaryDirectory(prefix="y90mc-") as tmp:
        work = Path(tmp)
        np.savez(
            work / "case.npz",
            x_bounds_cm=case.x_bounds_cm,
            y_bounds_cm=case.y_bounds_cm,
            z_bounds_cm=case.z_bounds_cm,
            medium_index=case.medium_index.astype(np.int32),
            density_g_cm3=case.density_g_cm3.astype(np.float64),
            source_weight=case.source_weight.astype(np.float64),
        )
        meta = {
            "name": case.name,
            "media": list(case.media),
            "n_histories": case.n_histories,
            "n_batches": case.n_batches,
            "seed": case.seed,
        }
        (work / "case.json").write_text(json.dumps(meta))
        env = dict(os.environ)
        env["OMP_NUM_THREADS"] = str(int(threads))
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "y90dose.phantoms.montecarlo.worker", str(work)],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout_s,
            check=False,
            cwd=str(Path(__file__).resolve().parents[3]),
        )
        elapsed = time.monotonic() - started
        if proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
            raise RuntimeError(
                f"Monte Carlo case {case.name!r} failed (exit {proc.returncode}):\n{tail}"
            )
        out = np.load(work / "result.npz")
        provenance = json.loads((work / "provenance.json").read_text())
        provenance["wall_time_s"] = round(elapsed, 2)
        provenance["threads"] = int(threads)
        provenance["date_utc"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        return MonteCarloResult(
            dose_gy_per_decay=np.asarray(out["dose"], dtype=np.float64),
            relative_uncertainty=np.asarray(out["uncertainty"], dtype=np.float64),
            provenance=provenance,
        )
