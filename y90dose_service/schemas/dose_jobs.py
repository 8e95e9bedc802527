"""Schemas of ``/v1/dose-jobs``: voxel dosimetry on a stored study.

The job body is generated from :class:`y90dose.pipeline.options.VoxelOptions`: a new
option of the library is a field of the job without an edit here. The service's policy
(options refused or required, the job's own fields) is in ``y90dose_service/voxel_jobs.py``.
"""

from __future__ import annotations

import typing
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from y90dose.pipeline.options import VALIDATORS, VoxelOptions
from y90dose_service.schemas.common import OneLineText
from y90dose_service.voxel_jobs import REFUSED_OPTIONS, REQUIRED_OPTIONS


def _not_none(annotation: Any) -> Any:
    """``X`` of ``X | None`` (a required option may not be null either)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return args[0] if len(args) == 1 and type(None) in typing.get_args(annotation) else annotation


def job_fields(options_model: type[BaseModel] = VoxelOptions) -> dict[str, Any]:
    """The options model's fields as the job body's, with the service's policy applied."""
    fields: dict[str, Any] = {}
    for name, info in options_model.model_fields.items():
        if name in REFUSED_OPTIONS:
            continue
        if name in REQUIRED_OPTIONS:  # the same type, limits and description; no default
            annotation = _not_none(info.annotation)
            if info.metadata:
                annotation = Annotated[annotation, *info.metadata]
            fields[name] = (annotation, Field(description=info.description))
        else:
            fields[name] = (info.annotation, info)
    return fields


class _DoseJobBase(BaseModel):
    """The job's own fields (policy: ``y90dose_service/voxel_jobs.py``)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "study_id": "3f1c6d2e-0000-4000-8000-000000000000",
                    "activity_gbq": 2.5,
                    "lsf": 0.06,
                    "product": "resin",
                    "method": "dvk",
                }
            ]
        },
    )

    study_id: OneLineText = Field(description="id of a study uploaded with POST /v1/studies")
    roi_names: dict[str, OneLineText] | None = Field(
        None,
        description='names of a label map\'s labels, {"1": "liver", "2": "tumor1"} (default: '
        "the study's names.json)",
    )
    write_pngs: bool = Field(True, description="draw the DVH and slice PNG figures")


DoseJobCreate = create_model(
    "DoseJobCreate",
    __base__=_DoseJobBase,
    __doc__="Run voxel dosimetry on an uploaded study: the fields of the library's "
    "VoxelOptions (y90dose.pipeline.options), with lsf and product required.",
    __validators__={
        name: field_validator(field)(function) for name, (field, function) in VALIDATORS.items()
    },
    **job_fields(),
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
