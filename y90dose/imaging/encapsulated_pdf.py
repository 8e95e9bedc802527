"""DICOM Encapsulated PDF (PS3.3 A.45.1): a PDF report filed in the study of its images.

:func:`build_encapsulated_pdf` returns a pydicom dataset (the caller writes it:
:func:`dataset_bytes` or ``dataset.save_as``) with the modules of the IOD:

- Patient and General Study: copied from the source images (:class:`StudyInfo`), so
  the report lands in their patient and study;
- Encapsulated Document Series: a new series, Modality ``DOC``;
- General Equipment and SC Equipment (ConversionType ``WSD``, made on a workstation);
- Encapsulated Document: the PDF as it is (EncapsulatedDocument, with its length in
  EncapsulatedDocumentLength, since an odd-length PDF gets one NUL byte of padding),
  MIME type ``application/pdf``, DocumentTitle, BurnedInAnnotation ``YES`` (the pages
  name the patient) and, since the pages show the images, the Source Instance Sequence
  listing every source image instance;
- SOP Common.

The IOD has no Frame of Reference module (a document has no patient coordinates): the
frame of the images is not written; the link to them is the study and the Source
Instance Sequence. highdicom (which builds SEG, SR, SC...) has no Encapsulated Document
class, so the dataset is built with pydicom like the other writers
(:func:`y90dose.imaging.dicom_write.new_dataset`).
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.filewriter import dcmwrite
from pydicom.sequence import Sequence as DicomSequence

from y90dose.errors import InputError
from y90dose.imaging.dicom_write import StudyInfo, _uid, new_dataset
from y90dose.imaging.image import Image

ENCAPSULATED_PDF_STORAGE = "1.2.840.10008.5.1.4.1.1.104.1"
PDF_MIME_TYPE = "application/pdf"
REPORT_SERIES_NUMBER = 9001
"""Series number of report series (kept away from the scanners' own small numbers)."""


@dataclass(frozen=True)
class SourceInstance:
    """One image instance a document's content comes from."""

    sop_class_uid: str
    sop_instance_uid: str


def source_instances(images: Sequence[Image | None]) -> list[SourceInstance]:
    """The DICOM instances of ``images`` (those read from DICOM), each once, in order."""
    found: dict[str, SourceInstance] = {}
    for image in images:
        if image is None or not image.sop_class_uid:
            continue
        for uid in image.sop_instance_uids:
            found.setdefault(uid, SourceInstance(image.sop_class_uid, uid))
    return list(found.values())


def build_encapsulated_pdf(
    pdf: bytes,
    study: StudyInfo,
    *,
    document_title: str,
    series_description: str,
    sources: Sequence[SourceInstance] = (),
    uid_seed: str | None = None,
    content_datetime: dt.datetime | None = None,
) -> Dataset:
    """An Encapsulated PDF dataset holding ``pdf``, in ``study``, in a new series.

    Parameters
    ----------
    pdf
        The PDF bytes (``%PDF-`` ...), stored unchanged.
    study
        Patient and study to file the document in (:meth:`StudyInfo.from_image` of the
        images the document describes).
    document_title
        DocumentTitle (what a PACS lists); ``series_description`` the SeriesDescription.
    sources
        The image instances the document shows (Source Instance Sequence).
    uid_seed
        Makes the series and instance UIDs deterministic (the same report gets the same
        UIDs, so sending it twice files one document, not two); random when ``None``.
    content_datetime
        When the document was made (ContentDate/Time, InstanceCreationDate/Time); an
        aware datetime also sets TimezoneOffsetFromUTC.

    Raises
    ------
    InputError
        (``pdf``) bytes that are not a PDF.

    Examples
    --------
    >>> ds = build_encapsulated_pdf(b"%PDF-1.4 ...", StudyInfo.new(), document_title="x",
    ...                             series_description="x")
    >>> ds.SOPClassUID, ds.Modality, ds.MIMETypeOfEncapsulatedDocument
    ('1.2.840.10008.5.1.4.1.1.104.1', 'DOC', 'application/pdf')
    """
    if not pdf.startswith(b"%PDF-"):
        raise InputError("pdf", pdf[:8], "PDF bytes (starting with %PDF-)")
    when = content_datetime or dt.datetime.now(dt.UTC)
    ds = new_dataset(
        sop_class_uid=ENCAPSULATED_PDF_STORAGE,
        sop_instance_uid=_uid(uid_seed, "encapsulated-pdf"),
        modality="DOC",
        study=study,
        series_instance_uid=_uid(uid_seed, "encapsulated-pdf-series"),
        series_number=REPORT_SERIES_NUMBER,
        series_description=series_description,
        content_datetime=when,
    )
    del ds.FrameOfReferenceUID, ds.PositionReferenceIndicator  # not in this IOD
    offset = when.utcoffset()
    if offset is not None:
        minutes = int(offset.total_seconds() // 60)
        sign = "+" if minutes >= 0 else "-"
        ds.TimezoneOffsetFromUTC = f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"
    ds.ConversionType = "WSD"  # SC Equipment: made on a workstation
    ds.InstanceNumber = 1
    ds.AcquisitionDateTime = ""
    ds.BurnedInAnnotation = "YES"  # the pages name the patient
    ds.DocumentTitle = document_title[:1024]
    ds.ConceptNameCodeSequence = DicomSequence()
    if sources:
        items = []
        for source in sources:
            item = Dataset()
            item.ReferencedSOPClassUID = source.sop_class_uid
            item.ReferencedSOPInstanceUID = source.sop_instance_uid
            items.append(item)
        ds.SourceInstanceSequence = DicomSequence(items)
    ds.MIMETypeOfEncapsulatedDocument = PDF_MIME_TYPE
    ds.EncapsulatedDocument = pdf
    ds.EncapsulatedDocumentLength = len(pdf)
    return ds


def dataset_bytes(ds: Dataset) -> bytes:
    """A dataset as a DICOM file (preamble, File Meta Information), in memory."""
    buffer = io.BytesIO()
    dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def encapsulated_pdf_of(ds: Dataset) -> bytes:
    """The PDF an Encapsulated PDF dataset holds, without the padding byte."""
    document = bytes(ds.EncapsulatedDocument)
    length = ds.get("EncapsulatedDocumentLength")
    return document[: int(length)] if length is not None else document
