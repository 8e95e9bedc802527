"""``run_voxel_dosimetry``: the one call behind ``y90dose voxel`` and the service's dose jobs."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

import y90dose
from y90dose.errors import InputError
from y90dose.imaging.read import is_sitk_file
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
from y90dose.pipeline.voxel_run import (
    LUNG_KERNEL_STATEMENT,
    VoxelComputation,
    compute_voxel_dose,
    flat_metrics,
)
from y90dose.segmentectomy import SegmentectomyVerification, verify_segmentectomy
from y90dose.validation import given_path

DOSE_QUANTITY = "absorbed dose to complete decay of a permanent implant (Gy)"

#: Method names the service uses, mapped to the pipeline's.
METHOD_ALIASES = {"kernel": "dvk", "dpk": "dvk", "convolution": "dvk", "local": "ldm"}


class VoxelRunResult(BaseModel):
    """JSON-able summary of a voxel-dosimetry run (what ``metrics.json`` holds).

    ``metrics`` maps each VOI name to flat keys (``mean_gy``, ``d70_gy``,
    ``v100_percent``, ``volume_ml``, ``mass_kg``, ``bed_of_mean_gy``...); ``files`` maps
    roles to paths relative to ``out_dir``.
    """

    model_config = ConfigDict(frozen=True)

    software: str = Field(description="y90dose version")
    dose_quantity: str = Field(default=DOSE_QUANTITY)
    out_dir: str
    files: dict[str, str]
    method: str = Field(description="ldm or dvk")
    kernel: dict[str, Any] | None = Field(description="kernel source and scaling (DVK)")
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
    energy_balance: dict[str, float]
    dose_grid: dict[str, Any]
    vois: dict[str, Any]
    metrics: dict[str, dict[str, Any]]
    inputs: dict[str, Any]
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
    computation: VoxelComputation,
    out_dir: Path,
    files: Mapping[str, str],
    elapsed_s: float,
    segmentectomy: SegmentectomyVerification | None = None,
) -> VoxelRunResult:
    """The run's summary from its computation and written files."""
    grid = computation.dose_image.grid
    activity = computation.activity.provenance()
    activity["image_units"] = computation.spect.units
    activity["quantitative_image"] = computation.inputs["image_units"] == "BQML"
    activity["decay_correction"] = computation.decay_correction
    activity["image_calibration"] = computation.image_calibration
    dose = computation.dose
    return VoxelRunResult(
        software=f"y90dose {y90dose.__version__}",
        out_dir=str(out_dir),
        files=dict(files),
        method=dose.method.value,
        kernel=dose.kernel,
        energy_j_per_gbq=computation.energy_j_per_gbq,
        energy_source=computation.energy_source,
        energy_note=computation.energy_note or "",
        activity=activity,
        density=computation.density_info,
        energy_balance={
            "activity_in_image_gbq": dose.administered_in_image_gbq,
            "energy_released_j": dose.energy_j_per_gbq * dose.administered_in_image_gbq,
            "energy_deposited_in_grid_j": dose.deposited_energy_j,
            "escaped_energy_fraction": dose.escaped_energy_fraction,
        },
        dose_grid={
            "shape_zyx": list(grid.shape_zyx),
            "spacing_mm": list(grid.spacing_mm),
            "origin_mm": list(grid.origin_mm),
            "direction": grid.direction.ravel().tolist(),
            "frame_of_reference_uid": grid.frame_of_reference_uid,
        },
        vois={
            "source": computation.voi_source.path,
            "kind": computation.voi_source.kind,
            "names": list(computation.vois),
            "tumours": list(computation.tumour_vois),
            "grid": "the emission image's (dose grid)",
        },
        metrics={name: flat_metrics(m) for name, m in computation.metrics.items()},
        inputs=computation.inputs,
        rtdose_reference=rtdose_reference(computation),
        warnings=list(computation.warnings),
        elapsed_s=elapsed_s,
        segmentectomy=segmentectomy,
    )


def run_voxel_dosimetry(
    spect_path: str | Path,
    rois_path: str | Path | None = None,
    out_dir: str | Path | None = None,
    *,
    ct_path: str | Path | None = None,
    roi_names: str | Mapping[Any, Any] | None = None,
    activity_gbq: float | None = None,
    lsf: float = 0.0,
    residual: float = 0.0,
    normalize_to: str | None = None,
    method: str = "dvk",
    kernel: str | None = None,
    progress: ProgressFn | None = None,
    output_dir: str | Path | None = None,
    overwrite: bool = False,
    write_pngs: bool = True,
    options: Mapping[str, Any] | None = None,
    segment_roi: str | None = None,
    **more: Any,
) -> VoxelRunResult:
    """Voxel dosimetry of one study: read, compute, write the output folder, summarise.

    Parameters
    ----------
    spect_path
        Emission image (DICOM folder/file, NIfTI/NRRD/MHA); or, with ``rois_path=None``, a
        study folder holding the emission image, the CT (optional) and the VOIs
        (an RTSTRUCT, or a NIfTI label map with ``names.json``; see :func:`find_study_inputs`).
    rois_path
        RTSTRUCT file or label map.
    out_dir
        Output folder (created; must be empty or new). ``output_dir`` is the same.
    ct_path, roi_names, activity_gbq, lsf, residual, normalize_to, method, kernel
        See :func:`y90dose.pipeline.voxel_run.compute_voxel_dose` (``method`` also accepts
        ``"kernel"`` for ``"dvk"``).
    progress
        ``progress(fraction, stage)``, fraction 0..1.
    overwrite
        Replace a previous run's files in ``out_dir``.
    write_pngs
        Draw the DVH and slice PNGs (matplotlib).
    segment_roi
        The treated segment (perfused territory) VOI of a radiation segmentectomy: its and
        the tumours' mean, D70 and V200 are checked against the segmentectomy floor
        (:mod:`y90dose.segmentectomy`; needs one or more tumour VOIs).
    options, more
        Further keywords of :func:`compute_voxel_dose` (``product``, ``image_units``,
        ``predictive``, ``energy_j_per_gbq``, ``density``, ``hu_density_curve``,
        ``liver_roi``, ``tumor_rois``, ``eud_alpha_per_gy``, ``v_thresholds_gy``...).

    Returns
    -------
    VoxelRunResult
        The summary, also written as ``metrics.json``; ``.to_dict()`` gives plain JSON.

    Raises
    ------
    InputError, ImageError
        Bad options or inputs, with the option or file named.

    Examples
    --------
    >>> result = run_voxel_dosimetry("spect/", "rtstruct.dcm", "out/", ct_path="ct/",
    ...                              activity_gbq=3.1, lsf=0.06)  # doctest: +SKIP
    >>> result.metrics["tumor1"]["d70_gy"]  # doctest: +SKIP
    212.4
    """
    started = time.perf_counter()
    folder = out_dir if out_dir is not None else output_dir
    if folder is None:
        raise InputError("out", None, "an output folder")
    keywords: dict[str, Any] = {**(options or {}), **more}
    if rois_path is None:
        found = find_study_inputs(given_path(spect_path, "spect"))
        spect_path = found["spect_path"]
        rois_path = found["rois_path"]
        ct_path = ct_path if ct_path is not None else found.get("ct_path")
        roi_names = roi_names if roi_names is not None else found.get("roi_names")
    method = METHOD_ALIASES.get(str(method).lower(), str(method).lower())
    stages = Stages(progress)
    check_out_dir(folder, overwrite=overwrite)  # created once the dose is computed
    computation = compute_voxel_dose(
        spect_path,
        rois_path,
        ct_path=ct_path,
        roi_names=roi_names,
        activity_gbq=activity_gbq,
        lsf=lsf,
        residual=residual,
        normalize_to=normalize_to,
        method=method,
        kernel=kernel,
        progress=stages.report,
        **_known_options(keywords),
    )
    verification = (
        None
        if segment_roi is None
        else verify_segmentectomy(
            computation.dose_image.array,
            computation.vois,
            segment_roi,
            computation.tumour_vois,
            spacing_mm=computation.spacing_zyx_mm,
            density_g_ml=computation.density_g_ml,
            product=computation.inputs.get("product"),
        )
    )
    path = prepare_out_dir(folder, overwrite=overwrite)
    files = write_outputs(computation, path, write_pngs=write_pngs, progress=stages.report)
    files["metrics_json"] = METRICS_JSON
    listed = set(files.values())
    for extra in sorted(p for p in path.rglob("*") if p.is_file()):
        name = extra.relative_to(path).as_posix()
        if name not in listed and not name.startswith(f"{VOI_FOLDER}/"):
            files[f"other:{name}"] = name
    result = summarise(computation, path, files, time.perf_counter() - started, verification)
    write_json(path / METRICS_JSON, result.to_dict())
    stages.report(1.0, "done")
    return result


_DIRECT_NAMES = (
    "ct_path",
    "roi_names",
    "activity_gbq",
    "lsf",
    "residual",
    "normalize_to",
    "method",
    "kernel",
    "write_pngs",
)
"""Keywords of :func:`run_voxel_dosimetry` a service job may set besides ``_OPTION_NAMES``."""

_NOT_FROM_SERVICE = ("ct_path", "hu_density_curve")
"""Options naming files on the server: a service job may not set them."""

_OPTION_NAMES = (
    "image_units",
    "predictive",
    "product",
    "energy_j_per_gbq",
    "density",
    "hu_density_curve",
    "liver_roi",
    "tumor_rois",
    "eud_alpha_per_gy",
    "v_thresholds_gy",
    "allow_partial_vois",
)


def _known_options(keywords: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(keywords) - set(_OPTION_NAMES))
    if unknown:
        raise InputError("options", unknown, f"options among {', '.join(_OPTION_NAMES)}")
    return dict(keywords)


def _inside(folder: Path, relative: Any) -> Path:
    """``folder / relative``, refusing a path that leaves the folder."""
    path = (folder / str(relative)).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise InputError("study", str(relative), "a path inside the study folder")
    return path


def find_study_inputs(folder: Path) -> dict[str, Any]:
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
        raise InputError("study", str(folder), "a study folder (or pass rois_path)")
    manifest_path = folder / "study.json"
    manifest: dict[str, Any] = {}
    if manifest_path.is_file():
        try:
            loaded = json.loads(manifest_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError("study", str(manifest_path), f"valid JSON ({exc})") from None
        if isinstance(loaded, dict):
            manifest = loaded
    images = sorted(p for p in folder.rglob("*") if p.is_file() and is_sitk_file(p))
    found: dict[str, Any] = {}
    if (folder / "names.json").is_file():
        found["roi_names"] = str(folder / "names.json")
    labels: Path | None = None
    if manifest.get("labels"):
        labels = _inside(folder, manifest["labels"])
    elif images:
        hints = ("label", "mask", "seg", "voi", "roi")
        candidates = [p for p in images if any(h in p.name.lower() for h in hints)]
        if len(candidates) > 1:
            raise InputError(
                "study",
                [p.name for p in candidates],
                "one label map whose name contains label/mask/seg/voi/roi, or study.json",
            )
        labels = candidates[0] if candidates else None

    from y90dose.imaging.dicom_series import scan_folder

    modalities = {s.modality for s in scan_folder(folder)}
    if modalities & {"NM", "PT"}:
        found["spect_path"] = folder
        if "CT" in modalities:
            found["ct_path"] = folder
        if modalities & {"RTSTRUCT", "SEG"}:
            found["rois_path"] = folder
        elif labels is not None:
            found["rois_path"] = labels
        else:
            raise InputError(
                "study", str(folder), "a study with an RTSTRUCT or a label map (or a DICOM SEG)"
            )
        return found
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
    if manifest.get("image"):
        image = _inside(folder, manifest["image"])
    else:
        others = [
            p
            for p in images
            if p.resolve() != labels.resolve()
            and (not manifest.get("ct") or p.resolve() != _inside(folder, manifest["ct"]))
        ]
        if len(others) != 1:
            raise InputError("study", [p.name for p in others], "one image besides the label map")
        image = others[0]
    found["spect_path"] = image
    found["rois_path"] = labels
    if manifest.get("ct"):
        found["ct_path"] = _inside(folder, manifest["ct"])
    return found


def run_study_job(
    study_dir: Path, params: dict[str, Any], output_dir: Path, progress: ProgressFn
) -> dict[str, Any]:
    """The service's dose-job runner protocol: ``(study_dir, params, output_dir, progress)``.

    ``params`` are the job's (``activity_gbq``, ``lsf``, ``residual``, ``product``,
    ``method``, ``options``); returns the JSON summary. Options that name a file
    (``ct_path``, ``hu_density_curve``) are refused: a job reads only its study folder.
    """
    top = dict(params)
    options = dict(top.pop("options", None) or {})
    twice = sorted(set(options) & set(top))
    if twice:
        raise InputError(
            "options", twice, "each option once: these are fields of the job, not options"
        )
    merged = {**options, **{k: v for k, v in top.items() if v is not None}}
    allowed = sorted(
        name for name in (*_DIRECT_NAMES, *_OPTION_NAMES) if name not in _NOT_FROM_SERVICE
    )
    unknown = sorted(set(merged) - set(allowed))
    if unknown:
        raise InputError("options", unknown, f"options among {', '.join(allowed)}")
    if "roi_names" in merged and not isinstance(merged["roi_names"], Mapping):
        raise InputError("options.roi_names", merged["roi_names"], 'an object {"1": "liver"}')
    direct = {k: v for k, v in merged.items() if k in _DIRECT_NAMES}
    result = run_voxel_dosimetry(
        study_dir,
        None,
        output_dir,
        progress=progress,
        overwrite=False,
        options={k: v for k, v in merged.items() if k in _OPTION_NAMES},
        **direct,
    )
    return result.to_dict()


def voi_metric(result: VoxelRunResult, voi: str, key: str) -> float:
    """One metric of one VOI (``voi_metric(r, "tumor1", "d70_gy")``), with a clear error."""
    if voi not in result.metrics:
        raise InputError("voi", voi, f"one of {sorted(result.metrics)}")
    value = result.metrics[voi].get(key)
    if not isinstance(value, int | float):
        raise InputError("metric", key, "a numeric metric such as mean_gy or d70_gy")
    return float(value)


__all__: Sequence[str] = (
    "VoxelRunResult",
    "find_study_inputs",
    "run_study_job",
    "run_voxel_dosimetry",
    "summarise",
)
