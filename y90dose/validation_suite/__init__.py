"""The y90dose validation suite behind ``y90dose validate``.

Groups of checks (``--cases`` selects groups by name):

``planning``
    Published and hand-computed planning cases (physics.md).
``kernels``
    Graves DPK integrated vs Lanconelli tables vs the cached Monte Carlo S values.
``uniform-sphere``, ``point-source``, ``liver``, ``nema-iec``, ``lung-slab``
    Each phantom through the voxel pipeline (DICOM in, RT Dose out) against its known
    answers, with dciodvfy and plastimatch checks of the outputs.
``heterogeneous``
    The lung-capable engine against the cached ompMC liver-dome and bone references, with
    the soft-tissue DVK as info rows (its lung-slab rows are in ``lung-slab``).
``reproducibility``
    The generators reproduce the committed ``y90dose/phantoms/known_answers/*.json``.
``monte-carlo`` (``--full`` only)
    Reruns the Monte Carlo references (ompMC, optional extra ``y90dose[mc]``) with an
    independent seed and compares them with the cache and the tables.

The suite never imports ompMC in this process: the Monte Carlo runs in child processes.
"""

from __future__ import annotations

import platform
import shutil
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path

from y90dose.errors import InputError
from y90dose.validation_suite.result import (
    CheckResult,
    Status,
    SuiteResult,
    errored,
    render_markdown,
    render_text,
)

DEFAULT_GROUPS: tuple[str, ...] = (
    "planning",
    "kernels",
    "heterogeneous",
    "reproducibility",
    "uniform-sphere",
    "point-source",
    "liver",
    "nema-iec",
    "lung-slab",
)
FULL_ONLY_GROUPS: tuple[str, ...] = ("monte-carlo",)


def _group(name: str, *, full: bool, cache: Path | None, mc_scale: float) -> list[CheckResult]:
    if name == "planning":
        from y90dose.validation_suite.planning import planning_checks

        return planning_checks()
    if name == "kernels":
        from y90dose.validation_suite.kernels import graves_vs_lanconelli, mc_vs_tables

        return graves_vs_lanconelli() + mc_vs_tables()
    if name == "heterogeneous":
        from y90dose.validation_suite.heterogeneous import heterogeneous_checks

        return heterogeneous_checks()
    if name == "reproducibility":
        from y90dose.validation_suite.reproducibility import reproducibility_checks

        return reproducibility_checks()
    if name == "monte-carlo":
        from y90dose.validation_suite.kernels import mc_rerun

        return mc_rerun(mc_scale)
    from y90dose.validation_suite.phantom_checks import phantom_checks

    return phantom_checks(name, cache=cache)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def environment() -> dict[str, str]:
    """Versions of what the results depend on."""
    return {
        "y90dose": _version("y90dose"),
        "python": platform.python_version(),
        "numpy": _version("numpy"),
        "pydicom": _version("pydicom"),
        "ompmc": _version("ompmc"),
        "icrp107-database": _version("icrp107-database"),
        "dciodvfy": "found" if shutil.which("dciodvfy") else "missing",
        "plastimatch": "found" if shutil.which("plastimatch") else "missing",
        "machine": f"{platform.machine()} {platform.system()}",
    }


def run_suite(
    cases: Sequence[str] | None = None,
    *,
    full: bool = False,
    cache: Path | None = None,
    mc_scale: float = 2.0,
    progress: Callable[[str], None] | None = None,
) -> SuiteResult:
    """Run the selected groups (default: all default groups, plus Monte Carlo with ``full``).

    Parameters
    ----------
    cases
        Group names (see the module docstring); None for all.
    full
        Also rerun the Monte Carlo references (needs ``y90dose[mc]``; minutes).
    cache
        Phantom cache folder (default ``$Y90DOSE_PHANTOM_CACHE`` or ~/.cache/y90dose).
    mc_scale
        History multiplier of the ``--full`` Monte Carlo reruns.
    progress
        Called with each group's name before it runs.

    Raises
    ------
    InputError
        If a case name is unknown.
    """
    available = DEFAULT_GROUPS + FULL_ONLY_GROUPS
    if cases:
        unknown = [c for c in cases if c not in available]
        if unknown:
            raise InputError("cases", unknown, f"names from {list(available)}")
        groups = list(cases)
    else:
        groups = list(DEFAULT_GROUPS) + (list(FULL_ONLY_GROUPS) if full else [])
    started = time.monotonic()
    results: list[CheckResult] = []
    timings: dict[str, float] = {}
    for name in groups:
        if progress is not None:
            progress(name)
        t0 = time.monotonic()
        try:
            results.extend(_group(name, full=full, cache=cache, mc_scale=mc_scale))
        except Exception as exc:  # a crashing group is a failure, reported as such
            results.append(errored(name, "run the group", exc))
        timings[name] = time.monotonic() - t0
    return SuiteResult(tuple(results), time.monotonic() - started, environment(), timings)


__all__ = [
    "DEFAULT_GROUPS",
    "FULL_ONLY_GROUPS",
    "CheckResult",
    "Status",
    "SuiteResult",
    "environment",
    "render_markdown",
    "render_text",
    "run_suite",
]
