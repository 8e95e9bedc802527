"""Voxel dosimetry pipelines: images in, dose maps, metrics and plans out.

- :func:`voxel_dose`: emission image + VOIs (+ CT) -> activity -> dose -> metrics, in
  memory (load, then a pure compute); ``run.write(out)`` writes the output folder. The
  one call behind ``y90dose voxel``, the service's dose jobs and ``y90dose validate``.
- :class:`VoxelOptions`: every option of a voxel run, in one model.
- :func:`plan_from_images`: MAA SPECT VOIs -> TN ratios, masses, LSF -> partition plan
  (``y90dose plan from-images``).
- :func:`compare_runs`: planned vs delivered per-VOI mean dose and D70 of two output
  folders (``y90dose compare``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from y90dose._lazy import lazy_exports

if TYPE_CHECKING:  # imported on first use (see lazy_exports)
    from y90dose.pipeline.compare import ComparisonResult, compare_runs
    from y90dose.pipeline.from_images import FromImagesResult, plan_from_images
    from y90dose.pipeline.options import DensitySource, ImageUnits, VoxelOptions
    from y90dose.pipeline.run import VoxelRunResult, run_voxel_dosimetry, voxel_dose, write_run
    from y90dose.pipeline.study import StudyFiles, VoxelStudy, find_study_inputs, load_study
    from y90dose.pipeline.voxel_run import VoiMetrics, VoxelRun, compute_voxel_dose

_EXPORTS: dict[str, tuple[str, ...]] = {
    "compare": (
        "ComparisonResult",
        "compare_runs",
    ),
    "from_images": (
        "FromImagesResult",
        "plan_from_images",
    ),
    "options": (
        "DensitySource",
        "ImageUnits",
        "VoxelOptions",
    ),
    "run": (
        "VoxelRunResult",
        "run_voxel_dosimetry",
        "voxel_dose",
        "write_run",
    ),
    "study": (
        "StudyFiles",
        "VoxelStudy",
        "find_study_inputs",
        "load_study",
    ),
    "voxel_run": (
        "VoiMetrics",
        "VoxelRun",
        "compute_voxel_dose",
    ),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "ComparisonResult",
    "DensitySource",
    "FromImagesResult",
    "ImageUnits",
    "StudyFiles",
    "VoiMetrics",
    "VoxelOptions",
    "VoxelRun",
    "VoxelRunResult",
    "VoxelStudy",
    "compare_runs",
    "compute_voxel_dose",
    "find_study_inputs",
    "load_study",
    "plan_from_images",
    "run_voxel_dosimetry",
    "voxel_dose",
    "write_run",
]
