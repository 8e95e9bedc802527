"""Voxel dosimetry pipelines: images in, dose maps, metrics and plans out.

- :func:`run_voxel_dosimetry`: emission image + VOIs (+ CT) -> activity -> dose ->
  metrics -> output folder (``y90dose voxel``, the service's dose jobs).
- :func:`plan_from_images`: MAA SPECT VOIs -> TN ratios, masses, LSF -> partition plan
  (``y90dose plan from-images``).
- :func:`compare_runs`: planned vs delivered per-VOI mean dose and D70 of two output
  folders (``y90dose compare``).
"""

from __future__ import annotations

from y90dose.pipeline.compare import ComparisonResult, compare_runs
from y90dose.pipeline.from_images import FromImagesResult, plan_from_images
from y90dose.pipeline.run import (
    VoxelRunResult,
    find_study_inputs,
    run_study_job,
    run_voxel_dosimetry,
)
from y90dose.pipeline.voxel_run import VoxelComputation, compute_voxel_dose

__all__ = [
    "ComparisonResult",
    "FromImagesResult",
    "VoxelComputation",
    "VoxelRunResult",
    "compare_runs",
    "compute_voxel_dose",
    "find_study_inputs",
    "plan_from_images",
    "run_study_job",
    "run_voxel_dosimetry",
]
