"""The output folder of a voxel-dosimetry run.

==========================  ================================================================
file                        content
==========================  ================================================================
``dose_gy.nii.gz``          absorbed dose to complete decay, Gy, on the emission (SPECT/PET)
                            grid (float32)
``rtdose.dcm``              the same as DICOM RT Dose, referencing the CT's study and frame
                            of reference (the emission image's when there is no CT)
``dose_on_ct_gy.nii.gz``    the dose resampled onto the CT grid (linear interpolation)
``rtdose_on_ct.dcm``        the same as DICOM RT Dose on the CT grid
``bed_gy.nii.gz``           voxel BED, Gy (tumour parameters in tumours, normal liver
                            elsewhere); ``eqd2_gy.nii.gz`` likewise
``vois/<name>.nii.gz``      each VOI's mask on the dose grid (uint8), listed in ``vois.json``
``dvh.csv``, ``dvh.json``   cumulative DVH of each VOI (volume-weighted)
``dvh.png``                 the DVHs
``slices_<tumour>.png``     axial, coronal and sagittal dose over CT through each tumour
                            (dose not drawn in air, density < 0.05 g/mL)
``metrics.json``            the run's summary: per-VOI metrics, scaling, method, files
==========================  ================================================================

When there is no DICOM reference at all (NIfTI inputs), the RT Dose files get a new
study and frame of reference (stated in the summary), since DICOM requires both.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from y90dose.constants import AIR_DISPLAY_DENSITY_G_ML
from y90dose.errors import ImageError, InputError
from y90dose.imaging.dicom_write import StudyInfo
from y90dose.imaging.image import Grid, Image
from y90dose.imaging.nifti import VolumeWriter, write_dose_nifti, write_mask_file
from y90dose.imaging.read import is_utf8_path
from y90dose.imaging.resample import resample_image, resample_mask
from y90dose.imaging.rtdose import build_rtdose
from y90dose.pipeline import figures
from y90dose.pipeline.voxel_run import VoxelRun, radiobiology_slabs
from y90dose.validation import given_path

DOSE_NIFTI = "dose_gy.nii.gz"
RTDOSE = "rtdose.dcm"
DOSE_ON_CT_NIFTI = "dose_on_ct_gy.nii.gz"
RTDOSE_ON_CT = "rtdose_on_ct.dcm"
BED_NIFTI = "bed_gy.nii.gz"
EQD2_NIFTI = "eqd2_gy.nii.gz"
VOI_FOLDER = "vois"
VOI_INDEX = "vois.json"
DVH_CSV = "dvh.csv"
DVH_JSON = "dvh.json"
DVH_PNG = "dvh.png"
METRICS_JSON = "metrics.json"

StageFn = Callable[[float, str], None]


def safe_file_stem(name: str) -> str:
    """A VOI name as a file-name part: letters, digits, ``-`` and ``_`` only.

    Examples
    --------
    >>> safe_file_stem("Tumor 1 (S8)")
    'Tumor_1_S8'
    """
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_")
    return stem or "voi"


def check_out_dir(out_dir: str | Path, *, overwrite: bool = False) -> Path:
    """The checks of :func:`prepare_out_dir`, without creating or emptying anything.

    A run checks its output folder before its inputs are read, and creates it only once
    the dose is computed, so that a refused run leaves no empty folder behind.

    Raises
    ------
    InputError
        (``out``) when the folder is a file, not empty, cannot be created or written, or
        its name is empty or not valid UTF-8.
    """
    path = given_path(out_dir, "out")
    if not is_utf8_path(path):  # SimpleITK cannot write the NIfTI files there
        raise InputError("out", os.fsencode(path), "a folder name that is valid UTF-8")
    if path.exists() and not path.is_dir():
        raise InputError("out", str(path), "a folder (this is a file)")
    previous_run = overwrite and (path / METRICS_JSON).is_file()
    if path.is_dir() and any(path.iterdir()) and not previous_run:
        raise InputError(
            "out", str(path), "an empty or new folder (or a previous run's folder, with overwrite)"
        )
    absolute = path.absolute()
    existing = next(p for p in (absolute, *absolute.parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(
            "out", str(path), f"a folder that can be created or written ({existing} is not)"
        )
    return path


def prepare_out_dir(out_dir: str | Path, *, overwrite: bool = False) -> Path:
    """Create ``out_dir``; refuse a non-empty folder unless it is a previous run's.

    A folder holding ``metrics.json`` (a previous run) is emptied of this module's files
    only with ``overwrite``; any other non-empty folder is refused, so that outputs of two
    runs never mix.

    Raises
    ------
    InputError
        As :func:`check_out_dir`.
    """
    path = check_out_dir(out_dir, overwrite=overwrite)
    if path.is_dir() and any(path.iterdir()):  # a previous run's, with overwrite
        for old in list(path.glob("*.nii.gz")) + list(path.glob("*.dcm")):
            old.unlink()
        for old in list(path.glob("*.png")) + list(path.glob("*.json")) + list(path.glob("*.csv")):
            old.unlink()
        voi_folder = path / VOI_FOLDER
        if voi_folder.is_dir():
            for old in voi_folder.iterdir():
                old.unlink()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError("out", str(path), f"a folder that can be created ({exc})") from None
    return path


def _dicom_reference(computation: VoxelRun) -> tuple[Image, bool]:
    """The image an RT Dose references, and whether it is a real DICOM image."""
    for image in (computation.ct, computation.spect):
        if (
            image is not None
            and image.study_instance_uid is not None
            and image.frame_of_reference_uid is not None
        ):
            return image, True
    study = StudyInfo.new()
    placeholder = Image(
        np.zeros((1, 1, 1), dtype=np.float32),
        (0.0, 0.0, 0.0),
        (1.0, 1.0, 1.0),
        frame_of_reference_uid=study.frame_of_reference_uid,
        study_instance_uid=study.study_instance_uid,
        patient_study=study.patient_study,
    )
    return placeholder, False


def rtdose_reference(computation: VoxelRun) -> str:
    """Which image the RT Dose files reference: ``"CT"``, ``"emission image"`` or new UIDs."""
    reference, real = _dicom_reference(computation)
    if not real:
        return "none (no DICOM input): new StudyInstanceUID and FrameOfReferenceUID"
    return "CT" if reference is computation.ct else "emission image"


def _comment(computation: VoxelRun) -> str:
    """DoseComment (LO, at most 64 characters): method, kernel and C."""
    method = computation.inputs.method.upper()
    kernel = computation.dose_result.kernel
    source = f" {kernel['source']}" if kernel else ""
    return f"Y-90 dose to decay {method}{source} C={computation.energy_j_per_gbq:g}J/GBq"[:64]


def write_dvh_png(computation: VoxelRun, path: Path) -> Path:
    """Cumulative DVHs of every VOI in one figure (:func:`figures.draw_dvh`)."""
    curves = [
        figures.Curve(name, dvh.dose_gy, dvh.volume_percent)
        for name, dvh in computation.dvhs.items()
    ]
    method = computation.inputs.method.upper()
    title = f"Cumulative DVH, Y-90 {method}, dose to complete decay"
    return figures.draw_dvh(curves, computation.inputs.v_thresholds_gy, title, path)


def display_dose_gy(
    dose_gy: npt.NDArray[np.floating], density_g_ml: npt.NDArray[np.floating] | float
) -> tuple[npt.NDArray[np.float32], int]:
    """The dose the slice figures draw: 0 (not drawn) where the density is that of air.

    With local deposition, image activity spilled outside the body lands on air
    (0.0012 g/mL) and gets doses of ~1000 Gy, which would saturate the overlay. Voxels
    below ``AIR_DISPLAY_DENSITY_G_ML`` are left out of the figures only: the NIfTI and RT
    Dose maps and every metric keep the full dose.

    Returns
    -------
    tuple
        (dose to draw, Gy; number of voxels with dose left out as air).

    Examples
    --------
    >>> shown, left_out = display_dose_gy(np.array([120.0, 900.0]), np.array([1.03, 0.0012]))
    >>> shown.tolist(), left_out
    ([120.0, 0.0], 1)
    """
    dose = np.asarray(dose_gy)
    if np.ndim(density_g_ml) == 0 and float(density_g_ml) >= AIR_DISPLAY_DENSITY_G_ML.value:
        return np.asarray(dose, dtype=np.float32), 0  # one density, not air: the dose itself
    air = np.asarray(density_g_ml) < AIR_DISPLAY_DENSITY_G_ML.value
    shown = np.where(air, 0.0, dose).astype(np.float32)
    return shown, int(np.count_nonzero(air & (dose > 0)))


def _cropped_mask(
    mask: npt.NDArray[np.bool_], grid: Grid
) -> tuple[npt.NDArray[np.bool_], Grid, tuple[int, int, int]]:
    """The mask's bounding box with one voxel of margin (within the grid), its grid, and
    the index (z, y, x) of its first voxel in ``mask``.

    Nearest-neighbour resampling of the box gives what the whole mask gives: every target
    point within half a voxel of the box falls on its margin (False, as in the whole mask)
    or on the grid's own edge, and points beyond get False in both.
    """
    k, j, i = (np.flatnonzero(np.any(mask, axis=axes)) for axes in ((1, 2), (0, 2), (0, 1)))
    if not k.size:
        return mask, grid, (0, 0, 0)
    lo = [max(int(v[0]) - 1, 0) for v in (k, j, i)]
    hi = [min(int(v[-1]) + 2, n) for v, n in zip((k, j, i), mask.shape, strict=True)]
    box = mask[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    corner = grid.index_to_physical_mm(np.asarray(lo[::-1], dtype=np.float64))
    box_grid = Grid(
        box.shape,
        tuple(corner.tolist()),
        grid.spacing_mm,
        grid.direction,
        grid.frame_of_reference_uid,
    )
    return box, box_grid, (lo[0], lo[1], lo[2])


def _centroid_index(
    mask: npt.NDArray[np.bool_], start: tuple[int, int, int] = (0, 0, 0)
) -> tuple[int, int, int]:
    """The rounded mean index (z, y, x) of the mask's voxels, ``mask`` lying at ``start``."""
    k, j, i = (round(float((v + s).mean())) for v, s in zip(np.nonzero(mask), start, strict=True))
    return k, j, i


def write_slices_png(
    computation: VoxelRun,
    tumour: str,
    path: Path,
    shown_dose: Image,
    *,
    air_voxels: int = 0,
) -> Path:
    """Axial, coronal and sagittal dose over CT through a tumour's centroid.

    The CT (or, without CT, nothing) is shown in grey, the dose in colour above 1 % of the
    tumour's maximum dose, and the tumour's outline in white. Views are in array (voxel)
    orientation, with the aspect ratio of the voxel spacing, on the CT's grid (the three
    dose planes resampled onto it, linearly) or, without a CT, on the dose grid.
    ``shown_dose`` is :func:`display_dose_gy`'s dose (none in air) on the dose grid;
    ``air_voxels`` the number of dose voxels it left out, stated in the caption.
    """
    mask_dose = computation.vois[tumour]
    dose_grid = computation.dose_image.grid
    mask_box, box_grid, box_start = _cropped_mask(mask_dose, dose_grid)
    centre_mm = dose_grid.index_to_physical_mm(
        np.asarray(_centroid_index(mask_box, box_start)[::-1], dtype=np.float64)
    )
    background = None if computation.ct is None else computation.ct.array
    grid = dose_grid if computation.ct is None else computation.ct.grid
    nz, ny, nx = grid.shape_zyx
    i, j, k = (round(float(v)) for v in grid.physical_mm_to_index(centre_mm))
    k, j, i = min(max(k, 0), nz - 1), min(max(j, 0), ny - 1), min(max(i, 0), nx - 1)
    sx, sy, sz = grid.spacing_mm
    # each view: its index in the volume, its corner (i, j, k), and the (row, column) voxel
    # sizes of the plane as stored: axial (y, x), coronal (z, x), sagittal (z, y)
    views = [
        ("axial", (slice(k, k + 1), slice(None), slice(None)), (0.0, 0.0, k), (sy, sx)),
        ("coronal", (slice(None), slice(j, j + 1), slice(None)), (0.0, j, 0.0), (sz, sx)),
        ("sagittal", (slice(None), slice(None), slice(i, i + 1)), (i, 0.0, 0.0), (sz, sy)),
    ]
    shapes = [(1, ny, nx), (nz, 1, nx), (nz, ny, 1)]
    metrics = computation.voi_metrics[tumour]
    peak = float(metrics.max_gy) or 1.0
    planes = []
    for (title, where, corner, (row_mm, column_mm)), shape in zip(views, shapes, strict=True):
        plane_grid = Grid(
            shape,
            tuple(grid.index_to_physical_mm(np.asarray(corner, dtype=np.float64)).tolist()),
            grid.spacing_mm,
            grid.direction,
            grid.frame_of_reference_uid,
        )
        if background is None:  # a plane of the dose grid itself
            dose_plane = np.squeeze(shown_dose.array[where])
            mask_plane = np.squeeze(mask_dose[where])
        else:
            dose_plane = np.squeeze(resample_image(shown_dose, plane_grid, outside_value=0.0).array)
            mask_plane = np.squeeze(resample_mask(mask_box, box_grid, plane_grid))
        planes.append(
            figures.Plane(
                title,
                np.atleast_2d(dose_plane),
                None if background is None else np.atleast_2d(np.squeeze(background[where])),
                np.atleast_2d(mask_plane) if mask_plane.ndim == 2 else None,
                row_mm,
                column_mm,
                rows_up=title != "axial",
            )
        )
    title = (
        f"{tumour}: mean {metrics.mean_gy:.1f} Gy, "
        f"D70 {metrics.d_gy.get('D70', float('nan')):.1f} Gy"
    )
    caption = (
        f"dose not drawn in air: {air_voxels} voxel(s) with density < "
        f"{AIR_DISPLAY_DENSITY_G_ML.value:g} g/mL; the dose maps (NIfTI, RT Dose) and "
        "the metrics keep their dose"
        if air_voxels
        else ""
    )
    return figures.draw_slices(planes, peak, title, caption, path)


def write_outputs(
    computation: VoxelRun,
    out_dir: Path,
    *,
    write_pngs: bool = True,
    progress: StageFn | None = None,
) -> dict[str, str]:
    """Write every output file (module docstring) except ``metrics.json``.

    Returns
    -------
    dict
        Role -> path relative to ``out_dir`` (``"dose_nifti"``, ``"rtdose"``,
        ``"dose_on_ct_nifti"``, ``"rtdose_on_ct"``, ``"dvh_csv"``... and
        ``"slices_png:<tumour>"``).
    """
    report = progress or (lambda fraction, stage: None)
    files = _write_files(computation, out_dir, report)
    if write_pngs:
        report(0.94, "drawing the DVH and slices")
        files.update(write_pngs_of(computation, out_dir))
    return files


def write_pngs_of(computation: VoxelRun, out_dir: Path) -> dict[str, str]:
    """``dvh.png`` and a ``slices_<tumour>.png`` per tumour; role -> relative path."""
    files = {"dvh_png": write_dvh_png(computation, out_dir / DVH_PNG).name}
    shown, air_voxels = display_dose_gy(computation.dose_image.array, computation.density_g_ml)
    shown_dose = computation.dose_image.with_array(shown)
    for tumour in computation.tumour_vois:
        name = f"slices_{safe_file_stem(tumour)}.png"
        write_slices_png(computation, tumour, out_dir / name, shown_dose, air_voxels=air_voxels)
        files[f"slices_png:{tumour}"] = name
    return files


def _write_files(computation: VoxelRun, out_dir: Path, report: StageFn) -> dict[str, str]:
    """Every output file but the figures and ``metrics.json``."""
    files: dict[str, str] = {}
    dose = computation.dose_image
    reference, real = _dicom_reference(computation)
    comment = _comment(computation)

    report(0.7, "writing the dose maps")
    write_dose_nifti(dose, out_dir / DOSE_NIFTI)
    files["dose_nifti"] = DOSE_NIFTI
    dose_for_dicom = dose if real else dose.with_array(dose.array, frame_of_reference_uid=None)
    build_rtdose(
        dose_for_dicom,
        reference,
        series_description="Y-90 dose (emission grid)",
        dose_comment=comment,
    ).save(out_dir / RTDOSE)
    files["rtdose"] = RTDOSE

    # both maps streamed slab by slab as they are computed (no whole-grid map in memory)
    with (
        VolumeWriter(out_dir / BED_NIFTI, dose.grid) as bed_file,
        VolumeWriter(out_dir / EQD2_NIFTI, dose.grid) as eqd2_file,
    ):
        for _, bed, eqd2 in radiobiology_slabs(computation):
            bed_file.write(bed)
            eqd2_file.write(eqd2)
    files["bed_nifti"] = BED_NIFTI
    files["eqd2_nifti"] = EQD2_NIFTI

    if computation.ct is not None:
        report(0.78, "resampling the dose onto the CT grid")
        dose_on_ct = resample_image(dose, computation.ct, outside_value=0.0)
        # linear interpolation of doses >= 0 gives >= 0 up to round-off (in place when the
        # resampled array is a new one)
        fresh = dose_on_ct is not dose
        on_ct = np.maximum(dose_on_ct.array, 0.0, out=dose_on_ct.array if fresh else None)
        dose_on_ct = dose_on_ct.with_array(on_ct, units="GY")
        write_dose_nifti(dose_on_ct, out_dir / DOSE_ON_CT_NIFTI)
        files["dose_on_ct_nifti"] = DOSE_ON_CT_NIFTI
        report(0.84, "writing the RT Dose on the CT grid")
        build_rtdose(
            dose_on_ct,
            reference,
            series_description="Y-90 dose (CT grid)",
            dose_comment=comment,
        ).save(out_dir / RTDOSE_ON_CT)
        files["rtdose_on_ct"] = RTDOSE_ON_CT

    report(0.9, "writing VOIs and DVHs")
    (out_dir / VOI_FOLDER).mkdir(exist_ok=True)
    index: dict[str, str] = {}
    used: set[str] = set()
    for name in computation.vois:
        stem = safe_file_stem(name)
        while stem in used:
            stem += "_"
        used.add(stem)
        relative = f"{VOI_FOLDER}/{stem}.nii.gz"
        write_mask_file(computation.vois[name], computation.vois.grid, out_dir / relative)
        index[name] = relative
    _write_json(out_dir / VOI_INDEX, {"grid": "dose grid (dose_gy.nii.gz)", "vois": index})
    files["vois_index"] = VOI_INDEX

    from y90dose.dvh import dvhs_to_csv

    (out_dir / DVH_CSV).write_text(dvhs_to_csv(list(computation.dvhs.values())), encoding="utf-8")
    _write_json(out_dir / DVH_JSON, {name: dvh.to_dict() for name, dvh in computation.dvhs.items()})
    files["dvh_csv"] = DVH_CSV
    files["dvh_json"] = DVH_JSON

    return files


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    try:
        path.write_text(json.dumps(_finite(data), indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise ImageError(f"cannot write {path}: {exc}") from exc


def _finite(value: Any) -> Any:
    """JSON has no NaN/infinity: write them as null."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write ``data`` as indented JSON (NaN/infinity as null)."""
    _write_json(path, data)
