"""Planned versus delivered: per-VOI mean dose and D70 of two ``voxel`` output folders.

The *planned* folder is a predictive run (Tc-99m MAA SPECT scaled to the planned
activity), the *delivered* one a post-treatment run (Y-90 bremsstrahlung SPECT or PET) of
the same patient. Both dose maps are evaluated on the planned run's VOIs (its
``vois/`` masks, on its dose grid): the delivered dose map is resampled onto the planned
grid (linear interpolation) either

- through the patient coordinates, when both runs share a FrameOfReferenceUID (or one of
  them has none, e.g. NIfTI inputs: then the coordinates are trusted as given); or
- through a rigid transform given by the user: an ITK transform file (``.tfm``/``.txt``,
  as written by SimpleITK/ITK, 3D Slicer, elastix/transformix conversions) in the ITK
  resampling convention, i.e. it maps a point of the *planned* space to the corresponding
  point of the *delivered* space. Only rigid transforms (rotation + translation; no scale
  or shear) are accepted.

Different frames of reference without a transform are refused. Differences are
delivered - planned (Gy) and 100 x (delivered - planned) / planned (%).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk  # noqa: N813
from pydantic import BaseModel, ConfigDict, Field

from y90dose.dvh import dose_metrics
from y90dose.errors import GeometryError, ImageError, InputError
from y90dose.imaging.image import Image
from y90dose.imaging.read import is_utf8_path, read_sitk_file
from y90dose.pipeline.outputs import DOSE_NIFTI, METRICS_JSON, VOI_INDEX
from y90dose.validation import given_path

RIGID_TOLERANCE = 1e-4
"""Largest deviation of R^T R from the identity (and of det R from 1) for a rigid transform."""


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


def read_transform(path: str | Path) -> sitk.Transform:
    """A rigid ITK transform from a file, refusing scale, shear and non-3-D transforms.

    Raises
    ------
    InputError
        (``transform``) unreadable, not 3-D, or not rigid.
    """
    if not is_utf8_path(path):  # SimpleITK would abort the process on such a name
        raise InputError("transform", os.fsencode(path), "a file name that is valid UTF-8")
    try:
        transform = sitk.ReadTransform(str(path))
    except RuntimeError as exc:
        message = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unreadable"
        raise InputError(
            "transform", str(path), f"a readable ITK transform file ({message})"
        ) from None
    if transform.GetDimension() != 3:
        raise InputError("transform", str(path), "a 3-D transform")
    matrix = np.asarray(_matrix_of(transform), dtype=np.float64).reshape(3, 3)
    offset = np.asarray(transform.TransformPoint((0.0, 0.0, 0.0)))
    probes = np.array([[100.0, -50.0, 30.0], [-200.0, 150.0, -100.0], [50.0, 250.0, 300.0]])
    linear = all(
        np.allclose(transform.TransformPoint(tuple(p.tolist())), matrix @ p + offset, atol=1e-3)
        for p in probes
    )
    if (
        not linear
        or not np.allclose(matrix.T @ matrix, np.eye(3), atol=RIGID_TOLERANCE)
        or abs(np.linalg.det(matrix) - 1.0) > RIGID_TOLERANCE
    ):
        raise InputError(
            "transform",
            str(path),
            "a rigid transform (rotation + translation: no scale, shear, flip or deformation)",
        )
    return transform


def _matrix_of(transform: sitk.Transform) -> tuple[float, ...]:
    """The 3x3 linear part of a (possibly composite) transform, by finite differences."""
    origin = np.asarray(transform.TransformPoint((0.0, 0.0, 0.0)))
    columns = [
        np.asarray(transform.TransformPoint(tuple(np.eye(3)[axis].tolist()))) - origin
        for axis in range(3)
    ]
    return tuple(np.column_stack(columns).ravel().tolist())


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


def compare_runs(
    planned_dir: str | Path,
    delivered_dir: str | Path,
    *,
    transform_path: str | Path | None = None,
) -> ComparisonResult:
    """Per-VOI planned vs delivered mean dose and D70 (module docstring).

    Raises
    ------
    InputError
        A folder is not a ``voxel`` output, or the transform is unreadable or not rigid.
    GeometryError
        (``transform``) different frames of reference and no transform.

    Examples
    --------
    >>> c = compare_runs("maa_run/", "post_run/")  # doctest: +SKIP
    >>> c.vois["tumor1"].difference_mean_percent  # doctest: +SKIP
    -12.4
    """
    planned_path = given_path(planned_dir, "planned")
    delivered_path = given_path(delivered_dir, "delivered")
    planned_summary, planned = _load_run(planned_path, "planned")
    delivered_summary, delivered = _load_run(delivered_path, "delivered")
    warnings: list[str] = []
    transform = read_transform(transform_path) if transform_path is not None else None
    frame_planned = planned.frame_of_reference_uid
    frame_delivered = delivered.frame_of_reference_uid
    if transform is None:
        if frame_planned and frame_delivered and frame_planned != frame_delivered:
            raise GeometryError(
                f"is needed: the planned run {planned_path} (FrameOfReferenceUID "
                f"{frame_planned}) and the delivered run {delivered_path} ({frame_delivered}) "
                "are in different frames of reference; register them and give the rigid "
                "transform that maps planned points to delivered points",
                field="transform",
            )
        registration = "same frame of reference (patient coordinates)"
        if not (frame_planned and frame_delivered):
            registration = "patient coordinates as given (a frame of reference is unknown)"
            warnings.append(
                "a run has no FrameOfReferenceUID (non-DICOM input): the two dose maps are "
                "aligned by their stated coordinates only"
            )
    else:
        registration = f"rigid transform {transform_path} (planned -> delivered points)"
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
    )
