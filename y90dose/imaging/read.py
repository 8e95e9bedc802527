"""One entry point to read an image volume from DICOM, NIfTI, NRRD or MetaImage.

Examples
--------
>>> from y90dose.imaging import read_image
>>> ct = read_image("study/CT", modality="CT")  # doctest: +SKIP
>>> ct.units, ct.spacing_mm  # doctest: +SKIP
('HU', (0.98, 0.98, 3.27))
"""

from __future__ import annotations

from pathlib import Path

import SimpleITK as sitk  # noqa: N813

from y90dose.errors import ImageError, InputError
from y90dose.imaging.dicom_series import read_dicom
from y90dose.imaging.image import Image

#: File name endings read through SimpleITK (NIfTI, NRRD, MetaImage).
SITK_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")


def is_sitk_file(path: Path) -> bool:
    """True when the file name ends in one of :data:`SITK_SUFFIXES`."""
    return path.name.lower().endswith(SITK_SUFFIXES)


def read_sitk_file(path: Path, *, units: str | None = None, modality: str | None = None) -> Image:
    """Read a NIfTI/NRRD/MHA file with SimpleITK (geometry in LPS, as SimpleITK reports it).

    Raises
    ------
    ImageError
        If SimpleITK cannot read it or it is not a 3-D scalar image.
    """
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as error:
        raise ImageError(f"cannot read image file {path}: {str(error).strip()}") from error
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
