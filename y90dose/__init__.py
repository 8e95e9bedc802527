"""y90dose: Y-90 radioembolization dosimetry (planning models, voxel dosimetry).

Voxel dosimetry is ``y90dose.voxel_dose(spect, vois, options=y90dose.VoxelOptions(...))``
(docs/voxel-pipeline.md). The planning API in one import::

    >>> from y90dose import MirdPlanInput, plan_mird
    >>> round(plan_mird(MirdPlanInput(target_dose_gy=120, perfused_volume_ml=1165,
    ...                               lsf=0.08)).activity_gbq, 3)
    3.13
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names below are imported on first use (see __getattr__)
    from y90dose.decay import DecayInput, DecayResult, activity_at, decay, decay_factor
    from y90dose.delivery import Delivery
    from y90dose.devices import Product
    from y90dose.errors import GeometryError, ImageError, InputError, Y90DoseError
    from y90dose.findings import Code, Finding, Severity, has_block
    from y90dose.lung import LsfInput, LsfResult, lsf_from_counts, lung_dose_gy
    from y90dose.models.bsa import BsaPlanInput, body_surface_area_m2, plan_bsa
    from y90dose.models.common import ConstantsUsed, PlanOptions, PlanResult
    from y90dose.models.mird import MirdDoseInput, MirdPlanInput, dose_mird, plan_mird
    from y90dose.models.partition import (
        PartitionDoseInput,
        PartitionPlanInput,
        dose_partition,
        plan_partition,
    )
    from y90dose.models.treatment import TreatmentInput, TreatmentResult, plan_treatment
    from y90dose.pipeline.options import VoxelOptions
    from y90dose.pipeline.run import VoxelRunResult, voxel_dose
    from y90dose.pipeline.voxel_run import VoiMetrics, VoxelRun
    from y90dose.radiobiology import bed_gy, eqd2_gy, eud_gy
    from y90dose.settings import ClinicalSettings
    from y90dose.vials import GlassCalibrationConvention, VialInput, VialResult, choose_vial
    from y90dose.voxel.methods import VoxelDoseMethod

__version__ = "0.1.0"

_EXPORTS: dict[str, tuple[str, ...]] = {
    "y90dose.decay": ("DecayInput", "DecayResult", "activity_at", "decay", "decay_factor"),
    "y90dose.delivery": ("Delivery",),
    "y90dose.devices": ("Product",),
    "y90dose.errors": ("GeometryError", "ImageError", "InputError", "Y90DoseError"),
    "y90dose.findings": ("Code", "Finding", "Severity", "has_block"),
    "y90dose.lung": ("LsfInput", "LsfResult", "lsf_from_counts", "lung_dose_gy"),
    "y90dose.models.bsa": ("BsaPlanInput", "body_surface_area_m2", "plan_bsa"),
    "y90dose.models.common": ("ConstantsUsed", "PlanOptions", "PlanResult"),
    "y90dose.models.mird": ("MirdDoseInput", "MirdPlanInput", "dose_mird", "plan_mird"),
    "y90dose.models.partition": (
        "PartitionDoseInput",
        "PartitionPlanInput",
        "dose_partition",
        "plan_partition",
    ),
    "y90dose.models.treatment": ("TreatmentInput", "TreatmentResult", "plan_treatment"),
    "y90dose.pipeline.options": ("VoxelOptions",),
    "y90dose.pipeline.run": ("VoxelRunResult", "voxel_dose"),
    "y90dose.pipeline.voxel_run": ("VoiMetrics", "VoxelRun"),
    "y90dose.radiobiology": ("bed_gy", "eqd2_gy", "eud_gy"),
    "y90dose.settings": ("ClinicalSettings",),
    "y90dose.vials": ("GlassCalibrationConvention", "VialInput", "VialResult", "choose_vial"),
    "y90dose.voxel.methods": ("VoxelDoseMethod",),
}
"""Module -> the public names this package re-exports from it, imported on first use.

``import y90dose.errors`` (the CLI, the service) then neither builds every planning model
nor imports numpy: a planning command starts in a fraction of the time
(benchmarks/bench_startup.py).
"""
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}


def __getattr__(name: str) -> Any:
    """``y90dose.<name>``, imported from its module on first use (PEP 562)."""
    module_name = _MODULE_OF.get(name)
    if module_name is None:
        raise AttributeError(f"module 'y90dose' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """This package's module type: a submodule never hides the public name it shares.

    Importing ``y90dose.decay`` binds the package attribute ``decay`` to that module;
    ``y90dose.decay`` (and ``from y90dose import decay``) is the function, as it was when
    this package imported every name up front.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and name in _MODULE_OF:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

__all__ = [
    "BsaPlanInput",
    "ClinicalSettings",
    "Code",
    "ConstantsUsed",
    "DecayInput",
    "DecayResult",
    "Delivery",
    "Finding",
    "GeometryError",
    "GlassCalibrationConvention",
    "ImageError",
    "InputError",
    "LsfInput",
    "LsfResult",
    "MirdDoseInput",
    "MirdPlanInput",
    "PartitionDoseInput",
    "PartitionPlanInput",
    "PlanOptions",
    "PlanResult",
    "Product",
    "Severity",
    "TreatmentInput",
    "TreatmentResult",
    "VialInput",
    "VialResult",
    "VoiMetrics",
    "VoxelDoseMethod",
    "VoxelOptions",
    "VoxelRun",
    "VoxelRunResult",
    "Y90DoseError",
    "__version__",
    "activity_at",
    "bed_gy",
    "body_surface_area_m2",
    "choose_vial",
    "decay",
    "decay_factor",
    "dose_mird",
    "dose_partition",
    "eqd2_gy",
    "eud_gy",
    "has_block",
    "lsf_from_counts",
    "lung_dose_gy",
    "plan_bsa",
    "plan_mird",
    "plan_partition",
    "plan_treatment",
    "voxel_dose",
]
