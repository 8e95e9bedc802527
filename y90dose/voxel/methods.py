"""The voxel dose engines' choices, as enums that also accept their string values.

Kept apart from the engines (no numpy) so that option models and interfaces can name
them without importing the engines.
"""

from __future__ import annotations

from enum import StrEnum


class VoxelDoseMethod(StrEnum):
    """How the voxel dose is computed: local deposition, soft-tissue DVK, or the
    lung-capable heterogeneous engine (density-scaled kernels)."""

    LDM = "ldm"
    DVK = "dvk"
    HETEROGENEOUS = "dvk_heterogeneous"


class KernelSource(StrEnum):
    """Which voxel S values to use (``auto``: Lanconelli at a tabulated size, else DPK)."""

    AUTO = "auto"
    DPK = "dpk"
    LANCONELLI = "lanconelli"
