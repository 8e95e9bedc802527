"""Keyword-style calls of the voxel API for tests: ``voxel(spect, vois, method="ldm")``.

Tests state each option as a keyword; these helpers pass them as the ``options``
mapping of :func:`y90dose.voxel_dose` (validated as VoxelOptions), the one API.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from y90dose.pipeline.run import VoxelRunResult, run_voxel_dosimetry, voxel_dose
from y90dose.pipeline.voxel_run import VoxelRun


def voxel(
    spect: Any, vois: Any, *, ct_path: Any = None, roi_names: Any = None, **options: Any
) -> VoxelRun:
    """``voxel_dose(spect, vois, options=options, ct=ct_path, roi_names=roi_names)``."""
    return voxel_dose(spect, vois, options=options, ct=ct_path, roi_names=roi_names)


def voxel_run(
    spect: Any,
    vois: Any,
    out: str | Path,
    *,
    ct_path: Any = None,
    roi_names: Any = None,
    write_pngs: bool = True,
    overwrite: bool = False,
    progress: Any = None,
    **options: Any,
) -> VoxelRunResult:
    """:func:`voxel` then ``write(out)`` (as ``y90dose voxel --out out``)."""
    return run_voxel_dosimetry(
        spect,
        vois,
        out,
        options=options,
        ct=ct_path,
        roi_names=roi_names,
        write_pngs=write_pngs,
        overwrite=overwrite,
        progress=progress,
    )
