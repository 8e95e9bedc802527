"""The storage SOP classes y90dose receives and retrieves (PS3.4 Annex B.5).

What a dosimetry study is made of: the images y90dose reads (CT, NM, PET, MR and their
enhanced forms), the VOIs (RT Structure Set, Segmentation), RT Dose and RT Plan, and
spatial registrations. Anything else a PACS offers for a study (secondary captures, key
object selections, reports...) is refused at association time, so the peer knows it was
not taken (C-MOVE and C-GET count it as a failed sub-operation).

Transfer syntaxes: the uncompressed ones (implicit and explicit VR little endian,
deflated, explicit big endian), which every DICOM peer can convert to; compressed pixel
data would need decoders the readers do not have.
"""

from __future__ import annotations

STORAGE_SOP_CLASSES: dict[str, str] = {
    "1.2.840.10008.5.1.4.1.1.2": "CT Image Storage",
    "1.2.840.10008.5.1.4.1.1.2.1": "Enhanced CT Image Storage",
    "1.2.840.10008.5.1.4.1.1.2.2": "Legacy Converted Enhanced CT Image Storage",
    "1.2.840.10008.5.1.4.1.1.4": "MR Image Storage",
    "1.2.840.10008.5.1.4.1.1.4.1": "Enhanced MR Image Storage",
    "1.2.840.10008.5.1.4.1.1.20": "Nuclear Medicine Image Storage",
    "1.2.840.10008.5.1.4.1.1.128": "Positron Emission Tomography Image Storage",
    "1.2.840.10008.5.1.4.1.1.130": "Enhanced PET Image Storage",
    "1.2.840.10008.5.1.4.1.1.128.1": "Legacy Converted Enhanced PET Image Storage",
    "1.2.840.10008.5.1.4.1.1.481.2": "RT Dose Storage",
    "1.2.840.10008.5.1.4.1.1.481.3": "RT Structure Set Storage",
    "1.2.840.10008.5.1.4.1.1.481.5": "RT Plan Storage",
    "1.2.840.10008.5.1.4.1.1.66.4": "Segmentation Storage",
    "1.2.840.10008.5.1.4.1.1.66.1": "Spatial Registration Storage",
    "1.2.840.10008.5.1.4.1.1.66.3": "Deformable Spatial Registration Storage",
}
"""SOP Class UID -> name of every storage SOP class accepted (fewer than the 128
presentation contexts an association may propose, so C-GET can offer them all)."""

UNCOMPRESSED_TRANSFER_SYNTAXES = (
    "1.2.840.10008.1.2",  # Implicit VR Little Endian (the default every peer supports)
    "1.2.840.10008.1.2.1",  # Explicit VR Little Endian
    "1.2.840.10008.1.2.1.99",  # Deflated Explicit VR Little Endian
    "1.2.840.10008.1.2.2",  # Explicit VR Big Endian (retired, still sent by old systems)
)
"""Transfer syntaxes accepted for every storage SOP class."""

MAX_PRESENTATION_CONTEXTS = 128
"""PS3.8 9.3.2.2: at most 128 presentation contexts in one association request."""

VERIFICATION_SOP_CLASS = "1.2.840.10008.1.1"
"""C-ECHO: a department checks the connection with ``echoscu`` before sending."""

STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
STUDY_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.2.2"
STUDY_ROOT_GET = "1.2.840.10008.5.1.4.1.2.2.3"
"""Study Root Query/Retrieve Information Model - FIND, MOVE and GET (PS3.4 C.6.2)."""
