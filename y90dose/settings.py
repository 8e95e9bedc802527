"""Site-overridable clinical thresholds used to produce plan findings.

Every default comes from :mod:`y90dose.constants` (where its source is cited). A site that
works to other limits builds its own ``ClinicalSettings(...)`` and passes it to the
planning functions; nothing else in the code holds a threshold.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from y90dose import constants as k
from y90dose.constants import Constant


class ClinicalSettings(BaseModel):
    """Thresholds (Gy, or fractions) behind the clinical findings of a plan."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lung_dose_limit_gy: float = Field(
        k.LUNG_DOSE_LIMIT_PER_TREATMENT_GY.value, gt=0, description="lung dose per treatment (Gy)"
    )
    lung_dose_cumulative_limit_gy: float = Field(
        k.LUNG_DOSE_LIMIT_CUMULATIVE_GY.value, gt=0, description="cumulative lung dose (Gy)"
    )
    lung_dose_warning_fraction: float = Field(
        0.8, gt=0, le=1, description="warn when lung dose exceeds this fraction of a limit"
    )
    resin_lsf_limit: float = Field(
        k.RESIN_LSF_LIMIT.value, gt=0, lt=1, description="largest LSF treated with resin (0..1)"
    )
    glass_perfused_dose_min_gy: float = Field(k.GLASS_PERFUSED_DOSE_RANGE_GY[0], gt=0)
    glass_perfused_dose_max_gy: float = Field(k.GLASS_PERFUSED_DOSE_RANGE_GY[1], gt=0)
    glass_segmentectomy_floor: Literal["definition", "lewandowski2018"] = Field(
        "definition",
        description="segmentectomy floor for glass: 'definition' (200 Gy, Liberchuk and "
        "Deipolyi 2020) or 'lewandowski2018' (190 Gy, Radiology 2018;287:1050)",
    )
    resin_segmentectomy_floor: Literal["definition", "eanm2022"] = Field(
        "definition",
        description="segmentectomy floor for resin: 'definition' (200 Gy) or 'eanm2022' "
        "(150 Gy, EANM 2022 Table 3)",
    )
    glass_segmentectomy_ablative_gy: float = Field(
        k.GLASS_SEGMENTECTOMY_ABLATIVE_GY.value,
        gt=0,
        description="glass segmentectomy below this dose gets an info finding (EANM 2022)",
    )
    glass_tumor_dose_min_gy: float = Field(k.GLASS_TUMOR_DOSE_MIN_GY, gt=0)
    resin_tumor_dose_min_gy: float = Field(k.RESIN_TUMOR_DOSE_MIN_GY, gt=0)
    glass_normal_liver_max_gy: float = Field(k.GLASS_PERFUSED_NORMAL_LIVER_MAX_GY, gt=0)
    resin_normal_liver_max_gy: float = Field(k.RESIN_PERFUSED_NORMAL_LIVER_MAX_GY, gt=0)

    @model_validator(mode="after")
    def _ranges_ordered(self) -> ClinicalSettings:
        if self.glass_perfused_dose_min_gy >= self.glass_perfused_dose_max_gy:
            raise ValueError("glass_perfused_dose_min_gy must be below glass_perfused_dose_max_gy")
        return self

    def segmentectomy_floor(self, product: str) -> Constant:
        """The floor (value, name and source) a segmentectomy with ``product`` is held to."""
        name = (
            self.glass_segmentectomy_floor if product == "glass" else self.resin_segmentectomy_floor
        )
        return k.SEGMENTECTOMY_FLOORS[name]


DEFAULT_SETTINGS = ClinicalSettings()
