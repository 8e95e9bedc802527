"""The service's dose-job policy: which options a job takes, and how a job runs.

A dose job's body is :class:`~y90dose.pipeline.options.VoxelOptions`' fields (generated,
``y90dose_service/schemas/dose_jobs.py``) with the service's own rules, all stated here:

- :data:`REFUSED_OPTIONS`: options naming a file on the server are not accepted (a job
  reads only its own study folder);
- :data:`REQUIRED_OPTIONS`: a clinical job states these even where the library has a
  default (the lung shunt and the product: the energy constant depends on it);
- :data:`JOB_FIELDS`: what a job takes beyond VoxelOptions (the study, label names of a
  label map, whether PNG figures are drawn).

The runner (:func:`run_voxel_job`, the default ``dose_job_runner``) finds the study's
inputs (:func:`y90dose.pipeline.find_study_inputs`), calls
:func:`y90dose.voxel_dose`, writes the run into the job's output folder, and with it the
dosimetry report (:func:`write_job_report`: ``report.pdf``, and ``report.dcm`` when the
study's images are DICOM), served by ``GET /v1/dose-jobs/{id}/report``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from y90dose.pipeline.voxel_run import VoxelRun

REFUSED_OPTIONS = ("hu_density_curve",)
"""VoxelOptions fields a job may not set: they name a file on the server."""

REQUIRED_OPTIONS = ("lsf", "product")
"""VoxelOptions fields a job must state (the library defaults LSF to 0 and C to EANM's)."""

JOB_FIELDS = ("study_id", "roi_names", "write_pngs")
"""A job's fields that are not VoxelOptions: the study, label names, PNG figures."""

REPORT_PDF = "report.pdf"
REPORT_DICOM = "report.dcm"
"""The dosimetry report's files in a job's output folder (PDF; DICOM Encapsulated PDF)."""

_LEGACY_METHODS = {"kernel": "dvk", "local": "ldm", "dpk": "dvk", "convolution": "dvk"}


def _current(params: Mapping[str, Any]) -> dict[str, Any]:
    """Params of a job row stored before the flat job body (``options`` object, method
    ``kernel``), as today's fields, so that a job queued across an upgrade still runs."""
    from y90dose.errors import InputError

    current = dict(params)
    nested = dict(current.pop("options", None) or {})
    twice = sorted(set(nested) & set(current))
    if twice:
        raise InputError("options", twice, "each option once (as a field of the job)")
    current.update(nested)
    method = current.get("method")
    if isinstance(method, str) and method in _LEGACY_METHODS:
        current["method"] = _LEGACY_METHODS[method]
    return current


def run_voxel_job(
    study_dir: Path,
    params: dict[str, Any],
    output_dir: Path,
    progress: Callable[[float, str], None],
) -> dict[str, Any]:
    """Run one dose job: ``voxel_dose`` on the study, written into ``output_dir``.

    ``params`` are the job's stored body without ``study_id``; returns the run's JSON
    summary (``metrics.json``), with ``out_dir`` ``"."`` (files are served by name).

    Raises
    ------
    InputError, ImageError
        Options the study refuses, or a study without usable inputs; messages name the
        field (``normalize_to``) and the study's files.
    """
    from y90dose.errors import InputError
    from y90dose.pipeline import VoxelOptions, find_study_inputs, voxel_dose
    from y90dose.pipeline.outputs import METRICS_JSON, write_json

    current = _current(params)
    refused = sorted(set(current) & set(REFUSED_OPTIONS))
    if refused:
        raise InputError(refused[0], current[refused[0]], "no file paths in a dose job")
    roi_names = current.pop("roi_names", None)
    if roi_names is not None and not isinstance(roi_names, Mapping):  # not a server file
        raise InputError("roi_names", roi_names, 'an object {"1": "liver"}')
    write_pngs = current.pop("write_pngs", True)
    options = VoxelOptions.of(current)
    found = find_study_inputs(study_dir)
    run = voxel_dose(
        found.spect,
        found.vois,
        options=options,
        ct=found.ct,
        roi_names=roi_names if roi_names is not None else found.roi_names,
        progress=progress,
    )
    result = run.write(output_dir, write_pngs=bool(write_pngs), overwrite=False, progress=progress)
    summary = _without_server_paths(result.to_dict(), study_dir, output_dir)
    write_json(output_dir / METRICS_JSON, summary)  # the file served holds the same
    summary["report"] = write_job_report(run, study_dir, output_dir)
    return summary


def _without_server_paths(value: Any, study_dir: Path, output_dir: Path) -> Any:
    """``value`` (the run's JSON summary) with the server's folders hidden, as a failed
    job's message hides them: the study's as ``<study>`` (``inputs.spect_path``,
    ``vois.source``, warnings naming an image), the job's own as ``.`` (``out_dir``)."""
    from y90dose_service.jobs import hide_paths

    if isinstance(value, str):
        return hide_paths(value, {"<study>": study_dir, ".": output_dir})
    if isinstance(value, Mapping):
        return {k: _without_server_paths(v, study_dir, output_dir) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_server_paths(v, study_dir, output_dir) for v in value]
    return value


def write_job_report(run: VoxelRun, study_dir: Path, output_dir: Path) -> dict[str, Any]:
    """Write the job's dosimetry report: ``report.pdf``, and ``report.dcm`` (the same PDF as
    a DICOM Encapsulated PDF in the images' study) when the study's images are DICOM.

    The report names the job and study by the folders' names (``jobs/<job id>``,
    ``studies/<study id>/files``) and shows input paths relative to the study folder.

    Returns
    -------
    dict
        ``{"pdf": "report.pdf", "dicom": "report.dcm" or None, "dicom_refused": why
        not, or None}`` (the job result's ``report``).
    """
    import y90dose
    from y90dose.errors import ImageError
    from y90dose.imaging.encapsulated_pdf import dataset_bytes
    from y90dose.reports.dose import DoseReport, dose_report_dicom, dose_report_pdf

    report = DoseReport(
        run=run,
        software_version=y90dose.__version__,
        job_id=output_dir.name,
        study_id=study_dir.parent.name,
        computed_at=datetime.now(UTC).replace(microsecond=0),
        paths_relative_to=study_dir,
    )
    pdf = dose_report_pdf(report)
    (output_dir / REPORT_PDF).write_bytes(pdf)
    try:
        dicom = dose_report_dicom(report, pdf)
    except ImageError as refused:
        return {"pdf": REPORT_PDF, "dicom": None, "dicom_refused": refused.detail}
    (output_dir / REPORT_DICOM).write_bytes(dataset_bytes(dicom))
    return {"pdf": REPORT_PDF, "dicom": REPORT_DICOM, "dicom_refused": None}
