"""Helpers shared by the service tests (a uniquely named module, not ``conftest``)."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid
from sqlalchemy import create_engine, text

from y90dose_service.security import create_key

SERIES_UID = generate_uid()


def reset_postgres(url: str) -> None:
    """Drop every table (and the Alembic version) of the test database."""
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@dataclass(frozen=True)
class Keys:
    """Headers of one key per role, and their names."""

    viewer: dict[str, str]
    planner: dict[str, str]
    approver: dict[str, str]
    approver2: dict[str, str]


def add_key(app: FastAPI, name: str, role: str) -> str:
    """Create a key directly in the app's database; return the plain key."""
    with app.state.sessionmaker() as session:
        _, plain = create_key(session, name, role)
        session.commit()
    return plain


def assert_problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    """The response is RFC 7807 problem+json with ``status``; for 422 it names ``field``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("urn:y90dose:problem:")
    assert body["title"] and body["detail"]
    if field is not None:
        fields = [e["field"] for e in body["errors"]]
        assert field in fields, fields
        error = body["errors"][fields.index(field)]
        assert set(error) >= {"field", "value", "allowed"}
        assert error["allowed"]
    return body


STUDY_UID = generate_uid()


def dicom_bytes(modality: str = "CT", size: int = 4) -> bytes:
    """A minimal whole DICOM image (``size`` x ``size`` pixels of 16 bits) of one series,
    with a patient ID."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.SeriesInstanceUID = SERIES_UID
    ds.StudyInstanceUID = STUDY_UID
    ds.PatientID = "SECRET-PATIENT-ID"
    ds.Rows = ds.Columns = size
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.PixelData = bytes(range(256)) * (size * size * 2 // 256) + bytes(size * size * 2 % 256)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def make_zip(entries: dict[str, bytes]) -> bytes:
    """A zip holding ``entries`` (name -> bytes) as given, unsafe names included."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buffer.getvalue()
