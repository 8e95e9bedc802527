"""``VoxelOptions``: every option of a voxel-dosimetry run, in one frozen model.

This model is the one place an option is declared: its name (with the unit), type,
limits, default and description. The CLI's ``y90dose voxel`` options are generated from
it (``--activity-gbq`` is ``activity_gbq``, :mod:`y90dose.cli.voxel`), and so is the
service's dose-job schema (``y90dose_service/schemas/dose_jobs.py``). What the model cannot know
without the images (a VOI name that must exist, CT densities without a CT, scaling
options on a Bq/mL image without an activity) is checked by the computation, with the
same field names.

Examples
--------
>>> options = VoxelOptions(activity_gbq=2.0, lsf=0.06)
>>> options.method.value, options.kernel
('auto', None)
>>> VoxelOptions(method="ldm", kernel="dpk")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for VoxelOptions
...
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator

from y90dose.devices import Product
from y90dose.dvh import DEFAULT_V_THRESHOLDS_GY
from y90dose.models.common import MAX_ACTIVITY_GBQ
from y90dose.radiobiology import MAX_ALPHA_PER_GY
from y90dose.validation import parse
from y90dose.voxel.methods import KernelSource, VoxelDoseMethod

ENERGY_MIN_J_PER_GBQ = 45.0
"""Lowest energy constant C accepted (J/GBq): the published values are 47.7-50.0 J/GBq
(physics.md 2.1); 45-55 leaves room for a site's own value and refuses a unit slip."""
ENERGY_MAX_J_PER_GBQ = 55.0


class ImageUnits(StrEnum):
    """What the emission image's values are: relative counts, or Bq/mL."""

    COUNTS = "counts"
    BQML = "bqml"


class DensitySource(StrEnum):
    """Where voxel densities come from: the CT, or the liver density everywhere."""

    CT = "ct"
    UNIFORM = "uniform"


Threshold = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]


def _file_name(value: Any) -> Any:
    """An empty name is refused, not read as the current folder (``Path("")`` is ``.``)."""
    if isinstance(value, str) and not value.strip():
        raise ValueError("a file name (not empty)")
    return value


def kernel_needs_a_kernel_method(
    cls: type, kernel: KernelSource | None, info: ValidationInfo
) -> KernelSource | None:
    """Validator of ``kernel``: refused with ``method`` ldm, which uses no kernel.

    Shared by every model generated from :class:`VoxelOptions` (the service's job body).
    """
    if kernel is not None and info.data.get("method") is VoxelDoseMethod.LDM:
        raise ValueError("no kernel with method 'ldm' (local deposition uses none)")
    return kernel


VALIDATORS = {"kernel_with_a_kernel_method": ("kernel", kernel_needs_a_kernel_method)}
"""Field validators of :class:`VoxelOptions` (name -> (field, function)), for models
generated from its fields."""


class VoxelOptions(BaseModel):
    """The options of one voxel-dosimetry run (images and VOIs are the run's inputs).

    Every field has its unit in its name; ``None`` means "not given" (the default the
    description states applies).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    activity_gbq: float | None = Field(
        None,
        gt=0.0,
        le=MAX_ACTIVITY_GBQ,
        allow_inf_nan=False,
        description="administered (or, predictive, planned) activity (GBq): required for an "
        "image in counts; an image in Bq/mL is rescaled to it (its own calibration is "
        "reported), or used at its own calibration without it",
    )
    lsf: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        allow_inf_nan=False,
        description="lung shunt fraction (not a percentage)",
    )
    residual: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        allow_inf_nan=False,
        description="fraction left in vial and tubing (not a percentage)",
    )
    normalize_to: str | None = Field(
        None,
        min_length=1,
        description="VOI that holds the activity less the lung shunt and residual (default liver); "
        "with a Bq/mL image it needs activity_gbq",
    )
    method: VoxelDoseMethod = Field(
        VoxelDoseMethod.AUTO,
        description="dose engine: auto (dvk_heterogeneous with CT densities, else dvk; the "
        "result's method_reason says which ran and why), dvk (dose-voxel-kernel "
        "convolution, soft tissue), dvk_heterogeneous (density-scaled kernels, carries the "
        "dose into lung and bone; the same as dvk without CT densities) or ldm (local "
        "deposition)",
    )
    kernel: KernelSource | None = Field(
        None,
        description="kernel of dvk and dvk_heterogeneous: auto (Lanconelli 2012 at tabulated "
        "voxel sizes, else integrated Graves 2019 DPK), dpk or lanconelli; not with ldm",
    )
    image_units: ImageUnits | None = Field(
        None, description="override the emission image's units (NIfTI images default to counts)"
    )
    predictive: bool = Field(
        False,
        description="the image is a Tc-99m MAA SPECT and activity_gbq the planned activity",
    )
    product: Product | None = Field(
        None,
        description="microsphere product: its energy constant C is used (default EANM 49.67 J/GBq)",
    )
    energy_j_per_gbq: float | None = Field(
        None,
        ge=ENERGY_MIN_J_PER_GBQ,
        le=ENERGY_MAX_J_PER_GBQ,
        allow_inf_nan=False,
        description="energy absorbed per GBq decayed (J/GBq); overrides the product's (the "
        "result's energy_note says by how much)",
    )
    density: DensitySource | None = Field(
        None,
        description="voxel densities from the CT (default with a CT) or the liver density "
        "1.03 g/mL everywhere (default without)",
    )
    hu_density_curve: Annotated[Path, BeforeValidator(_file_name)] | None = Field(
        None,
        description="the scanner's HU,density_g_ml calibration (CSV file); with CT densities only",
    )
    liver_roi: str | None = Field(
        None,
        min_length=1,
        description="whole-liver VOI (normal liver = liver - tumours); must be a VOI "
        "(default: liver, if there is one)",
    )
    tumor_rois: list[Annotated[str, Field(min_length=1)]] | None = Field(
        None,
        min_length=1,
        description="tumour VOIs (default: VOIs named tumor/lesion/GTV/HCC)",
    )
    segment_roi: str | None = Field(
        None,
        min_length=1,
        description="radiation segmentectomy: the treated segment (perfused territory) VOI; "
        "its and the tumours' mean, D70 and V200 are checked against the segmentectomy floor",
    )
    eud_alpha_per_gy: float | None = Field(
        None,
        gt=0.0,
        le=MAX_ALPHA_PER_GY,
        allow_inf_nan=False,
        description="radiosensitivity for the EUD (1/Gy, e.g. 0.005); no EUD without it",
    )
    v_thresholds_gy: list[Threshold] = Field(
        default_factory=lambda: list(DEFAULT_V_THRESHOLDS_GY),
        min_length=1,
        description="thresholds of the V metrics (Gy; default "
        + " ".join(f"{t:g}" for t in DEFAULT_V_THRESHOLDS_GY)
        + ")",
    )
    allow_partial_vois: bool = Field(
        False, description="keep VOIs that extend outside the image (the part inside)"
    )
    sd_calibration_percent: float | None = Field(
        None,
        ge=0.0,
        le=100.0,
        allow_inf_nan=False,
        description="SD of the image's activity scale for each VOI's mean-dose uncertainty, "
        "percent (default: 5 % dose calibrator when scaled to activity_gbq, 10 % for an "
        "image at its own Bq/mL calibration)",
    )
    resolution_fwhm_mm: float | None = Field(
        None,
        gt=0.0,
        le=50.0,
        allow_inf_nan=False,
        description="spatial resolution of the emission image (FWHM, mm) for the "
        "partial-volume part of each VOI's mean-dose uncertainty (default 8 mm for PET, "
        "15 mm for SPECT and unknown images)",
    )

    _kernel_with_a_kernel_method = field_validator("kernel")(kernel_needs_a_kernel_method)

    @classmethod
    def of(cls, options: VoxelOptions | Mapping[str, Any] | None = None) -> VoxelOptions:
        """``options`` as a VoxelOptions; a mapping is validated (errors name the field).

        Raises
        ------
        InputError
            The first bad field, its value and what is allowed.
        """
        if isinstance(options, VoxelOptions):
            return options
        return parse(cls, dict(options or {}))
