"""Schemas of DICOM networking: destinations, sends of a dose job, study imports and the
transfers that carry them out (docs/dicom.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from y90dose.dicomnet.destinations import Destination, check_uid, shown_url
from y90dose.errors import InputError
from y90dose.pipeline.structure_set import ISODOSE_LEVELS_MAX, check_isodose_levels
from y90dose_service.schemas.common import OneLineText


class DestinationPublic(BaseModel):
    """A configured destination (a DICOMweb URL without its credentials)."""

    name: str
    kind: str = Field(description="dimse or dicomweb")
    host: str | None
    port: int | None
    ae_title: str | None
    url: str | None

    @classmethod
    def of(cls, destination: Destination) -> DestinationPublic:
        """The public view of ``destination``."""
        return cls(
            name=destination.name,
            kind=destination.kind,
            host=destination.host,
            port=destination.port,
            ae_title=destination.ae_title,
            url=shown_url(destination.url) if destination.url else None,
        )


def _levels(value: list[float]) -> list[float]:
    try:
        return check_isodose_levels(value)
    except InputError as exc:
        raise ValueError(f"{exc.field}: {exc.allowed}") from None


def _uid(value: str) -> str:
    try:
        return check_uid(value, "study_instance_uid")
    except InputError as exc:
        raise ValueError(exc.allowed) from None


class DoseJobSend(BaseModel):
    """Send a finished dose job's DICOM objects to a configured destination."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "destination": "pacs",
                    "objects": ["rtdose", "rtstruct"],
                    "isodose_levels_gy": [120],
                }
            ]
        },
    )

    destination: OneLineText = Field(
        description="name of a destination (GET /v1/dicom/destinations)"
    )
    objects: list[Literal["rtdose", "rtstruct"]] = Field(
        min_length=1,
        description="rtdose: the RT Dose (on the CT grid when the job had a CT) with its RT "
        "Plan; rtstruct: an RT Structure Set of the VOIs used, normal_liver and tumors "
        "(derived), and isodose structures",
    )
    isodose_levels_gy: Annotated[list[float], AfterValidator(_levels)] = Field(
        default_factory=list,
        max_length=ISODOSE_LEVELS_MAX,
        description="levels (Gy) of isodose structures in the structure set: the voxels of "
        "the RT Dose sent at or above each",
    )

    @model_validator(mode="after")
    def _consistent(self) -> DoseJobSend:
        if len(set(self.objects)) != len(self.objects):
            raise ValueError("objects: each object once")
        if self.isodose_levels_gy and "rtstruct" not in self.objects:
            raise ValueError(
                "isodose_levels_gy: isodose structures go in 'rtstruct'; add it to objects"
            )
        return self


class StudyImport(BaseModel):
    """Retrieve a study from a configured destination and store it as a study."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"destination": "pacs", "study_instance_uid": "1.2.826.0.1.3680043.8.498.1"}
            ]
        },
    )

    destination: OneLineText = Field(
        description="name of a destination (GET /v1/dicom/destinations)"
    )
    study_instance_uid: Annotated[str, AfterValidator(_uid)] = Field(
        description="StudyInstanceUID of the study to retrieve"
    )
    method: Literal["dicomweb", "c-get", "c-move"] | None = Field(
        None,
        description="dicomweb (QIDO-RS + WADO-RS) for a 'dicomweb' destination; c-get or "
        "c-move (to this service's Storage SCP) for a 'dimse' one. Default: dicomweb or c-get",
    )


class DicomTransferPublic(BaseModel):
    """A send or an import and how it went; ``status`` queued, running, succeeded or failed."""

    id: str
    kind: str = Field(description="send or import")
    status: str
    destination: str
    dose_job_id: str | None = Field(description="send: the dose job whose objects are sent")
    study_id: str | None = Field(description="import: the study it stored")
    params: dict[str, Any]
    result: dict[str, Any] | None = Field(
        description="send: each instance sent (object, SOP class and instance UID, status); "
        "import: the study stored and the retrieval's counts"
    )
    stage: str | None
    message: str | None = Field(description="why it failed (when it did)")
    attempts: int = Field(description="tries so far")
    created_at: datetime
    created_by: str
    started_at: datetime | None
    finished_at: datetime | None
