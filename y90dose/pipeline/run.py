"""The voxel-dosimetry API: ``voxel_dose(spect, vois, options)`` -> a run, ``run.write(out)``.

:func:`voxel_dose` is the one call behind ``y90dose voxel``, the service's dose jobs and
``y90dose validate``: it loads the inputs (:func:`y90dose.pipeline.study.load_study`),
computes without touching a file (:func:`y90dose.pipeline.voxel_run.compute_voxel_dose`)
and returns a :class:`~y90dose.pipeline.voxel_run.VoxelRun`; :func:`write_run` (the
run's ``write``) writes the output folder (:mod:`y90dose.pipeline.outputs`) and returns
its summary, :class:`VoxelRunResult` (``metrics.json``).

Examples
--------
>>> import y90dose
>>> run = y90dose.voxel_dose("spect/", "rtstruct.dcm",
...                          options=y90dose.VoxelOptions(activity_gbq=2.0))  # doctest: +SKIP
>>> run.metrics["liver"].mean_gy  # doctest: +SKIP
>>> run.write("out/")  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

import y90dose
from y90dose.errors import InputError
from y90dose.pipeline.options import VoxelOptions
from y90dose.pipeline.outputs import (
    METRICS_JSON,
    VOI_FOLDER,
    check_out_dir,
    prepare_out_dir,
    rtdose_reference,
    write_json,
    write_outputs,
)
from y90dose.pipeline.progress import ProgressFn, Stages
from y90dose.pipeline.study import ImageInput, VoiInput, load_study
from y90dose.pipeline.voxel_run import (
    LUNG_KERNEL_STATEMENT,
    RunInputs,
    VoiMetrics,
    VoxelRun,
    compute_voxel_dose,
)
from y90dose.segmentectomy import SegmentectomyVerification

DOSE_QUANTITY = "absorbed dose to complete decay of a permanent implant (Gy)"


class EnergyBalance(BaseModel):
    """Where the released energy went: released = deposited in the grid + escaped."""

    model_config = ConfigDict(frozen=True)

    activity_in_image_gbq: float
    energy_released_j: float = Field(description="C x the activity in the image (J)")
    energy_deposited_in_grid_j: float
    escaped_energy_fraction: float = Field(description="share of the released energy that left")


class DoseGrid(BaseModel):
    """The dose grid: the emission image's."""

    model_config = ConfigDict(frozen=True)

    shape_zyx: list[int] = Field(description="voxels along (z, y, x), the arrays' axis order")
    spacing_mm: list[float] = Field(description="voxel size along (x, y, z), mm (an image's)")
    origin_mm: list[float] = Field(description="centre of the first voxel, (x, y, z) mm")
    direction: list[float] = Field(description="direction cosines, row-major 3 x 3")
    frame_of_reference_uid: str | None


class VoiSummary(BaseModel):
    """The run's VOIs: where they came from and which are tumours."""

    model_config = ConfigDict(frozen=True)

    source: str = Field(description="file, or '(mask images)'")
    kind: str = Field(description="rtstruct, seg, labelmap or masks")
    names: list[str]
    tumours: list[str]
    grid: str


class VoxelRunResult(BaseModel):
    """JSON-able summary of a voxel-dosimetry run (what ``metrics.json`` holds).

    ``metrics`` maps each VOI name to its :class:`VoiMetrics` (``mean_gy``, ``d70_gy``,
    ``v100_percent``, ``volume_ml``, ``mass_kg``, ``bed_of_mean_gy``...); ``files`` maps
    roles to paths relative to ``out_dir``.
    """

    model_config = ConfigDict(frozen=True)

    software: str = Field(description="y90dose version")
    dose_quantity: str = Field(default=DOSE_QUANTITY)
    out_dir: str
    files: dict[str, str]
    method: str = Field(description="the engine that ran: ldm, dvk or dvk_heterogeneous")
    method_reason: str = Field(
        default="",
        description="why that engine ran (method auto: dvk_heterogeneous with CT densities, "
        "else dvk; or as requested)",
    )
    kernel: dict[str, Any] | None = Field(
        description="kernel source and scaling (dvk), or each medium's kernel (dvk_heterogeneous)"
    )
    energy_j_per_gbq: float
    energy_source: str
    energy_note: str = Field(
        default="",
        description="the constant C used compared with the product's default (or, with no "
        "product, with each product's)",
    )
    activity: dict[str, Any] = Field(
        description="how voxel values became activity; for a Bq/mL image rescaled to a "
        "given activity, image_calibration holds the image's own activity and the factor"
    )
    density: dict[str, Any]
    energy_balance: EnergyBalance
    dose_grid: DoseGrid
    vois: VoiSummary
    metrics: dict[str, VoiMetrics]
    inputs: RunInputs
    rtdose_reference: str
    lung_statement: str = Field(default=LUNG_KERNEL_STATEMENT)
    warnings: list[str]
    elapsed_s: float
    segmentectomy: SegmentectomyVerification | None = Field(
        None,
        description="with segment_roi: the segment's and tumours' mean, D70 and V200 against "
        "the segmentectomy floor, and findings",
    )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types (for the service's job result and ``--json``)."""
        return self.model_dump(mode="json")


def summarise(
    computation: VoxelRun, out_dir: Path, files: Mapping[str, str], elapsed_s: float
) -> VoxelRunResult:
    """The run's summary from its computation and written files."""
    grid = computation.dose_image.grid
    activity = computation.activity.provenance()
    activity["image_units"] = computation.spect.units
    activity["quantitative_image"] = computation.inputs.image_units == "BQML"
    activity["decay_correction"] = computation.decay_correction
    activity["image_calibration"] = computation.image_calibration
    dose = computation.dose_result
    return VoxelRunResult(
        software=f"y90dose {y90dose.__version__}",
        out_dir=str(out_dir),
        files=dict(files),
        method=dose.method.value,
        method_reason=computation.method_reason,
        kernel=dose.kernel,
        energy_j_per_gbq=computation.energy_j_per_gbq,
        energy_source=computation.energy_source,
        energy_note=computation.energy_note or "",
        activity=activity,
        density=computation.density_info,
        energy_balance=EnergyBalance(
            activity_in_image_gbq=dose.administered_in_image_gbq,
            energy_released_j=dose.energy_j_per_gbq * dose.administered_in_image_gbq,
            energy_deposited_in_grid_j=dose.deposited_energy_j,
            escaped_energy_fraction=dose.escaped_energy_fraction,
        ),
        dose_grid=DoseGrid(
            shape_zyx=list(grid.shape_zyx),
            spacing_mm=list(grid.spacing_mm),
            origin_mm=list(grid.origin_mm),
            direction=grid.direction.ravel().tolist(),
            frame_of_reference_uid=grid.frame_of_reference_uid,
        ),
        vois=VoiSummary(
            source=computation.voi_source.path,
            kind=computation.voi_source.kind,
            names=list(computation.vois),
            tumours=list(computation.tumour_vois),
            grid="the emission image's (dose grid)",
        ),
        metrics=computation.metrics,
        inputs=computation.inputs,
        rtdose_reference=rtdose_reference(computation),
        lung_statement=computation.lung_statement,
        warnings=list(computation.warnings),
        elapsed_s=elapsed_s,
        segmentectomy=computation.segmentectomy,
    )


def voxel_dose(
    spect: ImageInput,
    vois: VoiInput,
    *,
    options: VoxelOptions | Mapping[str, Any] | None = None,
    ct: ImageInput | None = None,
    roi_names: str | Mapping[Any, Any] | None = None,
    progress: ProgressFn | None = None,
) -> VoxelRun:
    """Voxel dosimetry of one study: absorbed dose to complete decay and per-VOI metrics.

    Parameters
    ----------
    spect
        Emission image (SPECT or PET): a SimpleITK image or a path (DICOM folder or file,
        NIfTI/NRRD/MHA). Its grid is the dose grid.
    vois
        A mapping of VOI name to SimpleITK mask image, or a path (RTSTRUCT, DICOM SEG,
        label map; a folder holding one).
    options
        :class:`~y90dose.pipeline.options.VoxelOptions` (a mapping is validated as one);
        default: every option's default.
    ct
        CT in HU (SimpleITK image or path), optional: densities per voxel.
    roi_names
        Label -> name of a label map (JSON text or file, or a mapping), or the ROIs to take
        from an RTSTRUCT.
    progress
        ``progress(fraction, stage)``, fraction 0..1.

    Returns
    -------
    VoxelRun
        ``run.dose`` (SimpleITK image, Gy), ``run.metrics[name]`` (``mean_gy``,
        ``d70_gy``...), ``run.write(out_dir)``.

    Raises
    ------
    InputError, ImageError
        A bad option or input, named by its field (``activity_gbq``, ``spect``...).
    """
    options = VoxelOptions.of(options)
    stages = Stages(progress)
    stages.report(0.02, "reading the images and VOIs")
    study = load_study(spect, vois, ct=ct, roi_names=roi_names, options=options)
    return compute_voxel_dose(study, options, progress=stages.report)


def write_run(
    run: VoxelRun,
    out_dir: str | Path,
    *,
    write_pngs: bool = True,
    overwrite: bool = False,
    progress: ProgressFn | None = None,
) -> VoxelRunResult:
    """Step 3, *write*: the output folder of a run and its summary (``metrics.json``).

    Raises
    ------
    InputError
        (``out``) a folder that is a file, not empty (without ``overwrite``), or not
        writable.
    """
    started = time.perf_counter()
    stages = Stages(progress)
    path = prepare_out_dir(out_dir, overwrite=overwrite)
    files = write_outputs(run, path, write_pngs=write_pngs, progress=stages.report)
    files["metrics_json"] = METRICS_JSON
    listed = set(files.values())
    for extra in sorted(p for p in path.rglob("*") if p.is_file()):
        name = extra.relative_to(path).as_posix()
        if name not in listed and not name.startswith(f"{VOI_FOLDER}/"):
            files[f"other:{name}"] = name
    elapsed = run.elapsed_s + time.perf_counter() - started
    result = summarise(run, path, files, elapsed)
    write_json(path / METRICS_JSON, result.to_dict())
    stages.report(1.0, "done")
    return result


def run_voxel_dosimetry(
    spect: ImageInput,
    vois: VoiInput,
    out_dir: str | Path,
    *,
    options: VoxelOptions | Mapping[str, Any] | None = None,
    ct: ImageInput | None = None,
    roi_names: str | Mapping[Any, Any] | None = None,
    write_pngs: bool = True,
    overwrite: bool = False,
    progress: ProgressFn | None = None,
) -> VoxelRunResult:
    """:func:`voxel_dose` then ``write(out_dir)``; ``out_dir`` is checked first.

    The output folder is checked before the inputs are read and created only once the
    dose is computed, so that a refused run leaves no folder behind.
    """
    check_out_dir(out_dir, overwrite=overwrite)
    stages = Stages(progress)
    run = voxel_dose(
        spect, vois, options=options, ct=ct, roi_names=roi_names, progress=stages.report
    )
    return run.write(out_dir, write_pngs=write_pngs, overwrite=overwrite, progress=stages.report)


def voi_metric(result: VoxelRunResult, voi: str, key: str) -> float:
    """One metric of one VOI (``voi_metric(r, "tumor1", "d70_gy")``), with a clear error."""
    if voi not in result.metrics:
        raise InputError("voi", voi, f"one of {sorted(result.metrics)}")
    value = result.metrics[voi].model_dump().get(key)
    if not isinstance(value, int | float):
        raise InputError("metric", key, "a numeric metric such as mean_gy or d70_gy")
    return float(value)


__all__: Sequence[str] = (
    "DoseGrid",
    "EnergyBalance",
    "VoiSummary",
    "VoxelRunResult",
    "run_voxel_dosimetry",
    "summarise",
    "voi_metric",
    "voxel_dose",
    "write_run",
)
