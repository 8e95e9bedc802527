"""Site-overridable clinical thresholds used to produce plan findings.

Every default comes from :mod:`y90dose.constants` (where its source is cited). A site that
works to other limits builds its own ``ClinicalSettings(...)`` and passes it to the
planning functions; nothing else in the code holds a threshold.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from y90dose import constants as k
from y90dose.constants import Constant
from y90dose.errors import InputError

GlassSegmentectomyFloor = Literal["definition", "lewandowski2018"]
"""The segmentectomy floors a glass plan may be held to (``constants.SEGMENTECTOMY_FLOORS``)."""
ResinSegmentectomyFloor = Literal["definition", "eanm2022"]
"""The segmentectomy floors a resin plan may be held to (``constants.SEGMENTECTOMY_FLOORS``)."""
SEGMENTECTOMY_FLOOR_FIELDS = {
    "glass": "glass_segmentectomy_floor",
    "resin": "resin_segmentectomy_floor",
}
"""Product -> the ``ClinicalSettings`` field naming its segmentectomy floor."""


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
    glass_segmentectomy_floor: GlassSegmentectomyFloor = Field(
        "definition",
        description="segmentectomy floor for glass: 'definition' (200 Gy, Liberchuk and "
        "Deipolyi 2020) or 'lewandowski2018' (190 Gy, Radiology 2018;287:1050)",
    )
    resin_segmentectomy_floor: ResinSegmentectomyFloor = Field(
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
    glass_whole_normal_liver_max_gy: float = Field(
        k.GLASS_WHOLE_NORMAL_LIVER_MAX_GY,
        gt=0,
        description="glass: whole normal liver (all non-tumoral liver) of a multi-territory "
        "treatment (EANM 2022 Table 2, < 75 Gy)",
    )

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

    def with_segmentectomy_definition(self, product: str, definition: str) -> ClinicalSettings:
        """These settings with ``product`` held to the segmentectomy floor ``definition``.

        Raises
        ------
        InputError
            ``segmentectomy_definition`` not one of the floors of ``product``.

        Examples
        --------
        >>> s = DEFAULT_SETTINGS.with_segmentectomy_definition("glass", "lewandowski2018")
        >>> s.segmentectomy_floor("glass").value, s.segmentectomy_floor("resin").value
        (190.0, 200.0)
        """
        field = SEGMENTECTOMY_FLOOR_FIELDS[product]
        allowed = segmentectomy_definitions(product)
        if definition not in allowed:
            raise InputError(
                "segmentectomy_definition",
                definition,
                f"for {product}: {' or '.join(allowed)}",
            )
        return self.model_copy(update={field: definition})


def segmentectomy_definitions(product: str) -> tuple[str, ...]:
    """The segmentectomy floor names a ``product`` (glass, resin) may be held to."""
    annotation = ClinicalSettings.model_fields[SEGMENTECTOMY_FLOOR_FIELDS[product]].annotation
    return get_args(annotation)


DEFAULT_SETTINGS = ClinicalSettings()
