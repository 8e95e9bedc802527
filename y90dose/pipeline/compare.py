"""Planned versus delivered: per-VOI mean dose and D70 of two ``voxel`` output folders.

The *planned* folder is a predictive run (Tc-99m MAA SPECT scaled to the planned
activity), the *delivered* one a post-treatment run (Y-90 bremsstrahlung SPECT or PET) of
the same patient. Both dose maps are evaluated on the planned run's VOIs (its
``vois/`` masks, on its dose grid): the delivered dose map is resampled onto the planned
grid (linear interpolation) either

- through the patient coordinates, when both runs share a FrameOfReferenceUID (or one of
  them has none, e.g. NIfTI inputs: then the coordinates are trusted as given);
- through a rigid transform given by the user: an ITK transform file (``.tfm``/``.txt``,
  as written by ``y90dose register``, SimpleITK/ITK, 3D Slicer, elastix/transformix
  conversions) in the ITK resampling convention, i.e. it maps a point of the *planned*
  space to the corresponding point of the *delivered* space. Only rigid transforms
  (rotation + translation; no scale or shear) are accepted; or
- through an automatic rigid registration of the two runs' CTs, when the frames of
  reference differ and no transform is given (:mod:`y90dose.pipeline.alignment`): the
  planned run's CT is the fixed image, the delivered run's CT the moving one. Each run
  records the CT it used (``inputs.ct_path`` of its ``metrics.json``); ``planned_ct_path``
  and ``delivered_ct_path`` name them instead (a run made without a CT, a folder moved, or
  a path recorded relative to another working folder), and are checked to be in their
  run's frame of reference. A failed registration is refused (field ``transform``); the
  result reports a successful one's quality (``automatic_registration``). When a run's
  frame of reference is unknown, the CTs are registered only if the caller names one.

Different frames of reference with neither a transform nor a CT for each run are refused.
Differences are delivered - planned (Gy) and 100 x (delivered - planned) / planned (%).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk  # noqa: N813
from pydantic import BaseModel, ConfigDict, Field

from y90dose.dvh import dose_metrics
from y90dose.errors import GeometryError, ImageError, InputError
from y90dose.imaging.image import Image
from y90dose.imaging.read import read_sitk_file
from y90dose.imaging.registration import RegistrationOptions
from y90dose.pipeline.alignment import (
    RegistrationReport,
    read_study_ct,
    read_transform,
    register_studies,
)
from y90dose.pipeline.outputs import DOSE_NIFTI, METRICS_JSON, VOI_INDEX
from y90dose.validation import given_path


class VoiComparison(BaseModel):
    """Planned and delivered mean dose and D70 of one VOI."""

    model_config = ConfigDict(frozen=True)

    planned_mean_gy: float
    delivered_mean_gy: float
    difference_mean_gy: float
    difference_mean_percent: float | None
    planned_d70_gy: float
    delivered_d70_gy: float
    difference_d70_gy: float
    difference_d70_percent: float | None
    delivered_coverage_percent: float = Field(
        description="percent of the VOI's voxels inside the delivered dose map's field of view"
    )


class ComparisonResult(BaseModel):
    """Per-VOI planned vs delivered, with how the two maps were aligned."""

    model_config = ConfigDict(frozen=True)

    planned_dir: str
    delivered_dir: str
    registration: str
    transform_path: str | None
    vois: dict[str, VoiComparison]
    planned_method: str
    delivered_method: str
    warnings: list[str]
    automatic_registration: RegistrationReport | None = Field(
        None,
        description="the registration of the two runs' CTs, when one ran (different frames "
        "of reference and no transform given): its quality and parameters",
    )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return self.model_dump(mode="json")


def _load_run(folder: Path, option: str) -> tuple[dict[str, Any], Image]:
    metrics_path = folder / METRICS_JSON
    if not metrics_path.is_file():
        raise InputError(option, str(folder), f"a `y90dose voxel` output folder ({METRICS_JSON})")
    try:
        summary = json.loads(metrics_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ImageError(f"{metrics_path}: unreadable ({exc})", field=option) from exc
    dose_path = folder / str(summary.get("files", {}).get("dose_nifti", DOSE_NIFTI))
    if not dose_path.is_file():
        raise ImageError(f"{folder}: the dose map {dose_path.name} is missing", field=option)
    frame = summary.get("dose_grid", {}).get("frame_of_reference_uid")
    dose = read_sitk_file(dose_path, units="GY")
    return summary, dose.with_array(dose.array, frame_of_reference_uid=frame)


def _resample(
    delivered: Image, planned: Image, transform: sitk.Transform | None
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Delivered dose on the planned grid, and a 0/1 map of where the delivered map exists."""
    reference = planned.grid.empty_sitk()
    moving = delivered.to_sitk()
    chosen = transform if transform is not None else sitk.Transform()
    dose = sitk.Resample(moving, reference, chosen, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    ones = sitk.Image(moving.GetSize(), sitk.sitkUInt8)
    ones.CopyInformation(moving)
    ones += 1
    covered = sitk.Resample(ones, reference, chosen, sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    return sitk.GetArrayFromImage(dose), sitk.GetArrayFromImage(covered).astype(bool)


def _percent(difference: float, planned: float) -> float | None:
    return None if planned == 0 else 100.0 * difference / planned


def _run_ct(
    given: str | Path | None,
    summary: dict[str, Any],
    run: Path,
    role: str,
    frame: str | None,
    why: str,
) -> tuple[Image, str]:
    """The CT of a run's study (the one given, else the one the run recorded) and its name;
    ``why`` says why a registration is needed (for the refusal of a run without a CT)."""
    field = f"{role}_ct"
    if given is not None:
        path = given_path(given, field)
    else:
        recorded = (summary.get("inputs") or {}).get("ct_path")
        if not recorded:
            raise GeometryError(
                f"is needed: {why}, and the {role} run was made without a CT to register: "
                f"give {field}, the CT of the {role} run's study, or the rigid transform that "
                "maps planned points to delivered points",
                field="transform",
            )
        path = Path(str(recorded))
        if not path.exists():
            raise InputError(
                field,
                str(path),
                f"the CT of the {role} run's study: the run {run} recorded this path, which "
                f"does not exist here (moved, or relative to another folder); give {field}",
            )
    ct = read_study_ct(
        path, field=field, frame_of_reference_uid=frame, whose=f"the {role} run's study"
    )
    return ct, str(path)


def _align(
    planned: tuple[Path, dict[str, Any], Image],
    delivered: tuple[Path, dict[str, Any], Image],
    transform_path: str | Path | None,
    ct_paths: tuple[str | Path | None, str | Path | None],
    registration_options: RegistrationOptions | None,
) -> tuple[sitk.Transform | None, str, RegistrationReport | None, list[str]]:
    """How the delivered map reaches the planned grid: (transform or None for patient
    coordinates, the sentence saying so, the registration's report, warnings)."""
    (planned_path, planned_summary, planned_dose) = planned
    (delivered_path, delivered_summary, delivered_dose) = delivered
    frame_planned = planned_dose.frame_of_reference_uid
    frame_delivered = delivered_dose.frame_of_reference_uid
    given_cts = {
        f"{role}_ct": path
        for role, path in zip(("planned", "delivered"), ct_paths, strict=True)
        if path is not None
    }
    if transform_path is not None:
        if given_cts:
            field, path = next(iter(given_cts.items()))
            raise InputError(
                field, str(path), "no CT with a transform (CTs are registered only without one)"
            )
        if registration_options is not None:
            raise InputError("registration_options", registration_options, "none with a transform")
        transform = read_transform(transform_path, rigid=True)
        return (
            transform,
            f"rigid transform {transform_path} (planned -> delivered points)",
            None,
            [],
        )
    both_known = bool(frame_planned and frame_delivered)
    if both_known and frame_planned == frame_delivered:
        for field, path in given_cts.items():
            raise InputError(
                field,
                str(path),
                f"no CT: both runs are in one frame of reference ({frame_planned}), so "
                "nothing is registered",
            )
        if registration_options is not None:
            raise InputError(
                "registration_options",
                registration_options,
                "none: both runs are in one frame of reference, so nothing is registered",
            )
        return None, "same frame of reference (patient coordinates)", None, []
    if not both_known and not given_cts:
        if registration_options is not None:
            raise InputError(
                "registration_options",
                registration_options,
                "none unless a CT is registered (the frames of reference differ, or a CT is "
                "given for a run whose frame of reference is unknown)",
            )
        return (
            None,
            "patient coordinates as given (a frame of reference is unknown)",
            None,
            [
                "a run has no FrameOfReferenceUID (non-DICOM input): the two dose maps are "
                "aligned by their stated coordinates only (give planned_ct and delivered_ct "
                "to register the runs' CTs instead)"
            ],
        )
    why = (
        f"the planned run {planned_path} (FrameOfReferenceUID {frame_planned}) and the "
        f"delivered run {delivered_path} ({frame_delivered}) are in different frames of "
        "reference"
        if both_known
        else "a CT is given to register runs whose frame of reference is unknown"
    )
    planned_ct, planned_ct_name = _run_ct(
        ct_paths[0], planned_summary, planned_path, "planned", frame_planned, why
    )
    delivered_ct, delivered_ct_name = _run_ct(
        ct_paths[1], delivered_summary, delivered_path, "delivered", frame_delivered, why
    )
    transform, report = register_studies(
        planned_ct,
        delivered_ct,
        fixed_name=planned_ct_name,
        moving_name=delivered_ct_name,
        fixed_field="planned_ct",
        moving_field="delivered_ct",
        points="planned points to delivered points",
        options=registration_options,
    )
    reason = "different frames of reference" if both_known else "a frame unknown, CTs given"
    sentence = (
        f"automatic {report.kind} registration of the delivered run's CT onto the planned "
        f"run's CT ({reason}; NMI {report.nmi_final:.3f})"
    )
    return transform, sentence, report, []


def compare_runs(
    planned_dir: str | Path,
    delivered_dir: str | Path,
    *,
    transform_path: str | Path | None = None,
    planned_ct_path: str | Path | None = None,
    delivered_ct_path: str | Path | None = None,
    registration_options: RegistrationOptions | None = None,
) -> ComparisonResult:
    """Per-VOI planned vs delivered mean dose and D70 (module docstring).

    Parameters
    ----------
    planned_dir, delivered_dir
        ``y90dose voxel`` output folders; the planned run's VOIs and grid are used.
    transform_path
        Rigid ITK transform file mapping planned points to delivered points; nothing is
        registered then.
    planned_ct_path, delivered_ct_path
        The CT of each run's study, for the automatic registration (default: the CT each
        run recorded); each must be in its run's frame of reference.
    registration_options
        Options of the automatic registration (default ``RegistrationOptions()``).

    Raises
    ------
    InputError
        A folder is not a ``voxel`` output, the transform is unreadable or not rigid, a CT
        is missing or in another frame than its run, or an option is given that nothing
        would use (a CT with a transform or with one frame of reference).
    GeometryError
        (``transform``) different frames of reference, no transform, and a run without
        a CT.
    RegistrationError
        (``transform``) the automatic registration failed; the message says why.

    Examples
    --------
    >>> c = compare_runs("maa_run/", "post_run/")  # doctest: +SKIP
    >>> c.vois["tumor1"].difference_mean_percent  # doctest: +SKIP
    -12.4
    >>> c.automatic_registration.nmi_final  # doctest: +SKIP
    1.48
    """
    planned_path = given_path(planned_dir, "planned")
    delivered_path = given_path(delivered_dir, "delivered")
    planned_summary, planned = _load_run(planned_path, "planned")
    delivered_summary, delivered = _load_run(delivered_path, "delivered")
    transform, registration, report, warnings = _align(
        (planned_path, planned_summary, planned),
        (delivered_path, delivered_summary, delivered),
        transform_path,
        (planned_ct_path, delivered_ct_path),
        registration_options,
    )
    if transform is None and planned.same_geometry(delivered.grid):
        delivered_on_planned = delivered.array.astype(np.float32)
        covered = np.ones(planned.shape_zyx, dtype=bool)
    else:
        delivered_on_planned, covered = _resample(delivered, planned, transform)
    delivered_on_planned = np.maximum(delivered_on_planned, 0.0)

    index_path = planned_path / str(planned_summary.get("files", {}).get("vois_index", VOI_INDEX))
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))["vois"]
    except (OSError, json.JSONDecodeError, KeyError) as exc:
        raise ImageError(
            f"{planned_path}: VOI index {index_path.name} unreadable ({exc})", field="planned"
        ) from exc
    x, y, z = planned.spacing_mm
    spacing_zyx = (z, y, x)
    results: dict[str, VoiComparison] = {}
    for name, relative in index.items():
        mask_image = read_sitk_file(planned_path / relative)
        if mask_image.shape_zyx != planned.shape_zyx:
            raise ImageError(
                f"{planned_path}: mask {relative} is not on the dose grid", field="planned"
            )
        mask = mask_image.array > 0.5
        plan_metrics = dose_metrics(planned.array, mask, spacing_zyx_mm=spacing_zyx, voi_name=name)
        delivered_metrics = dose_metrics(
            delivered_on_planned, mask, spacing_zyx_mm=spacing_zyx, voi_name=name
        )
        coverage = 100.0 * float(covered[mask].mean())
        if coverage < 100.0:
            warnings.append(
                f"VOI {name!r}: {100.0 - coverage:.1f} % of its voxels lie outside the delivered "
                "dose map (counted as 0 Gy)"
            )
        mean_diff = delivered_metrics.mean_gy - plan_metrics.mean_gy
        d70_plan = plan_metrics.d_gy["D70"]
        d70_delivered = delivered_metrics.d_gy["D70"]
        results[name] = VoiComparison(
            planned_mean_gy=plan_metrics.mean_gy,
            delivered_mean_gy=delivered_metrics.mean_gy,
            difference_mean_gy=mean_diff,
            difference_mean_percent=_percent(mean_diff, plan_metrics.mean_gy),
            planned_d70_gy=d70_plan,
            delivered_d70_gy=d70_delivered,
            difference_d70_gy=d70_delivered - d70_plan,
            difference_d70_percent=_percent(d70_delivered - d70_plan, d70_plan),
            delivered_coverage_percent=coverage,
        )
    if delivered_summary.get("inputs", {}).get("predictive"):
        warnings.append(
            "the delivered run is a predictive (MAA) run; a delivered dose comes from a "
            "post-treatment Y-90 SPECT or PET"
        )
    planned_method = str(planned_summary.get("method", "?"))
    delivered_method = str(delivered_summary.get("method", "?"))
    if planned_method != delivered_method:
        warnings.append(
            f"the runs used different dose methods (planned {planned_method}, delivered "
            f"{delivered_method}): part of the difference is methodological"
        )
    return ComparisonResult(
        planned_dir=str(planned_path),
        delivered_dir=str(delivered_path),
        registration=registration,
        transform_path=None if transform_path is None else str(transform_path),
        vois=results,
        planned_method=planned_method,
        delivered_method=delivered_method,
        warnings=warnings,
        automatic_registration=report,
    )
