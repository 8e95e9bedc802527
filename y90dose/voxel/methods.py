"""The voxel dose engines' choices, as enums that also accept their string values.

Kept apart from the engines (no numpy) so that option models and interfaces can name
them without importing the engines.
"""

from __future__ import annotations

from enum import StrEnum


class VoxelDoseMethod(StrEnum):
    """How the voxel dose is computed: local deposition, soft-tissue DVK, the lung-capable
    heterogeneous engine (density-scaled kernels), or ``auto``.

    ``auto`` is a choice, not an engine: a run resolves it before any engine runs (the
    heterogeneous engine with CT densities, else the DVK:
    :func:`y90dose.pipeline.voxel_run.choose_engine`), and a result names the engine
    that ran.
    """

    AUTO = "auto"
    LDM = "ldm"
    DVK = "dvk"
    HETEROGENEOUS = "dvk_heterogeneous"


class KernelSource(StrEnum):
    """Which voxel S values to use (``auto``: Lanconelli at a tabulated size, else DPK)."""

    AUTO = "auto"
    DPK = "dpk"
    LANCONELLI = "lanconelli"
