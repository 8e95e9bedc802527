"""Reading DICOM image volumes: CT/PT/NM single-frame series, multi-frame NM, RTDOSE.

Geometry is taken from the DICOM Image Plane attributes (PS3.3 C.7.6.2):
ImageOrientationPatient gives the row (i) and column (j) directions, ImagePositionPatient
the centre of the first voxel of each slice, PixelSpacing = (row spacing, column spacing)
= (spacing along j, spacing along i). Slices are sorted along the normal
``row x column``; the slice spacing is the distance between consecutive positions and must
be uniform. Stored values are converted with RescaleSlope/RescaleIntercept slice by slice
(frame by frame for enhanced multi-frame objects) and RTDOSE with DoseGridScaling.

Multi-frame NM (PS3.3 C.8.4): position and orientation of the first frame come from
DetectorInformationSequence[0] (or the top level, or the functional groups of enhanced
objects); frames advance along ``row x column`` by SpacingBetweenSlices (SliceThickness
when absent), the convention of reconstructed tomographic NM images (ImageType
``RECON TOMO``).
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from y90dose.errors import ImageError
from y90dose.imaging.image import Image
from y90dose.limits import check_voxel_count

#: Modalities that hold a voxel volume (others, e.g. RTSTRUCT or SEG, are VOIs or documents).
IMAGE_MODALITIES = frozenset({"CT", "PT", "NM", "MR", "RTDOSE", "OT"})

#: Slices closer than this (mm) along the normal are duplicates (several volumes).
SLICE_SPACING_TOLERANCE_MM = 0.01
#: Largest distance (mm) of a slice from the uniform grid fitted to the series, also at
#: least 1 % of the slice spacing: scanners round positions to 0.01 mm or so, while a
#: missing slice moves the rest by a whole spacing.
SLICE_POSITION_TOLERANCE_MM = 0.02
#: Largest in-plane shift (mm) between consecutive slice positions (gantry tilt) accepted.
SLICE_ALIGNMENT_TOLERANCE_MM = 0.01

PATIENT_STUDY_KEYWORDS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "PatientAge",
    "PatientWeight",
    "PatientSize",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "ReferringPhysicianName",
    "StudyDescription",
)

_METADATA_KEYWORDS = (
    "Manufacturer",
    "ManufacturerModelName",
    "SeriesDescription",
    "SeriesDate",
    "SeriesTime",
    "AcquisitionDate",
    "AcquisitionTime",
    "ContentDate",
    "ContentTime",
    "Units",
    "DecayCorrection",
    "CorrectedImage",
    "AttenuationCorrectionMethod",
    "ScatterCorrectionMethod",
    "ReconstructionMethod",
    "FrameReferenceTime",
    "ActualFrameDuration",
    "ImageType",
    "ConvolutionKernel",
    "KVP",
)

_RADIOPHARMACEUTICAL_KEYWORDS = (
    "Radiopharmaceutical",
    "RadiopharmaceuticalStartTime",
    "RadiopharmaceuticalStartDateTime",
    "RadionuclideTotalDose",
    "RadionuclideHalfLife",
    "RadionuclidePositronFraction",
)


@dataclass(frozen=True)
class ScannedHeader:
    """One file's header as :func:`scan_folder` read it (no pixel data), checked whole.

    ``pixel_data_at`` is the file offset of its native (uncompressed) pixel data element,
    whose length the scan checked; ``None`` when the pixels are read by parsing the whole
    file (compressed or deflated data, or no pixels).
    """

    header: Dataset
    pixel_data_at: int | None


@dataclass(frozen=True)
class SeriesInfo:
    """One DICOM series found in a folder (with the headers the scan read, file by file)."""

    series_instance_uid: str
    modality: str
    description: str
    files: tuple[Path, ...]
    headers: tuple[ScannedHeader, ...] = field(default=(), compare=False, repr=False)

    def describe(self) -> str:
        """One line for error messages."""
        return (
            f"{self.modality} series {self.series_instance_uid} "
            f"({self.description or 'no description'}, {len(self.files)} file(s))"
        )


def read_dataset(path: Path, *, header_only: bool = False) -> Dataset:
    """Read one DICOM file, turning every failure into an :class:`ImageError` naming it."""
    try:
        return pydicom.dcmread(path, stop_before_pixels=header_only)
    except (InvalidDicomError, OSError, EOFError, ValueError, KeyError, TypeError) as error:
        raise ImageError(f"cannot read DICOM file {path}: {error}") from error


#: Attributes every instance of a series needs: SOP Common (PS3.3 C.12.1), General
#: Series (C.7.3.1) and General Study (C.7.2.1) modules, all type 1.
INSTANCE_KEYWORDS = ("Modality", "SeriesInstanceUID", "StudyInstanceUID", "SOPInstanceUID")

#: Pixel data elements (tag -> bits per sample, 0: BitsAllocated), PS3.3 C.7.6.3.
_PIXEL_DATA_TAGS = {0x7FE00010: 0, 0x7FE00008: 32, 0x7FE00009: 64}
_ITEM_TAG, _SEQUENCE_DELIMITER_TAG = 0xFFFEE000, 0xFFFEE0DD
_UNDEFINED_LENGTH = 0xFFFFFFFF
_LONG_LENGTH_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT"}


def _is_image(ds: Dataset) -> bool:
    """An instance that must carry pixels: an image modality, or an Image Pixel module."""
    return str(ds.get("Modality", "")) in IMAGE_MODALITIES or "Rows" in ds or "Columns" in ds


def _whole_number(ds: Dataset, keyword: str, default: int | None, path: Path) -> int:
    value = ds.get(keyword, default)
    try:
        number = int(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        number = None
    if number is None or number < 1:
        raise ImageError(f"DICOM file {path}: {keyword} {value!r} is not a whole number >= 1")
    return number


def pixel_data_bytes(ds: Dataset, path: Path, bits_per_sample: int = 0) -> int:
    """Bytes of native (uncompressed) pixel data the header describes (PS3.5 8.1.1).

    Rows x Columns x NumberOfFrames x SamplesPerPixel x BitsAllocated / 8, rounded up
    (1-bit SEG frames are packed). ``bits_per_sample`` > 0 replaces BitsAllocated (float
    pixel data).
    """
    values = math.prod(
        _whole_number(ds, keyword, default, path)
        for keyword, default in (
            ("Rows", None),
            ("Columns", None),
            ("NumberOfFrames", 1),
            ("SamplesPerPixel", 1),
        )
    )
    bits = bits_per_sample or _whole_number(ds, "BitsAllocated", None, path)
    return (values * bits + 7) // 8


def check_instance(ds: Dataset, path: Path, required: Sequence[str] = INSTANCE_KEYWORDS) -> None:
    """Refuse an instance a series cannot use: ``required`` attributes or, for an image,
    Rows or Columns missing.

    Raises
    ------
    ImageError
        Naming the file and the first missing attribute.
    """
    wanted = (*required, *(("Rows", "Columns") if _is_image(ds) else ()))
    missing = [keyword for keyword in wanted if str(ds.get(keyword, "")).strip() == ""]
    if missing:
        raise ImageError(
            f"DICOM file {path} has no {', '.join(missing)}: it is truncated or not a whole "
            f"instance (every file of a series needs {', '.join(wanted)})"
        )


def _element_header(
    head: bytes, ds: Dataset, path: Path
) -> tuple[int, int, int]:  # (tag, value length, header length)
    little = ds.file_meta.TransferSyntaxUID.is_little_endian
    implicit = ds.file_meta.TransferSyntaxUID.is_implicit_VR
    order = "<" if little else ">"
    group, element = struct.unpack_from(order + "HH", head)
    tag = (group << 16) | element
    if implicit:
        return tag, struct.unpack_from(order + "I", head, 4)[0], 8
    if head[4:6] in _LONG_LENGTH_VRS:
        return tag, struct.unpack_from(order + "I", head, 8)[0], 12
    return tag, struct.unpack_from(order + "H", head, 6)[0], 8


def _count_fragments(handle: Any, start: int, file_size: int, ds: Dataset, path: Path) -> int:
    """Fragments of encapsulated pixel data (PS3.5 A.4) from ``start``, each inside the file."""
    order = "<" if ds.file_meta.TransferSyntaxUID.is_little_endian else ">"
    position, items = start, 0
    while True:
        handle.seek(position)
        head = handle.read(8)
        if len(head) < 8:
            raise ImageError(
                f"DICOM file {path}: the compressed pixel data ends without its sequence "
                "delimiter: the file is truncated (copy it again)"
            )
        group, element, length = struct.unpack(order + "HHI", head)
        tag = (group << 16) | element
        if tag == _SEQUENCE_DELIMITER_TAG:
            return max(items - 1, 0)  # the first item is the Basic Offset Table
        if tag != _ITEM_TAG or length == _UNDEFINED_LENGTH:
            raise ImageError(f"DICOM file {path}: the compressed pixel data is not a list of items")
        position += 8 + length
        if position > file_size:
            raise ImageError(
                f"DICOM file {path}: a pixel data fragment of {length} bytes runs past the end "
                f"of the file ({file_size} bytes): the file is truncated (copy it again)"
            )
        items += 1


def _check_pixel_data(handle: Any, at: int, file_size: int, ds: Dataset, path: Path) -> bool:
    """Pixel data at byte ``at`` of ``handle`` as long as the header says, or fragments.

    Returns True for native (uncompressed) pixel data, False for fragments.
    """
    handle.seek(at)
    head = handle.read(12)
    tag = _element_header(head, ds, path)[0] if len(head) >= 8 else None
    if tag not in _PIXEL_DATA_TAGS:
        raise ImageError(f"DICOM file {path} has no pixel data: it is truncated or holds no image")
    _, length, header_bytes = _element_header(head, ds, path)
    start = at + header_bytes
    if length == _UNDEFINED_LENGTH:
        frames = _whole_number(ds, "NumberOfFrames", 1, path)
        fragments = _count_fragments(handle, start, file_size, ds, path)
        if fragments < frames:
            raise ImageError(
                f"DICOM file {path}: compressed pixel data of {fragments} fragment(s) cannot "
                f"hold its {frames} frame(s): the file is truncated or damaged"
            )
        return False
    available = file_size - start
    if length > available:
        raise ImageError(
            f"DICOM file {path} is truncated: its pixel data should be {length} bytes, the "
            f"file holds {available} (copy it again)"
        )
    needed = pixel_data_bytes(ds, path, _PIXEL_DATA_TAGS[tag])
    if length < needed:
        raise ImageError(
            f"DICOM file {path}: pixel data of {length} bytes where Rows x Columns x frames x "
            f"samples x BitsAllocated / 8 = {needed}: the file is truncated or damaged"
        )
    return True


def read_dicom_header(path: Path, required: Sequence[str] = INSTANCE_KEYWORDS) -> Dataset:
    """Read one DICOM file's header and check that the instance is whole, without reading
    its pixel data.

    An image's pixel data must be as long as Rows x Columns x NumberOfFrames x
    SamplesPerPixel x BitsAllocated / 8 and lie inside the file; compressed
    (encapsulated) pixel data must hold at least one fragment per frame and end with its
    delimiter. pydicom itself reads a cut file without a word (the missing pixels would
    be zeros, or an error deep in a dose calculation).

    ``required`` are the attributes the caller needs besides those of an image (default:
    what a series member needs, :data:`INSTANCE_KEYWORDS`).

    Raises
    ------
    ImageError
        If the file cannot be parsed, lacks a ``required`` attribute (and Rows, Columns
        and pixel data for images), or its pixel data is shorter than its header says.
        The message names the file.
    """
    return _read_header(path, required).header


def _read_header(path: Path, required: Sequence[str] = INSTANCE_KEYWORDS) -> ScannedHeader:
    """:func:`read_dicom_header`, and where the native pixel data element starts."""
    try:
        with path.open("rb") as handle:
            ds = pydicom.dcmread(handle, stop_before_pixels=True)
            at = handle.tell()
            file_size = os.fstat(handle.fileno()).st_size
            check_instance(ds, path, required)
            if not _is_image(ds):
                return ScannedHeader(ds, None)
            syntax = ds.file_meta.get("TransferSyntaxUID")
            if syntax is None or syntax.is_deflated:  # no file offsets to check: read it all
                full = pydicom.dcmread(path)
                keyword = next((k for k in ("PixelData", "FloatPixelData") if k in full), None)
                if keyword is None or len(full[keyword].value) < pixel_data_bytes(full, path):
                    raise ImageError(f"DICOM file {path}: pixel data missing or truncated")
                return ScannedHeader(ds, None)
            native = _check_pixel_data(handle, at, file_size, ds, path)
            return ScannedHeader(ds, at if native else None)
    except ImageError:
        raise
    except Exception as error:  # pydicom raises many kinds on untrusted bytes
        shown = f"{type(error).__name__}: {error}"
        raise ImageError(f"cannot read DICOM file {path}: {shown}") from None


def _is_dicom_file(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def scan_folder(folder: Path) -> list[SeriesInfo]:
    """All DICOM series below ``folder`` (recursively), in a stable order.

    Files without the DICOM preamble (``DICM`` at byte 128) are ignored; a file that has
    it but cannot be parsed, or is not a whole instance (:func:`read_dicom_header`),
    raises :class:`ImageError` naming it.
    """
    groups: dict[str, list[Path]] = {}
    headers: dict[str, list[ScannedHeader]] = {}
    for root, _dirs, names in sorted(os.walk(folder)):
        for name in sorted(names):
            path = Path(root) / name
            if name == "DICOMDIR" or not _is_dicom_file(path):
                continue
            scanned = _read_header(path)
            uid = str(scanned.header.SeriesInstanceUID)
            groups.setdefault(uid, []).append(path)
            headers.setdefault(uid, []).append(scanned)
    series = []
    for uid, files in groups.items():
        first = headers[uid][0].header
        modality = str(first.get("Modality", ""))
        description = str(first.get("SeriesDescription", ""))
        series.append(SeriesInfo(uid, modality, description, tuple(files), tuple(headers[uid])))
    return series


def select_series(
    series: Sequence[SeriesInfo],
    *,
    where: Path,
    modality: str | None = None,
    series_instance_uid: str | None = None,
    modalities: Iterable[str] = IMAGE_MODALITIES,
) -> SeriesInfo:
    """The one series matching the filters, or :class:`ImageError` listing the candidates."""
    allowed = set(modalities)
    candidates = [s for s in series if s.modality in allowed]
    if modality is not None:
        candidates = [s for s in candidates if s.modality == modality.upper()]
    if series_instance_uid is not None:
        candidates = [s for s in candidates if s.series_instance_uid == series_instance_uid]
    if len(candidates) == 1:
        return candidates[0]
    listing = "; ".join(s.describe() for s in series) or "no DICOM files"
    wanted = sorted(allowed) if modality is None else [modality.upper()]
    if not candidates:
        raise ImageError(
            f"{where}: no {'/'.join(wanted)} series"
            + (f" with SeriesInstanceUID {series_instance_uid}" if series_instance_uid else "")
            + f"; found: {listing}"
        )
    raise ImageError(
        f"{where}: {len(candidates)} series match; choose one with modality= or "
        f"series_instance_uid=: {listing}"
    )


def _floats(value: Any, count: int, what: str, path: Path) -> npt.NDArray[np.float64]:
    try:
        array = np.asarray([float(v) for v in value], dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ImageError(f"{path}: {what} is missing or not numeric ({value!r})") from error
    if array.size != count:
        raise ImageError(f"{path}: {what} has {array.size} values, expected {count}")
    return array


def _plane(ds: Dataset, keyword: str) -> Any:
    """``keyword`` from the top level, else from DetectorInformationSequence[0] (NM)."""
    value = ds.get(keyword)
    if value is None and ds.get("DetectorInformationSequence"):
        value = ds.DetectorInformationSequence[0].get(keyword)
    return value


def _orientation(ds: Dataset, path: Path) -> npt.NDArray[np.float64]:
    """3x3 matrix with columns row direction, column direction, normal."""
    iop = _floats(_plane(ds, "ImageOrientationPatient"), 6, "ImageOrientationPatient", path)
    row, col = iop[:3], iop[3:]
    if not (
        np.isclose(np.linalg.norm(row), 1, atol=1e-3)
        and np.isclose(np.linalg.norm(col), 1, atol=1e-3)
    ):
        raise ImageError(f"{path}: ImageOrientationPatient {iop.tolist()} is not two unit vectors")
    row, col = row / np.linalg.norm(row), col / np.linalg.norm(col)
    if abs(float(row @ col)) > 1e-3:
        raise ImageError(f"{path}: ImageOrientationPatient {iop.tolist()} is not orthogonal")
    normal = np.cross(row, col)
    normal /= np.linalg.norm(normal)
    # Re-orthogonalise the column vector so that the matrix is exactly orthonormal.
    col = np.cross(normal, row)
    return np.column_stack([row, col, normal])


def _pixel_spacing(ds: Dataset, path: Path) -> tuple[float, float]:
    """(spacing along i, spacing along j) from PixelSpacing = (row spacing, column spacing)."""
    spacing = _floats(ds.get("PixelSpacing"), 2, "PixelSpacing", path)
    if np.any(spacing <= 0):
        raise ImageError(f"{path}: PixelSpacing {spacing.tolist()} must be > 0 mm")
    return float(spacing[1]), float(spacing[0])


def _rescale(ds: Dataset) -> tuple[float, float, bool]:
    slope = ds.get("RescaleSlope")
    intercept = ds.get("RescaleIntercept")
    if slope is None and intercept is None:
        return 1.0, 0.0, False
    return float(slope if slope is not None else 1.0), float(intercept or 0.0), True


def _pixels(ds: Dataset, path: Path) -> npt.NDArray[Any]:
    try:
        return ds.pixel_array
    except Exception as error:  # pydicom raises many kinds for bad or compressed data
        raise ImageError(f"cannot decode the pixel data of {path}: {error}") from error


def _str_or_none(value: Any) -> str | None:
    return None if value is None or str(value) == "" else str(value)


def _simple(value: Any) -> Any:
    if isinstance(value, pydicom.multival.MultiValue):
        return [_simple(v) for v in value]
    if isinstance(value, (int, float, str)):
        return value
    return str(value)


def _collect(ds: Dataset, keywords: Iterable[str]) -> dict[str, Any]:
    return {k: _simple(ds.get(k)) for k in keywords if ds.get(k) not in (None, "")}


def _metadata(ds: Dataset, path: Path) -> dict[str, Any]:
    meta = _collect(ds, _METADATA_KEYWORDS)
    meta["source_path"] = str(path)
    radiopharm = ds.get("RadiopharmaceuticalInformationSequence")
    if radiopharm:
        item = radiopharm[0]
        meta["radiopharmaceutical"] = _collect(item, _RADIOPHARMACEUTICAL_KEYWORDS)
        codes = item.get("RadionuclideCodeSequence")
        if codes:
            meta["radiopharmaceutical"]["RadionuclideCodeMeaning"] = str(
                codes[0].get("CodeMeaning", "")
            )
    return meta


def _units(ds: Dataset) -> str | None:
    modality = str(ds.get("Modality", ""))
    if modality == "CT":
        return "HU"
    if modality == "RTDOSE":
        return str(ds.get("DoseUnits", "GY")).upper()
    units = _str_or_none(ds.get("Units"))
    if units is None and modality == "NM":
        return "CNTS"
    return units


def _common_fields(ds: Dataset, path: Path) -> dict[str, Any]:
    return {
        "frame_of_reference_uid": _str_or_none(ds.get("FrameOfReferenceUID")),
        "modality": _str_or_none(ds.get("Modality")),
        "units": _units(ds),
        "study_instance_uid": _str_or_none(ds.get("StudyInstanceUID")),
        "series_instance_uid": _str_or_none(ds.get("SeriesInstanceUID")),
        "sop_class_uid": _str_or_none(ds.get("SOPClassUID")),
        "patient_study": {k: str(ds.get(k)) for k in PATIENT_STUDY_KEYWORDS if k in ds},
    }


def _slice_axis(
    positions_mm: npt.NDArray[np.float64], normal: npt.NDArray[np.float64], where: str
) -> tuple[npt.NDArray[np.intp], float]:
    """Sort order of slice positions along ``normal`` and their uniform spacing (mm)."""
    along = positions_mm @ normal
    order = np.argsort(along, kind="stable")
    sorted_along = along[order]
    if len(order) == 1:
        return order, 0.0
    steps = np.diff(sorted_along)
    if np.any(steps < SLICE_SPACING_TOLERANCE_MM):
        duplicate = float(sorted_along[1:][steps < SLICE_SPACING_TOLERANCE_MM][0])
        raise ImageError(
            f"{where}: two slices at the same position ({duplicate:.3f} mm along the normal); "
            "the series holds several volumes (time frames, gates or energy windows) and "
            "is not one 3-D image"
        )
    spacing = float(sorted_along[-1] - sorted_along[0]) / (len(order) - 1)
    residual = np.abs(sorted_along - (sorted_along[0] + spacing * np.arange(len(order))))
    tolerance = max(SLICE_POSITION_TOLERANCE_MM, 0.01 * spacing)
    if float(residual.max()) > tolerance:
        raise ImageError(
            f"{where}: slice spacing is not uniform ({steps.min():.4f} to {steps.max():.4f} mm;"
            f" a slice lies {float(residual.max()):.3f} mm off the uniform grid, allowed "
            f"{tolerance:.3f} mm): missing or irregular slices"
        )
    offsets = positions_mm[order] - positions_mm[order[0]]
    lateral = offsets - np.outer(offsets @ normal, normal)
    if float(np.abs(lateral).max()) > SLICE_ALIGNMENT_TOLERANCE_MM:
        raise ImageError(
            f"{where}: slice positions drift {float(np.abs(lateral).max()):.3f} mm sideways "
            "(gantry tilt or sheared grid), which a rectilinear grid cannot represent"
        )
    return order, spacing


_PIXEL_DATA_KEYWORDS = {
    0x7FE00010: "PixelData",
    0x7FE00008: "FloatPixelData",
    0x7FE00009: "DoubleFloatPixelData",
}


def _pixel_element(scanned: ScannedHeader, path: Path) -> tuple[str, bytes, str]:
    """The native pixel data (keyword, value, VR) at the offset the scan checked."""
    at = scanned.pixel_data_at
    if at is None:
        raise ImageError(f"DICOM file {path}: no native pixel data offset")
    try:
        with path.open("rb") as handle:
            handle.seek(at)
            head = handle.read(12)
            tag, length, header_bytes = _element_header(head, scanned.header, path)
            handle.seek(at + header_bytes)
            value = handle.read(length)
    except (OSError, struct.error) as error:
        raise ImageError(f"cannot read the pixel data of DICOM file {path}: {error}") from None
    if tag not in _PIXEL_DATA_KEYWORDS or len(value) != length:
        raise ImageError(f"DICOM file {path} changed while it was read: read it again")
    keyword = _PIXEL_DATA_KEYWORDS[tag]
    if not scanned.header.file_meta.TransferSyntaxUID.is_implicit_VR:
        vr = head[4:6].decode("ascii", "replace")
    elif keyword == "PixelData":  # as pydicom resolves "OB or OW" (PS3.5 A.1)
        vr = "OW" if int(scanned.header.get("BitsAllocated") or 8) > 8 else "OB"
    else:
        vr = "OF" if keyword == "FloatPixelData" else "OD"
    return keyword, value, vr


def _plain_frame(header: Dataset, keyword: str, value: bytes) -> npt.NDArray[Any] | None:
    """One native frame read by numpy, in the plain case where that is all pydicom does:
    one grey sample per pixel, one frame, BitsStored = BitsAllocated of 8, 16 or 32;
    otherwise None (pydicom decodes it)."""
    if keyword != "PixelData":
        return None
    try:
        rows, columns = int(header.Rows), int(header.Columns)
        bits = int(header.BitsAllocated)
        plain = (
            int(header.get("BitsStored") or bits) == bits
            and bits in (8, 16, 32)
            and int(header.get("SamplesPerPixel") or 1) == 1
            and int(header.get("NumberOfFrames") or 1) == 1
            and str(header.get("PhotometricInterpretation", "")) in ("MONOCHROME1", "MONOCHROME2")
        )
        signed = int(header.get("PixelRepresentation") or 0) == 1
    except (AttributeError, TypeError, ValueError):
        return None
    order = "<" if header.file_meta.TransferSyntaxUID.is_little_endian else ">"
    dtype = np.dtype(f"{order}{'i' if signed else 'u'}{bits // 8}")
    if not plain or len(value) < rows * columns * dtype.itemsize:
        return None
    return np.frombuffer(value, dtype=dtype, count=rows * columns).reshape(rows, columns)


def _slice_pixels(scanned: ScannedHeader, path: Path) -> npt.NDArray[Any]:
    """The decoded pixels of one file, its file parsed once: the scanned header and, for
    native data, the pixel data read at its offset (else the whole file parsed)."""
    if scanned.pixel_data_at is None:
        return _pixels(read_dataset(path), path)
    keyword, value, vr = _pixel_element(scanned, path)
    header = scanned.header
    plain = _plain_frame(header, keyword, value)
    if plain is not None:
        return plain
    setattr(header, keyword, value)
    header[keyword].VR = vr
    try:
        return _pixels(header, path)
    finally:
        delattr(header, keyword)  # the header is kept small; the array holds its own data


def read_single_frame_series(
    files: Sequence[Path], *, where: Path, headers: Sequence[ScannedHeader] | None = None
) -> Image:
    """Stack single-frame CT/PT/NM files into one volume.

    ``headers`` are the files' headers from :func:`scan_folder` (read here when not given):
    each file is parsed once, its pixel data read at its offset and decoded slice by slice.

    Raises
    ------
    ImageError
        If files disagree on size or orientation, slices are missing or duplicated, the
        spacing is irregular, or a file cannot be read (the message names it).
    """
    scanned = list(headers) if headers is not None else [_read_header(f) for f in files[:1]]
    header = scanned[0].header
    check_voxel_count(
        (int(header.get("Columns") or 0), int(header.get("Rows") or 0), len(files)),
        f"{where} (series {header.get('SeriesInstanceUID', '?')})",
    )
    if headers is None:
        scanned += [_read_header(path) for path in files[1:]]
    datasets = [item.header for item in scanned]
    first, first_path = datasets[0], files[0]
    orientation = _orientation(first, first_path)
    spacing_i, spacing_j = _pixel_spacing(first, first_path)
    rows, cols = int(first.Rows), int(first.Columns)
    for ds, path in zip(datasets, files, strict=True):
        if int(ds.Rows) != rows or int(ds.Columns) != cols:
            raise ImageError(f"{path}: {ds.Rows}x{ds.Columns} pixels, the series has {rows}x{cols}")
        if not np.allclose(_orientation(ds, path), orientation, atol=1e-4):
            raise ImageError(f"{path}: ImageOrientationPatient differs from {first_path}")
    positions = np.stack(
        [
            _floats(_plane(ds, "ImagePositionPatient"), 3, "ImagePositionPatient", p)
            for ds, p in zip(datasets, files, strict=True)
        ]
    )
    order, spacing_k = _slice_axis(positions, orientation[:, 2], str(where))
    if spacing_k == 0.0:
        spacing_k = float(first.get("SpacingBetweenSlices") or first.get("SliceThickness") or 1.0)
    modality = str(first.get("Modality", ""))
    dtype = np.float32 if modality == "CT" else np.float64
    volume = np.empty((len(files), rows, cols), dtype=dtype)
    rescaled = False
    decay_factors: list[float] = []
    for k, index in enumerate(order):
        ds = datasets[index]
        slope, intercept, has_rescale = _rescale(ds)
        rescaled = rescaled or has_rescale
        pixels = _slice_pixels(scanned[index], files[index])
        if pixels.ndim != 2:
            raise ImageError(f"{files[index]}: expected one frame, found shape {pixels.shape}")
        volume[k] = pixels.astype(np.float64) * slope + intercept
        if "DecayFactor" in ds:
            decay_factors.append(float(ds.DecayFactor))
    first_sorted = datasets[order[0]]
    metadata = _metadata(first_sorted, files[order[0]])
    metadata["source_path"] = str(where)
    if decay_factors:
        metadata["DecayFactor"] = decay_factors
    acquisition_times = sorted(
        str(ds.AcquisitionTime) for ds in datasets if ds.get("AcquisitionTime")
    )
    if acquisition_times:
        metadata["AcquisitionTime"] = acquisition_times[0]
    return Image(
        volume,
        origin_mm=tuple(positions[order[0]]),
        spacing_mm=(spacing_i, spacing_j, spacing_k),
        direction=orientation,
        rescale_applied=rescaled,
        sop_instance_uids=tuple(str(datasets[i].SOPInstanceUID) for i in order),
        metadata=metadata,
        **_common_fields(first_sorted, files[order[0]]),
    )


def _functional(ds: Dataset, frame: int, sequence: str, keyword: str) -> Any:
    """An attribute from the per-frame functional group of ``frame``, else the shared one."""
    for groups_keyword, index in (
        ("PerFrameFunctionalGroupsSequence", frame),
        ("SharedFunctionalGroupsSequence", 0),
    ):
        groups = ds.get(groups_keyword)
        if groups and len(groups) > index:
            items = groups[index].get(sequence)
            if items and keyword in items[0]:
                return items[0].get(keyword)
    return None


def _thickness(ds: Dataset) -> float:
    """Slice spacing of a one-slice volume: SpacingBetweenSlices, SliceThickness, or 1 mm."""
    for keyword in ("SpacingBetweenSlices", "SliceThickness"):
        value = ds.get(keyword)
        if value not in (None, "") and float(value) != 0:
            return abs(float(value))
    return 1.0


def read_multiframe(path: Path, ds: Dataset | None = None) -> Image:
    """Read a multi-frame volume: NM tomographic reconstruction, RTDOSE, enhanced CT/PT.

    Raises
    ------
    ImageError
        If the geometry cannot be established (missing orientation, position or slice
        spacing), the object is planar or gated NM, or the pixels cannot be decoded.
    """
    header = ds if ds is not None else read_dataset(path, header_only=True)
    check_voxel_count(
        (
            int(header.get("Columns") or 0),
            int(header.get("Rows") or 0),
            int(header.get("NumberOfFrames", 1) or 1),
        ),
        str(path),
    )
    ds = header if "PixelData" in header else read_dataset(path)
    modality = str(ds.get("Modality", ""))
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    image_type = [str(v).upper() for v in ds.get("ImageType", [])]
    if modality == "NM":
        kind = image_type[2] if len(image_type) > 2 else ""
        shown_type = "\\".join(image_type)
        # "TOMO" alone is the projection data of a tomographic acquisition, not a volume
        if kind and kind != "RECON TOMO":
            raise ImageError(
                f"{path}: NM ImageType {shown_type} is not a reconstructed "
                "tomographic volume (expected RECON TOMO); planar, dynamic and gated NM "
                "images are not 3-D dose inputs"
            )
        pointers = ds.get("FrameIncrementPointer")
        pointer_list = (
            []
            if pointers is None
            else [pointers]
            if not isinstance(pointers, Sequence)
            else list(pointers)
        )
        names = [pydicom.datadict.keyword_for_tag(p) for p in pointer_list]
        extra = [n for n in names if n not in ("SliceVector",)]
        if extra and frames > 1:
            vector_lengths = {n: len(set(ds.get(n, []))) for n in extra}
            if any(length > 1 for length in vector_lengths.values()):
                raise ImageError(
                    f"{path}: frames are indexed by {names} with several values of "
                    f"{[n for n, v in vector_lengths.items() if v > 1]}; only one tomographic "
                    "volume per file is supported"
                )

    orientation_source: Dataset = ds
    detector = ds.get("DetectorInformationSequence")
    if "ImageOrientationPatient" not in ds and detector:
        orientation_source = detector[0]
    iop = orientation_source.get("ImageOrientationPatient") or _functional(
        ds, 0, "PlaneOrientationSequence", "ImageOrientationPatient"
    )
    if iop is None:
        raise ImageError(
            f"{path}: no ImageOrientationPatient (top level, DetectorInformationSequence or "
            "PlaneOrientationSequence); the volume cannot be placed in patient space"
        )
    holder = Dataset()
    holder.ImageOrientationPatient = iop
    orientation = _orientation(holder, path)
    spacing_source = ds if "PixelSpacing" in ds else None
    pixel_spacing = (
        ds.get("PixelSpacing")
        if spacing_source is not None
        else _functional(ds, 0, "PixelMeasuresSequence", "PixelSpacing")
    )
    holder.PixelSpacing = pixel_spacing
    spacing_i, spacing_j = _pixel_spacing(holder, path)

    per_frame_positions = [
        _functional(ds, f, "PlanePositionSequence", "ImagePositionPatient") for f in range(frames)
    ]
    normal = orientation[:, 2]
    if all(p is not None for p in per_frame_positions) and ds.get(
        "PerFrameFunctionalGroupsSequence"
    ):
        positions = np.stack(
            [_floats(p, 3, "ImagePositionPatient", path) for p in per_frame_positions]
        )
        order, spacing_k = _slice_axis(positions, normal, str(path))
        origin = positions[order[0]]
    else:
        ipp = orientation_source.get("ImagePositionPatient") or ds.get("ImagePositionPatient")
        if ipp is None:
            raise ImageError(f"{path}: no ImagePositionPatient for the first frame")
        origin = _floats(ipp, 3, "ImagePositionPatient", path)
        if modality == "RTDOSE":
            offsets = _floats(
                ds.get("GridFrameOffsetVector"), frames, "GridFrameOffsetVector", path
            )
            # PS3.3 C.8.8.3.2: relative offsets start at 0; the absolute form (first value =
            # the z of ImagePositionPatient, axial only) gives the same after subtraction.
            offsets = offsets - offsets[0]
            positions = origin + np.outer(offsets, normal)
            order, spacing_k = _slice_axis(positions, normal, str(path))
            origin = positions[order[0]]
        else:
            step = ds.get("SpacingBetweenSlices") or ds.get("SliceThickness")
            if step is None and frames > 1:
                raise ImageError(
                    f"{path}: neither SpacingBetweenSlices nor SliceThickness is present; the "
                    "distance between frames is unknown"
                )
            step_mm = float(step) if step is not None else 1.0
            if step_mm == 0:
                raise ImageError(f"{path}: SpacingBetweenSlices is 0 mm")
            order = np.arange(frames)
            spacing_k = abs(step_mm)
            if step_mm < 0:  # frames advance against the normal: store them reversed
                order = order[::-1]
                origin = origin + normal * step_mm * (frames - 1)

    pixels = _pixels(ds, path)
    if frames == 1:
        pixels = pixels[np.newaxis]
    if pixels.shape[0] != frames or pixels.ndim != 3:
        raise ImageError(f"{path}: pixel data shape {pixels.shape} does not hold {frames} frames")
    volume = pixels.astype(np.float64)
    rescaled = False
    if modality == "RTDOSE":
        scaling = ds.get("DoseGridScaling")
        if scaling is None:
            raise ImageError(f"{path}: RTDOSE without DoseGridScaling")
        volume *= float(scaling)
        rescaled = True
    else:
        slope, intercept, rescaled = _rescale(ds)
        per_frame = [
            (
                _functional(ds, f, "PixelValueTransformationSequence", "RescaleSlope"),
                _functional(ds, f, "PixelValueTransformationSequence", "RescaleIntercept"),
            )
            for f in range(frames)
        ]
        if any(s is not None for s, _ in per_frame):
            slopes = np.asarray([float(s) if s is not None else slope for s, _ in per_frame])
            intercepts = np.asarray(
                [float(i) if i is not None else intercept for _, i in per_frame]
            )
            volume = volume * slopes[:, None, None] + intercepts[:, None, None]
            rescaled = True
        else:
            volume = volume * slope + intercept
    volume = volume[order]
    return Image(
        volume,
        origin_mm=tuple(origin),
        spacing_mm=(spacing_i, spacing_j, spacing_k if spacing_k > 0 else _thickness(ds)),
        direction=orientation,
        rescale_applied=rescaled,
        sop_instance_uids=(str(ds.SOPInstanceUID),) if "SOPInstanceUID" in ds else (),
        metadata=_metadata(ds, path),
        **_common_fields(ds, path),
    )


def read_series(info: SeriesInfo, *, where: Path) -> Image:
    """The volume of one series :func:`scan_folder` found (its headers are not read again).

    Raises
    ------
    ImageError
        As :func:`read_dicom`.
    """
    files = info.files
    headers = info.headers if len(info.headers) == len(files) else None
    if len(files) == 1:
        return read_multiframe(files[0], headers[0].header if headers else None)
    first = headers[0].header if headers else read_dataset(files[0], header_only=True)
    if int(first.get("NumberOfFrames", 1) or 1) > 1:
        raise ImageError(
            f"{where}: series {info.series_instance_uid} has {len(files)} multi-frame files; "
            "pass one file"
        )
    return read_single_frame_series(files, where=where, headers=headers)


def read_dicom(
    path: Path, *, modality: str | None = None, series_instance_uid: str | None = None
) -> Image:
    """Read a DICOM volume from a folder (one series is chosen) or from one file.

    Parameters
    ----------
    path
        A folder searched recursively, or one DICOM file (multi-frame NM, RTDOSE, or one
        slice).
    modality, series_instance_uid
        Which series to take when the folder holds several.

    Raises
    ------
    ImageError
        If nothing or more than one series matches (all are listed), or a file is bad.
    """
    if path.is_dir():
        info = select_series(
            scan_folder(path),
            where=path,
            modality=modality,
            series_instance_uid=series_instance_uid,
        )
        return read_series(info, where=path)
    ds = read_dicom_header(path)
    found = str(ds.get("Modality", ""))
    if modality is not None and found != modality.upper():
        raise ImageError(f"{path}: Modality is {found!r}, not the requested {modality.upper()!r}")
    if found not in IMAGE_MODALITIES:
        raise ImageError(
            f"{path}: Modality {found!r} is not an image volume (expected one of "
            f"{sorted(IMAGE_MODALITIES)})"
        )
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1 or found in ("NM", "RTDOSE") or "PerFrameFunctionalGroupsSequence" in ds:
        return read_multiframe(path, ds)
    return read_single_frame_series([path], where=path)
