"""The result of a voxel dose calculation (LDM or DVK), with its provenance."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from y90dose.voxel.methods import VoxelDoseMethod


@dataclass(frozen=True)
class VoxelDoseResult:
    """Absorbed dose to complete decay (Gy) per voxel and how it was obtained.

    Attributes
    ----------
    dose_gy
        Absorbed dose to complete decay of a permanent implant, Gy, same shape as the
        activity image (array axes z, y, x).
    spacing_zyx_mm
        Voxel size (z, y, x), mm.
    method
        ``ldm`` or ``dvk``.
    energy_j_per_gbq
        Energy absorbed per GBq decayed to completion that the calculation deposits, J/GBq.
    administered_in_image_gbq
        Sum of the activity image, GBq.
    deposited_energy_j
        Energy deposited inside the grid, J (C x activity minus what left the grid).
    kernel
        For DVK: the kernel's source, size, tissue, energy per decay and the factor
        applied to it; ``None`` for LDM.
    warnings
        Messages a report must show (e.g. low-density voxels with a soft-tissue kernel).
    low_density_voxels
        Number of voxels receiving dose whose density is below the soft-tissue kernel's
        validity threshold (``constants.KERNEL_LOW_DENSITY_WARNING_G_ML``); 0 for LDM.
    """

    dose_gy: NDArray[np.floating]
    spacing_zyx_mm: tuple[float, float, float]
    method: VoxelDoseMethod
    energy_j_per_gbq: float
    administered_in_image_gbq: float
    deposited_energy_j: float
    kernel: dict[str, Any] | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)
    low_density_voxels: int = 0

    @property
    def escaped_energy_fraction(self) -> float:
        """Fraction of C x activity that was not deposited inside the grid (0 for LDM)."""
        released = self.energy_j_per_gbq * self.administered_in_image_gbq
        if released == 0.0:
            return 0.0
        return 1.0 - self.deposited_energy_j / released

    def provenance(self) -> dict[str, Any]:
        """JSON-able description of the calculation (no arrays)."""
        return {
            "method": self.method.value,
            "spacing_zyx_mm": list(self.spacing_zyx_mm),
            "energy_j_per_gbq": self.energy_j_per_gbq,
            "administered_in_image_gbq": self.administered_in_image_gbq,
            "deposited_energy_j": self.deposited_energy_j,
            "escaped_energy_fraction": self.escaped_energy_fraction,
            "kernel": self.kernel,
            "warnings": list(self.warnings),
            "low_density_voxels": self.low_density_voxels,
        }
