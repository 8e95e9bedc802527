"""Reading the pipeline's inputs: the emission image, the CT and the volumes of interest.

Every failure is a domain error naming the file and the input it was given as (``spect``,
``ct``, ``vois``, ``roi_names``...), so that the CLI prints one line naming its option
and the service one problem.

VOIs come from

- a DICOM RTSTRUCT file (contours rasterised onto the dose grid by voxel-centre
  inclusion, :func:`y90dose.imaging.rtstruct.read_rtstruct`), or a DICOM SEG
  (:func:`y90dose.imaging.seg.read_seg`);
- a label map (NIfTI, NRRD or MHA integer image; 0 is background) with a name for each
  label, given as a JSON object ``{"1": "liver", "2": "tumor1"}`` on the command line, in
  a JSON file, or in a sidecar next to the label map (``<name>.json`` or ``names.json``).
  The label map is resampled onto the dose grid by nearest neighbour.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk  # noqa: N813
from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_partial

from y90dose.errors import ImageError, InputError
from y90dose.imaging.dicom_series import read_series, scan_folder
from y90dose.imaging.image import Grid, Image
from y90dose.imaging.read import (
    SITK_SUFFIXES,
    is_sitk_file,
    read_image,
    read_sitk_file,
    read_sitk_image,
)
from y90dose.imaging.resample import resample_labels
from y90dose.imaging.rtstruct import read_rtstruct
from y90dose.imaging.seg import read_seg
from y90dose.imaging.vois import EmptyVoiError, Vois
from y90dose.limits import reading_emission
from y90dose.validation import given_path

#: Modalities accepted as the emission image (SPECT as NM, PET or quantitative SPECT as PT).
EMISSION_MODALITIES = ("NM", "PT")

#: ``image_units`` values: relative counts, or activity concentration in Bq/mL.
IMAGE_UNITS = ("counts", "bqml")


def _require_exists(path: Path, option: str) -> None:
    if not path.exists():
        raise InputError(option, str(path), "an existing DICOM folder or image file")


def read_emission_image(path: str | Path, *, image_units: str | None = None) -> Image:
    """The SPECT or PET image: a DICOM folder (its one NM or PT series) or an image file.

    Parameters
    ----------
    path
        DICOM folder, DICOM file (multi-frame NM) or NIfTI/NRRD/MHA file.
    image_units
        ``"counts"`` or ``"bqml"`` (Bq/mL): overrides what the file states (DICOM Units)
        and is required knowledge for non-DICOM files (default there: counts).

    Raises
    ------
    InputError
        Missing path or unknown ``image_units``.
    ImageError
        Unreadable files, no or several emission series (named).
    ImageTooLargeError
        An image past :func:`y90dose.limits.max_emission_voxels` (or
        :func:`~y90dose.limits.max_voxels`), from its header, before its pixels are read.
    """
    with reading_emission():  # the readers hold it to the emission-image voxel limit
        return _read_emission_image(path, image_units)


def _read_emission_image(path: str | Path, image_units: str | None) -> Image:
    path = given_path(path, "spect")
    _require_exists(path, "spect")
    if image_units is not None and image_units.lower() not in IMAGE_UNITS:
        raise InputError("image_units", image_units, f"one of {', '.join(IMAGE_UNITS)}")
    if path.is_file() and is_sitk_file(path):
        image = read_sitk_file(path, modality="NM")
    elif path.is_dir():
        series = [s for s in scan_folder(path) if s.modality in EMISSION_MODALITIES]
        if len(series) != 1:
            found = "; ".join(s.describe() for s in series) or "none"
            raise ImageError(
                f"{path}: expected exactly one NM or PT series, found {len(series)}: {found}",
                field="spect",
            )
        image = read_series(series[0], where=path)
    else:
        image = read_image(path)
        if image.modality not in EMISSION_MODALITIES:
            raise ImageError(f"{path}: Modality {image.modality!r} is not NM or PT", field="spect")
    if image_units is not None:
        image = image.with_array(
            image.array, units="BQML" if image_units.lower() == "bqml" else "CNTS"
        )
    return image


def is_quantitative(image: Image) -> bool:
    """True when the image's values are activity concentrations in Bq/mL (DICOM BQML)."""
    return (image.units or "").upper() == "BQML"


def read_ct(path: str | Path) -> Image:
    """The CT in HU: a DICOM folder (its one CT series) or an image file (values in HU).

    Raises
    ------
    InputError
        Missing path.
    ImageError
        Unreadable files or no CT series.
    """
    path = given_path(path, "ct")
    _require_exists(path, "ct")
    if path.is_file() and is_sitk_file(path):
        return read_sitk_file(path, units="HU", modality="CT")
    return read_image(path, modality="CT")


def parse_roi_names(value: str | Mapping[str, Any] | Mapping[int, Any] | None) -> dict[int, str]:
    """Label value -> VOI name from a JSON object, a JSON file path, or a mapping.

    Raises
    ------
    InputError
        (``roi_names``) if it is not an object of positive integer labels to names.
    """
    if value is None:
        return {}
    raw: Any = value
    if isinstance(value, str):
        text = value
        candidate = Path(value)
        if not value.lstrip().startswith("{") and candidate.is_file():
            text = candidate.read_text(encoding="utf-8")
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(
                "roi_names", value, f'a JSON object such as {{"1": "liver"}} or its file ({exc})'
            ) from None
    if isinstance(raw, Mapping) and isinstance(raw.get("labels"), Mapping):
        raw = raw["labels"]  # {"labels": {...}}, the form the phantoms write
    if not isinstance(raw, Mapping):
        raise InputError("roi_names", value, 'a JSON object such as {"1": "liver", "2": "tumor1"}')
    names: dict[int, str] = {}
    for key, name in raw.items():
        try:
            label = int(key)
        except (TypeError, ValueError):
            raise InputError("roi_names", key, "integer label values > 0 as keys") from None
        if label <= 0 or not isinstance(name, str) or not name.strip():
            raise InputError("roi_names", {key: name}, "a non-empty name for each label > 0")
        names[label] = name.strip()
    if len(set(names.values())) != len(names):
        raise InputError("roi_names", value, "a different name for each label")
    return names


def _sidecar_names(path: Path) -> dict[int, str]:
    stem = path.name
    for suffix in SITK_SUFFIXES:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    for candidate in (path.with_name(stem + ".json"), path.with_name("names.json")):
        if candidate.is_file():
            return parse_roi_names(str(candidate))
    return {}


@dataclass(frozen=True)
class VoiSource:
    """Where the VOIs came from (for the report)."""

    path: str
    kind: str  # "rtstruct", "seg" or "labelmap"
    names: tuple[str, ...]


def read_vois(
    path: str | Path,
    grid: Grid,
    *,
    roi_names: str | Mapping[Any, Any] | None = None,
    allow_partial: bool = False,
) -> tuple[Vois, VoiSource]:
    """VOIs from an RTSTRUCT or a label map, on ``grid`` (the dose grid).

    Parameters
    ----------
    path
        RTSTRUCT file, or label-map file (NIfTI/NRRD/MHA).
    grid
        The grid to rasterise or resample onto.
    roi_names
        For an RTSTRUCT: a JSON list/object is not used (every ROI with contours is read)
        unless it maps labels to names; for a label map: label -> name (required unless a
        sidecar JSON exists).
    allow_partial
        Keep RTSTRUCT ROIs that extend beyond the image (default: refuse).

    Raises
    ------
    InputError
        Missing file, or a label map without names.
    ImageError
        Unreadable file, empty VOI, VOI outside the image, frame of reference mismatch.
    """
    path = given_path(path, "vois")
    if not path.exists():
        raise InputError("vois", str(path), "an existing RTSTRUCT file or label-map file")
    if path.is_file() and is_sitk_file(path):
        names = parse_roi_names(roi_names) if roi_names is not None else _sidecar_names(path)
        if not names:
            raise InputError(
                "roi_names",
                None,
                f'names for the labels of {path} as JSON ({{"1": "liver", "2": "tumor1"}}), '
                "or a sidecar <labelmap>.json",
            )
        return _labelmap_vois(path, grid, names, allow_partial=allow_partial), VoiSource(
            str(path), "labelmap", tuple(names.values())
        )
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        structs = [p for p in files if _voi_modality(p) in ("RTSTRUCT", "SEG")]
        if len(structs) != 1:
            raise ImageError(
                f"{path}: expected one RTSTRUCT or SEG file in the folder, found {len(structs)}",
                field="vois",
            )
        path = structs[0]
    wanted: list[str] | None = None
    if roi_names is not None:
        wanted = list(parse_roi_names(roi_names).values())
    kind = "seg" if _voi_modality(path) == "SEG" else "rtstruct"
    try:
        if kind == "seg":
            vois = read_seg(path, grid, names=wanted)
        else:
            vois = read_rtstruct(path, grid, names=wanted, allow_partial=allow_partial)
    except ImageError as exc:
        message = str(exc)
        raise type(exc)(
            message if str(path) in message else f"{path}: {message}", field="vois"
        ) from exc
    return vois, VoiSource(str(path), kind, tuple(vois))


_MODALITY_TAG = 0x00080060


def _voi_modality(path: Path) -> str:
    """The DICOM Modality of a file (``""`` when it is not readable DICOM).

    The file is parsed only up to its Modality element (an RTSTRUCT is parsed whole
    once, by its reader, not twice).
    """
    try:
        with path.open("rb") as handle:
            ds = read_partial(handle, stop_when=lambda tag, vr, length: tag > _MODALITY_TAG)
            return str(ds.get("Modality", ""))
    except (InvalidDicomError, OSError, EOFError, ValueError, KeyError, TypeError):
        return ""


def fraction_outside(mask: np.ndarray[Any, Any], source: Grid, target: Grid) -> float:
    """Fraction of the mask's voxel centres that fall outside ``target``'s voxels."""
    if source.same_geometry(target):
        return 0.0
    k, j, i = np.nonzero(mask)
    points = source.index_to_physical_mm(np.column_stack([i, j, k]).astype(np.float64))
    index = target.physical_mm_to_index(points)
    upper = np.asarray(target.shape_zyx[::-1], dtype=np.float64) - 0.5
    inside = np.all((index >= -0.5) & (index <= upper), axis=1)
    return float(1.0 - inside.mean()) if inside.size else 0.0


def _read_labels(path: Path, grid: Grid) -> tuple[np.ndarray[Any, Any], Grid]:
    """A label map's labels (integers >= 0, in their stored type) and its grid.

    Raises
    ------
    ImageError
        (``vois``) if it is not a 3-D scalar image of integers >= 0.
    """
    image = read_sitk_image(path)
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise ImageError(
            f"{path}: expected a 3-D scalar image, got dimension {image.GetDimension()} "
            f"with {image.GetNumberOfComponentsPerPixel()} components per voxel",
            field="vois",
        )
    labels = sitk.GetArrayFromImage(image)
    source = Grid(
        labels.shape,
        image.GetOrigin(),
        image.GetSpacing(),
        np.asarray(image.GetDirection()).reshape(3, 3),
        grid.frame_of_reference_uid,
    )
    del image
    refused = ImageError(f"{path}: a label map holds integers >= 0 (0 = background)", field="vois")
    if not np.issubdtype(labels.dtype, np.integer):
        rounded = np.rint(labels)
        if not np.allclose(labels, rounded):
            raise refused
        labels = rounded
    if labels.size and labels.min() < 0:
        raise refused
    return labels, source


def _labelmap_vois(
    path: Path, grid: Grid, names: Mapping[int, str], *, allow_partial: bool = False
) -> Vois:
    labels, source = _read_labels(path, grid)
    on_grid = labels
    if not source.same_geometry(grid):
        on_grid = resample_labels(labels, source, grid)
    masks = {}
    for label, name in names.items():
        in_source = labels == label
        if not in_source.any():
            present = sorted(set(np.unique(labels).astype(int).tolist()) - {0})
            raise EmptyVoiError(
                f"{path}: label {label} ({name!r}) has no voxel; labels present: {present}",
                field="vois",
            )
        outside = fraction_outside(in_source, source, grid)
        del in_source
        if outside > 0.0 and not allow_partial:
            raise EmptyVoiError(
                f"{path}: VOI {name!r} (label {label}) extends outside the emission "
                f"image ({100 * outside:.1f} % of its voxels); crop it to the image first",
                field="vois",
            )
        mask = on_grid == label
        if not mask.any():
            raise EmptyVoiError(
                f"{path}: VOI {name!r} (label {label}) has no voxel on the dose grid "
                "(it lies outside the emission image or is smaller than its voxels)",
                field="vois",
            )
        masks[name] = mask
    return Vois(grid, masks)


def with_whole_liver(
    vois: Vois, liver: str, tumours: list[str] | tuple[str, ...]
) -> tuple[Vois, str | None]:
    """Make the liver VOI the whole liver, tumours included.

    An RTSTRUCT liver contour usually encloses the tumours; in a label map every voxel has
    one label, so the ``liver`` label excludes them. The whole liver (for the activity
    normalisation, the LSF and the liver metrics) is liver OR tumours in both cases.

    Returns
    -------
    tuple
        The VOIs (liver replaced when tumour voxels were added) and a note saying so, or
        ``None`` when the liver already held every tumour voxel.
    """
    if liver not in vois or not tumours:
        return vois, None
    whole = vois[liver] | vois.union(list(tumours))
    added = int(np.count_nonzero(whole & ~vois[liver]))
    if not added:
        return vois, None
    note = (
        f"VOI {liver!r} was extended by {added} tumour voxel(s) outside it, so that it is the "
        "whole liver (tumours included), as label maps store tumours apart from the liver"
    )
    return vois.with_masks({liver: whole}), note
