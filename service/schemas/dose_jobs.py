"""Schemas of ``/v1/dose-jobs``: voxel dosimetry on a stored study."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

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
    activity_gbq: float = Field(
        gt=0.0, le=MAX_ACTIVITY_GBQ, description="administered activity (GBq)"
    )
    lsf: float = Field(ge=0.0, lt=1.0, description="lung shunt fraction, 0 <= LSF < 1")
    residual: float = Field(
        0.0, ge=0.0, lt=1.0, description="fraction left in vial and tubing, 0..1"
    )
    product: Product = Field(description="microsphere product: glass or resin")
    method: DoseMethod = Field(
        DoseMethod.LDM, description="ldm (local deposition) or kernel (DPK convolution)"
    )
    options: JsonObject = Field(
        default_factory=dict,
        description="further keyword options passed to the voxel-dosimetry pipeline",
    )


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
