"""Writing volumes (dose maps, masks) as NIfTI, NRRD or MetaImage through SimpleITK.

NIfTI stores no units or DICOM UIDs: the caller keeps them (e.g. in the file name or a
JSON sidecar). SimpleITK converts between its LPS patient coordinates and NIfTI's RAS
qform/sform, so geometry round-trips exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import SimpleITK as sitk  # noqa: N813

from y90dose.errors import ImageError, InputError
from y90dose.imaging.image import Grid, Image
from y90dose.imaging.read import is_sitk_file, sitk_path


def write_image_file(image: Image, path: str | Path, *, dtype: type = np.float32) -> Path:
    """Write ``image`` to ``path`` (format from the suffix: .nii, .nii.gz, .nrrd, .mha).

    Parameters
    ----------
    image
        The volume; values are cast to ``dtype`` (float32 by default, ample for Gy).
    path
        Output file; its parent folder must exist.

    Raises
    ------
    InputError
        If the suffix is not one SimpleITK writes here.
    ImageError
        If writing fails.

    Examples
    --------
    >>> write_image_file(dose, "dose_gy.nii.gz")  # doctest: +SKIP
    """
    path = Path(path)
    if not is_sitk_file(path):
        raise InputError(
            "path", str(path), "a name ending in .nii, .nii.gz, .nrrd, .nhdr, .mha or .mhd"
        )
    out = image.with_array(image.array.astype(dtype)).to_sitk()
    try:
        sitk.WriteImage(out, sitk_path(path), useCompression=path.name.endswith(".gz"))
    except RuntimeError as error:
        raise ImageError(f"cannot write {path}: {str(error).strip()}") from error
    return path


def write_dose_nifti(dose_gy: Image, path: str | Path) -> Path:
    """Write a dose map in Gy as NIfTI (float32).

    Raises
    ------
    InputError
        If ``dose_gy.units`` is set and is not ``"GY"``.
    """
    if dose_gy.units is not None and dose_gy.units.upper() != "GY":
        raise InputError("dose_gy.units", dose_gy.units, "'GY' (a dose map in gray)")
    return write_image_file(dose_gy, path)


def write_mask_file(mask: npt.NDArray[np.bool_], grid: Grid, path: str | Path) -> Path:
    """Write a boolean mask on ``grid`` as a uint8 label file (1 inside, 0 outside)."""
    if mask.shape != grid.shape_zyx:
        raise InputError("mask", f"shape {mask.shape}", f"the grid's shape {grid.shape_zyx}")
    image = Image(mask.astype(np.float32), grid.origin_mm, grid.spacing_mm, grid.direction)
    return write_image_file(image, path, dtype=np.uint8)
