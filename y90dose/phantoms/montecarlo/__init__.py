"""Monte Carlo reference for y90dose (optional extra ``y90dose[mc]``).

ompMC (EGSnrc electron/photon transport in C, GPL-3.0) transports a Y-90 beta source,
written as an IAEA phase-space file, in voxel phantoms. Nothing here imports ompMC at
module level: only :mod:`y90dose.phantoms.montecarlo.worker`, which runs in its own process. The
results the validation suite uses are cached as JSON in ``y90dose/phantoms/reference/``.
"""

from __future__ import annotations

from y90dose.phantoms.montecarlo.case import MEDIA, MonteCarloCase, MonteCarloResult, run_case

__all__ = ["MEDIA", "MonteCarloCase", "MonteCarloResult", "mc_available", "run_case"]


def mc_available() -> bool:
    """True when ``ompmc`` and ``icrp107-database`` are importable (without importing them)."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("ompmc", "icrp107_database"))
