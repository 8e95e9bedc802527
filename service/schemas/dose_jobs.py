"""Schemas of ``/v1/dose-jobs``: voxel dosimetry on a stored study."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from service.schemas.common import JsonObject, OneLineText
from y90dose.devices import Product
from y90dose.models.common import MAX_ACTIVITY_GBQ


class DoseMethod(StrEnum):
    """How activity becomes dose: local deposition, or dose-point-kernel convolution."""

    LDM = "ldm"
    KERNEL = "kernel"


class DoseJobCreate(BaseModel):
    """Run voxel dosimetry on an uploaded study."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "study_id": "3f1c6d2e-0000-4000-8000-000000000000",
                    "activity_gbq": 2.5,
                    "lsf": 0.06,
                    "product": "resin",
                    "method": "kernel",
                }
            ]
        },
    )

    study_id: OneLineText = Field(description="id of a study uploaded with POST /v1/studies")
    activity_gbq: float | None = Field(
        None,
        gt=0.0,
        le=MAX_ACTIVITY_GBQ,
        description="administered activity (GBq): required for an image in counts; an "
        "image in Bq/mL is rescaled so that the normalisation VOI (options.normalize_to, "
        "default liver) holds activity x (1 - LSF) x (1 - residual), and the result "
        "reports the image's own activity and the factor "
        "(result.activity.image_calibration); omit it to use a Bq/mL image's own "
        "calibration (lsf and residual must then be 0)",
    )
    lsf: float = Field(ge=0.0, lt=1.0, description="lung shunt fraction, 0 <= LSF < 1")
    residual: float = Field(
        0.0, ge=0.0, lt=1.0, description="fraction left in vial and tubing, 0..1"
    )
    product: Product = Field(
        description="microsphere product: glass or resin; the dose uses its energy "
        "constant C (J/GBq) unless options.energy_j_per_gbq overrides it (the result's "
        "energy_note says by how much)"
    )
    method: DoseMethod = Field(
        DoseMethod.LDM, description="ldm (local deposition) or kernel (DPK convolution)"
    )
    options: JsonObject = Field(
        default_factory=dict,
        description="further keyword options passed to the voxel-dosimetry pipeline "
        "(normalize_to, image_units, kernel, energy_j_per_gbq...; not the job's own "
        "fields); an option the pipeline does not use with these inputs fails the job",
    )

    @field_validator("options")
    @classmethod
    def _options_are_not_fields(cls, options: dict[str, Any]) -> dict[str, Any]:
        """An option that repeats a field of the job would be one of two values dropped."""
        twice = sorted(set(options) & set(cls.model_fields))
        if twice:
            raise ValueError(f"options other than the job's own fields (give {twice} as fields)")
        return options


class JobFile(BaseModel):
    """A downloadable result file of a job."""

    name: str = Field(description="path inside the job's output, for .../files/{name}")
    size_bytes: int
    url: str


class DoseJobPublic(BaseModel):
    """A dose job's state; ``progress`` runs 0..1 while ``status`` is running."""

    id: str
    study_id: str
    status: str = Field(description="queued, running, succeeded or failed")
    progress: float = Field(description="fraction done, 0..1")
    stage: str | None = Field(description="what the worker is doing")
    message: str | None = Field(description="why the job failed (when it did)")
    params: dict[str, Any]
    result: dict[str, Any] | None = Field(description="metrics when it succeeded")
    files: list[JobFile]
    attempts: int = Field(description="times the job was started")
    created_at: datetime
    created_by: str
    started_at: datetime | None
    finished_at: datetime | None
