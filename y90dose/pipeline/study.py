"""Step 1 of a voxel run, *load*: the emission image, the CT and the VOIs, in memory.

:func:`load_study` takes paths or images and returns a :class:`VoxelStudy`: the emission
image (its grid is the dose grid), the CT if any, the VOIs on the dose grid and the
scanner's HU -> density curve if one was given. Everything that reads a file happens
here; the computation (:mod:`y90dose.pipeline.voxel_run`) reads none.

Inputs may be

- paths: a DICOM folder or file, or a NIfTI/NRRD/MHA file (:mod:`.inputs`); the VOIs an
  RTSTRUCT, a DICOM SEG or a label map (names from ``roi_names`` or a sidecar);
- SimpleITK images (the emission image's units from ``options.image_units``, counts by
  default; a CT in HU) and, for the VOIs, a mapping of name to a SimpleITK mask image on
  any grid of the same patient space (resampled onto the dose grid by nearest
  neighbour).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from y90dose.errors import ImageError, InputError
from y90dose.imaging.image import Grid, Image
from y90dose.imaging.read import is_sitk_file
from y90dose.imaging.resample import resample_mask
from y90dose.imaging.vois import EmptyVoiError, Vois
from y90dose.limits import check_emission_voxel_count
from y90dose.pipeline.inputs import (
    VoiSource,
    fraction_outside,
    read_ct,
    read_emission_image,
    read_vois,
)
from y90dose.pipeline.options import ImageUnits, VoxelOptions
from y90dose.validation import given_path
from y90dose.voxel.density import HuDensityCurve

if TYPE_CHECKING:
    import SimpleITK as sitk  # noqa: N813 (the usual alias)

ImageInput = Union[str, Path, "sitk.Image", Image]
"""An image as a path, a SimpleITK image or a y90dose :class:`Image`."""
VoiInput = Union[str, Path, Mapping[str, Union["sitk.Image", Image]]]  # noqa: UP007
"""VOIs as a path (RTSTRUCT, SEG, label map) or a mapping of name to a mask image."""


@dataclass(frozen=True)
class VoxelStudy:
    """What a voxel run computes from, read and placed on the dose grid.

    Attributes
    ----------
    spect
        The emission image (SPECT or PET); its grid is the dose grid.
    vois
        The VOIs on the dose grid.
    voi_source
        Where the VOIs came from (for the report).
    ct
        The CT in HU, or ``None``.
    hu_density_curve
        The scanner's HU -> density curve, or ``None`` (the default curve applies).
    """

    spect: Image
    vois: Vois
    voi_source: VoiSource
    ct: Image | None = None
    hu_density_curve: HuDensityCurve | None = None


def _as_image(value: Any, **fields: Any) -> Image | None:
    """``value`` as an Image when it is an image object (not a path), else ``None``."""
    if isinstance(value, Image):
        return value
    if type(value).__name__ == "Image" and hasattr(value, "GetDimension"):  # SimpleITK
        return Image.from_sitk(value, **fields)
    return None


def _path(value: Any, field: str) -> Path:
    """An input that is not an image object, as a path (refused when it is neither)."""
    if not isinstance(value, str | PathLike):
        raise InputError(field, type(value).__name__, "a path or a SimpleITK image")
    return given_path(value, field)


def _emission(spect: ImageInput, image_units: ImageUnits | None) -> Image:
    image = _as_image(spect, modality="NM")
    if image is None:
        return read_emission_image(_path(spect, "spect"), image_units=image_units)
    # an image given in memory: the dose grid's memory is still ahead (x, y, z shown)
    check_emission_voxel_count(image.array.shape[::-1], "spect (the image given)")
    if image_units is not None:
        return image.with_array(
            image.array, units="BQML" if image_units is ImageUnits.BQML else "CNTS"
        )
    return image


def _ct(ct: ImageInput | None, spect: Image) -> Image | None:
    if ct is None:
        return None
    image = _as_image(ct, units="HU", modality="CT")
    if image is None:
        image = read_ct(_path(ct, "ct"))
    if (
        spect.frame_of_reference_uid is not None
        and image.frame_of_reference_uid is not None
        and spect.frame_of_reference_uid != image.frame_of_reference_uid
    ):
        raise ImageError(
            f"{image.metadata.get('source_path', '')}: FrameOfReferenceUID "
            f"{image.frame_of_reference_uid} differs from that of the emission image "
            f"{spect.metadata.get('source_path', '')} ({spect.frame_of_reference_uid}); the "
            "SPECT and CT must be registered (same frame of reference)",
            field="ct",
        )
    return image


def _mask_vois(masks: Mapping[str, Any], grid: Grid, *, allow_partial: bool) -> Vois:
    """Mask images (any grid, same patient space) as VOIs on ``grid``."""
    if not masks:
        raise InputError("vois", {}, "one or more name -> mask image entries")
    on_grid = {}
    for name, value in masks.items():
        image = _as_image(value)
        if image is None or not isinstance(name, str) or not name:
            raise InputError(
                "vois", name, "a mapping of VOI names to SimpleITK mask images (or a path)"
            )
        mask = np.asarray(image.array) > 0.5
        if not mask.any():
            raise EmptyVoiError(f"{name!r}: the mask has no voxel", field="vois")
        source = Grid(
            mask.shape,
            image.origin_mm,
            image.spacing_mm,
            image.direction,
            grid.frame_of_reference_uid,
        )
        outside = fraction_outside(mask, source, grid)
        if outside > 0.0 and not allow_partial:
            raise EmptyVoiError(
                f"{name!r}: the VOI extends outside the emission image ({100 * outside:.1f} % "
                "of its voxels); crop it or set allow_partial_vois",
                field="vois",
            )
        resampled = resample_mask(mask, source, grid)
        if not resampled.any():
            raise EmptyVoiError(f"{name!r}: the VOI has no voxel on the dose grid", field="vois")
        on_grid[name] = resampled
    return Vois(grid, on_grid)


def load_study(
    spect: ImageInput,
    vois: VoiInput,
    *,
    ct: ImageInput | None = None,
    roi_names: str | Mapping[Any, Any] | None = None,
    options: VoxelOptions | None = None,
) -> VoxelStudy:
    """Read (or take) the emission image, the CT and the VOIs; VOIs on the dose grid.

    Parameters
    ----------
    spect
        Emission image: a path (DICOM folder or file, NIfTI/NRRD/MHA) or an image.
    vois
        A path (RTSTRUCT, SEG, label map; a folder holding one) or a mapping of VOI name
        to mask image.
    ct
        CT in HU (path or image), optional.
    roi_names
        Label -> name of a label map (JSON text, JSON file, or mapping); or the ROIs to
        take from an RTSTRUCT.
    options
        The run's options: ``image_units``, ``allow_partial_vois`` and
        ``hu_density_curve`` (read here) are used.

    Raises
    ------
    InputError, ImageError
        A missing or unreadable input, named by its field (``spect``, ``ct``, ``vois``,
        ``roi_names``, ``hu_density_curve``).
    """
    options = options or VoxelOptions()
    emission = _emission(spect, options.image_units)
    ct_image = _ct(ct, emission)
    if isinstance(vois, Mapping):
        if roi_names is not None:
            raise InputError(
                "roi_names", roi_names, "no names with VOI mask images (they are named already)"
            )
        voi_masks = _mask_vois(vois, emission.grid, allow_partial=options.allow_partial_vois)
        source = VoiSource("(mask images)", "masks", tuple(voi_masks))
    else:
        voi_masks, source = read_vois(
            vois, emission.grid, roi_names=roi_names, allow_partial=options.allow_partial_vois
        )
    curve = (
        None
        if options.hu_density_curve is None
        else HuDensityCurve.from_csv(options.hu_density_curve)
    )
    return VoxelStudy(emission, voi_masks, source, ct_image, curve)


@dataclass(frozen=True)
class StudyFiles:
    """The inputs :func:`find_study_inputs` found in a study folder."""

    spect: Path
    vois: Path
    ct: Path | None = None
    roi_names: str | None = None

    def to_dict(self) -> dict[str, str]:
        """The paths found, keyed ``spect_path``, ``rois_path``, ``ct_path``, ``roi_names``."""
        found = {"spect_path": str(self.spect), "rois_path": str(self.vois)}
        if self.ct is not None:
            found["ct_path"] = str(self.ct)
        if self.roi_names is not None:
            found["roi_names"] = self.roi_names
        return found


def _inside(folder: Path, relative: Any) -> Path:
    """``folder / relative``, refusing a path that leaves the folder."""
    path = (folder / str(relative)).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise InputError("study", str(relative), "a path inside the study folder")
    return path


def _manifest(folder: Path) -> dict[str, Any]:
    path = folder / "study.json"
    if not path.is_file():
        return {}
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError("study", str(path), f"valid JSON ({exc})") from None
    return loaded if isinstance(loaded, dict) else {}


def _label_map(folder: Path, manifest: Mapping[str, Any], images: list[Path]) -> Path | None:
    if manifest.get("labels"):
        return _inside(folder, manifest["labels"])
    hints = ("label", "mask", "seg", "voi", "roi")
    candidates = [p for p in images if any(h in p.name.lower() for h in hints)]
    if len(candidates) > 1:
        raise InputError(
            "study",
            [p.name for p in candidates],
            "one label map whose name contains label/mask/seg/voi/roi, or study.json",
        )
    return candidates[0] if candidates else None


def _dicom_study(folder: Path, modalities: set[str], labels: Path | None) -> StudyFiles:
    if modalities & {"RTSTRUCT", "SEG"}:
        vois = folder
    elif labels is not None:
        vois = labels
    else:
        raise InputError(
            "study", str(folder), "a study with an RTSTRUCT or a label map (or a DICOM SEG)"
        )
    return StudyFiles(folder, vois, folder if "CT" in modalities else None)


def _image_study(
    folder: Path, manifest: Mapping[str, Any], images: list[Path], labels: Path | None
) -> StudyFiles:
    if not images:
        raise InputError(
            "study",
            str(folder),
            "a study with an emission image (NM/PT DICOM series or NIfTI) and an RTSTRUCT "
            "or a label map (or a DICOM SEG)",
        )
    if labels is None:
        raise InputError(
            "study",
            [p.name for p in images],
            "a label map whose name contains label/mask/seg/voi/roi, or study.json",
        )
    ct = _inside(folder, manifest["ct"]) if manifest.get("ct") else None
    if manifest.get("image"):
        return StudyFiles(_inside(folder, manifest["image"]), labels, ct)
    others = [
        p for p in images if p.resolve() != labels.resolve() and (ct is None or p.resolve() != ct)
    ]
    if len(others) != 1:
        raise InputError("study", [p.name for p in others], "one image besides the label map")
    return StudyFiles(others[0], labels, ct)


def find_study_inputs(folder: Path) -> StudyFiles:
    """The emission image, CT, VOIs and label names of a study folder.

    - DICOM: the emission image is the folder's one NM or PT series, the CT its CT series
      (if any), the VOIs its one RTSTRUCT or SEG, or else a NIfTI label map in the folder.
    - NIfTI only: ``study.json`` may name ``{"image": ..., "labels": ..., "ct": ...}``;
      otherwise the label map is the file whose name contains ``label``, ``mask``,
      ``seg``, ``voi`` or ``roi`` and the image the other one.

    Label names come from ``names.json`` (or a sidecar of the label map).

    Raises
    ------
    InputError
        (``study``) when the folder does not hold a usable study.
    """
    if not folder.is_dir():
        raise InputError("study", str(folder), "a study folder (or pass the VOIs)")
    manifest = _manifest(folder)
    images = sorted(p for p in folder.rglob("*") if p.is_file() and is_sitk_file(p))
    labels = _label_map(folder, manifest, images)

    from y90dose.imaging.dicom_series import scan_folder

    modalities = {s.modality for s in scan_folder(folder)}
    if modalities & {"NM", "PT"}:
        found = _dicom_study(folder, modalities, labels)
    else:
        found = _image_study(folder, manifest, images, labels)
    names = folder / "names.json"
    if names.is_file():
        return StudyFiles(found.spect, found.vois, found.ct, str(names))
    return found
