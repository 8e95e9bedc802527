"""Schemas of ``/v1/studies``: uploaded imaging studies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class StudyPublic(BaseModel):
    """A stored study. ``summary`` describes its content without patient identifiers."""

    id: str
    kind: str = Field(description="dicom (optionally with a NIfTI label map) or nifti")
    file_count: int = Field(description="files stored")
    size_bytes: int = Field(description="total size of the stored files (bytes)")
    summary: dict[str, Any] = Field(
        description="series (modality, files), NIfTI image and label map, label names"
    )
    created_at: datetime
    created_by: str = Field(description="name of the uploading API key")
