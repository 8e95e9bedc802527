"""One entry point to read an image volume from DICOM, NIfTI, NRRD or MetaImage.

Examples
--------
>>> from y90dose.imaging import read_image
>>> ct = read_image("study/CT", modality="CT")  # doctest: +SKIP
>>> ct.units, ct.spacing_mm  # doctest: +SKIP
('HU', (0.98, 0.98, 3.27))
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

import SimpleITK as sitk  # noqa: N813

from y90dose.errors import ImageError, InputError
from y90dose.imaging.dicom_series import read_dicom
from y90dose.imaging.gz import DECOMPRESS_ERRORS, open_gzip
from y90dose.imaging.image import Image
from y90dose.limits import check_voxel_count

#: File name endings read through SimpleITK (NIfTI, NRRD, MetaImage).
SITK_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")


def is_sitk_file(path: Path) -> bool:
    """True when the file name ends in one of :data:`SITK_SUFFIXES`."""
    return path.name.lower().endswith(SITK_SUFFIXES)


def is_utf8_path(path: str | Path) -> bool:
    """False for a name with bytes that are not UTF-8 (Python holds them as surrogates)."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _shown_path(path: str | Path) -> str:
    """``path`` printable, its non-UTF-8 bytes as ``\\xff`` escapes."""
    return str(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def sitk_path(path: str | Path) -> str:
    """``path`` as the string SimpleITK takes.

    SimpleITK converts names to UTF-8 C++ strings; a name that is not valid UTF-8 makes it
    abort the whole process (``std::logic_error``, exit 134), so it is refused here.

    Raises
    ------
    ImageError
        If the name holds bytes that are not UTF-8.
    """
    if not is_utf8_path(path):
        raise ImageError(
            f"{_shown_path(path)}: the name is not valid UTF-8, which SimpleITK cannot open; "
            "rename the file or folder"
        )
    return str(path)


_NIFTI_CHUNK_BYTES = 1 << 20


def _nifti_bytes_needed(header: bytes) -> int | None:
    """vox_offset + voxels x bytes per voxel of a NIfTI-1 or NIfTI-2 header; None if not one."""
    for order in "<>":
        if len(header) >= 348 and struct.unpack_from(order + "i", header)[0] == 348:
            dims = struct.unpack_from(order + "8h", header, 40)
            bitpix = struct.unpack_from(order + "h", header, 72)[0]
            offset = int(struct.unpack_from(order + "f", header, 108)[0])
            break
        if len(header) >= 540 and struct.unpack_from(order + "i", header)[0] == 540:
            dims = struct.unpack_from(order + "8q", header, 16)
            bitpix = struct.unpack_from(order + "h", header, 14)[0]
            offset = struct.unpack_from(order + "q", header, 168)[0]
            break
    else:
        return None
    if not 1 <= dims[0] <= 7:
        return None
    voxels = math.prod(max(int(d), 1) for d in dims[1 : dims[0] + 1])
    return offset + voxels * max(int(bitpix), 8) // 8


def check_nifti_complete(path: Path) -> None:
    """Refuse a NIfTI file shorter than its header says (a truncated copy or download).

    ITK reads the voxels a truncated ``.nii`` or ``.nii.gz`` lacks as zeros without a
    word, which would silently remove activity from a dose calculation.

    Raises
    ------
    ImageError
        If the (decompressed) file holds fewer bytes than the header's voxel data needs,
        or its gzip stream is cut short or corrupt.
    """
    opener = open_gzip if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as stream:
            header = stream.read(540)
            needed = _nifti_bytes_needed(header)
            if needed is None:
                return  # not a NIfTI header: SimpleITK's own error names the file
            size = len(header)
            while size < needed and (chunk := stream.read(_NIFTI_CHUNK_BYTES)):
                size += len(chunk)
    except DECOMPRESS_ERRORS as error:
        raise ImageError(f"cannot read image file {path}: {error} (truncated or corrupt)") from None
    if size < needed:
        raise ImageError(
            f"cannot read image file {path}: it holds {size} bytes where its header needs "
            f"{needed}: the file is truncated (copy it again)"
        )


def read_sitk_header(path: Path) -> sitk.ImageFileReader:
    """A reader of ``path`` that has read the header only (size, spacing, pixel type).

    Raises
    ------
    ImageError
        If SimpleITK cannot read the header, or the image has more voxels than the limit
        in force (:func:`y90dose.limits.max_voxels`).
    """
    reader = sitk.ImageFileReader()
    reader.SetFileName(sitk_path(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as error:
        raise ImageError(f"cannot read image file {path}: {str(error).strip()}") from error
    components = reader.GetNumberOfComponents()
    check_voxel_count((*reader.GetSize(), *((components,) if components > 1 else ())), str(path))
    return reader


def read_sitk_image(path: Path) -> sitk.Image:
    """A NIfTI/NRRD/MHA file as SimpleITK reads it (voxels in their stored type).

    The header is read first: an image past the voxel limit is refused before its pixel
    data is read.

    Raises
    ------
    ImageError
        If SimpleITK cannot read it, it has more voxels than the limit, or a NIfTI file is
        truncated.
    """
    reader = read_sitk_header(path)
    if path.name.lower().endswith((".nii", ".nii.gz")):
        check_nifti_complete(path)
    try:
        image: sitk.Image = reader.Execute()
    except RuntimeError as error:
        raise ImageError(f"cannot read image file {path}: {str(error).strip()}") from error
    return image


def read_sitk_file(path: Path, *, units: str | None = None, modality: str | None = None) -> Image:
    """Read a NIfTI/NRRD/MHA file with SimpleITK (geometry in LPS, as SimpleITK reports it).

    The header is read first: an image past the voxel limit is refused before its pixel
    data is read.

    Raises
    ------
    ImageError
        If SimpleITK cannot read it, it has more voxels than the limit, a NIfTI file is
        truncated, or it is not a 3-D scalar image.
    """
    image = read_sitk_image(path)
    try:
        return Image.from_sitk(
            image, units=units, modality=modality, metadata={"source_path": str(path)}
        )
    except ImageError as error:
        raise ImageError(f"{path}: {error}") from error


def read_image(
    path: str | Path,
    *,
    modality: str | None = None,
    series_instance_uid: str | None = None,
    units: str | None = None,
) -> Image:
    """Read a 3-D image from a DICOM folder or file, or a NIfTI/NRRD/MHA file.

    Parameters
    ----------
    path
        A folder of DICOM files (searched recursively), one DICOM file (multi-frame NM,
        RTDOSE, enhanced), or a ``.nii``/``.nii.gz``/``.nrrd``/``.nhdr``/``.mha``/``.mhd`` file.
    modality
        For DICOM: which modality to take (``"CT"``, ``"PT"``, ``"NM"``, ``"RTDOSE"``) when a
        folder holds several series; for other formats it is recorded as given.
    series_instance_uid
        For DICOM folders: the series to take.
    units
        Units of the values of a non-DICOM file (``"BQML"``, ``"GY"``...), recorded as
        given; DICOM files carry their own and this must then be ``None``.

    Returns
    -------
    Image
        Values rescaled to physical units, geometry in patient (LPS) coordinates.

    Raises
    ------
    ImageError
        If the path does not exist, a file cannot be read (the message names it), or the
        folder holds no or several matching series (the message lists them).
    """
    path = Path(path)
    if not path.exists():
        raise ImageError(f"image path {path} does not exist")
    if path.is_file() and is_sitk_file(path):
        return read_sitk_file(path, units=units, modality=modality)
    if units is not None:
        raise InputError("units", units, "None for DICOM input (DICOM files state their own units)")
    return read_dicom(path, modality=modality, series_instance_uid=series_instance_uid)
