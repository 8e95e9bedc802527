"""y90dose: Y-90 radioembolization dosimetry (planning models, voxel dosimetry).

The planning API in one import::

    >>> from y90dose import MirdPlanInput, plan_mird
    >>> round(plan_mird(MirdPlanInput(target_dose_gy=120, perfused_volume_ml=1165,
    ...                               lsf=0.08)).activity_gbq, 3)
    3.13
"""

from __future__ import annotations

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
from y90dose.radiobiology import bed_gy, eqd2_gy, eud_gy
from y90dose.settings import ClinicalSettings
from y90dose.vials import GlassCalibrationConvention, VialInput, VialResult, choose_vial

__version__ = "0.1.0"

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
    "VialInput",
    "VialResult",
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
]
