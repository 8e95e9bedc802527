"""The dosimetry report of a voxel run: a PDF for the medical record, and its DICOM form.

What the report says is decided by :func:`dose_report_rows` (pure, testable without a
PDF reader): the images and VOIs, the inputs with units (the activity in GBq and mCi),
how the image became activity (method, normalisation VOI, scaling factor, decay
correction), the dose method and kernel, the energy balance, the constants with their
sources, the metrics of every VOI (doses, D and V, BED/EQD2), the segmentectomy check,
every warning of the run, the software version and the inputs hash.
:func:`dose_report_pdf` lays them out with reportlab, with the DVHs and, for each
tumour, axial, coronal and sagittal slices through its centre
(:mod:`y90dose.reports.figures`), and returns the bytes. :func:`dose_report_dicom` puts
those bytes in a DICOM Encapsulated PDF in the study of the images
(:mod:`y90dose.imaging.encapsulated_pdf`). The caller writes them (the service's dose
jobs, ``y90dose voxel --report``).

The inputs hash (:func:`voxel_inputs_sha256`) is the SHA-256 of a canonical JSON of what
determines the result: the options, each image's geometry, units and voxel values, each
VOI's mask and the HU -> density curve. Two reports with the same hash were computed
from the same data with the same options, whatever the files were called.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from y90dose.constants import (
    AIR_DISPLAY_DENSITY_G_ML,
    LIVER_DENSITY_G_ML,
    MBQ_PER_MCI,
    NORMAL_LIVER_ALPHA_BETA_GY,
    NORMAL_LIVER_REPAIR_HALF_TIME_H,
    TUMOR_ALPHA_BETA_GY,
    TUMOR_REPAIR_HALF_TIME_H,
    Y90_HALF_LIFE_H,
)
from y90dose.errors import ImageError
from y90dose.reports import layout
from y90dose.units import field_unit, gbq_to_mci

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from y90dose.imaging.image import Image
    from y90dose.pipeline.voxel_run import VoxelRun

TITLE = "Y-90 voxel dosimetry report"
METHOD_TEXT = {
    "ldm": "local deposition: D = C x A / m in each voxel",
    "dvk": "dose-voxel-kernel convolution (soft-tissue kernel)",
    "dvk_heterogeneous": "heterogeneous engine: density-scaled kernels (lung and bone capable)",
}
INPUT_PATHS = ("spect_path", "ct_path", "rois_path")
SLICE_CHUNK = 64
"""Image slices hashed at a time (each converted to float64: bounded memory)."""


@dataclass(frozen=True, kw_only=True)
class DoseReport:
    """Everything a dosimetry report shows: the run and where and when it was computed.

    ``paths_relative_to``: input paths under this folder are shown relative to it (the
    service's study folder: the server's own paths stay out of the report).
    """

    run: VoxelRun
    software_version: str
    job_id: str | None = None
    study_id: str | None = None
    computed_by: str | None = None
    computed_at: datetime | None = None
    paths_relative_to: Path | None = None


def _array_sha256(array: np.ndarray[Any, Any]) -> str:
    digest = hashlib.sha256()
    values = np.asarray(array)
    for start in range(0, max(values.shape[0], 1), SLICE_CHUNK):
        chunk = np.ascontiguousarray(values[start : start + SLICE_CHUNK], dtype="<f8")
        digest.update(chunk.tobytes())
    return digest.hexdigest()


def _image_record(image: Image | None) -> dict[str, Any] | None:
    if image is None:
        return None
    return {
        "shape_zyx": list(image.shape_zyx),
        "spacing_mm": list(image.spacing_mm),
        "origin_mm": list(image.origin_mm),
        "direction": image.direction.ravel().tolist(),
        "units": image.units,
        "values_sha256": _array_sha256(image.array),
    }


def voxel_inputs_sha256(run: VoxelRun) -> str:
    """Hex SHA-256 of the canonical JSON of what determines a voxel run's result.

    Canonical: keys sorted, no spaces; ``options`` (the run's options, the HU -> density
    curve's file name left out), ``emission`` and ``ct`` (shape, spacing, origin,
    direction, units and the SHA-256 of the values as little-endian float64), ``vois``
    (name -> SHA-256 of the packed mask on the dose grid) and ``hu_density_curve`` (its
    points, or null).
    """
    options = run.options.model_dump(mode="json", exclude={"hu_density_curve"})
    curve = run.study.hu_density_curve
    canonical = json.dumps(
        {
            "options": options,
            "emission": _image_record(run.study.spect),
            "ct": _image_record(run.study.ct),
            "vois": {
                name: hashlib.sha256(np.packbits(mask).tobytes()).hexdigest()
                for name, mask in sorted(run.study.vois.items())
            },
            "hu_density_curve": [list(p) for p in curve.points] if curve else None,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def _gy(value: float | None) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value:.1f}"


def _gbq(value: float) -> str:
    return f"{value:.4g} GBq ({gbq_to_mci(value):.2f} mCi)"


def _shown_path(path: Any, report: DoseReport) -> str:
    if path is None:
        return "none"
    given = Path(str(path))
    base = report.paths_relative_to
    if base is not None:
        try:
            relative = given.resolve().relative_to(base.resolve()).as_posix()
        except ValueError:
            return given.name
        return "study folder" if relative == "." else f"study folder/{relative}"
    return str(given)


def _patient(run: VoxelRun) -> tuple[str, str]:
    """(patient, study) lines from the DICOM attributes of the images."""
    tags: dict[str, Any] = {}
    for image in (run.ct, run.spect):
        if image is not None and image.patient_study:
            tags = dict(image.patient_study)
            break
    if not tags:
        return "not in the images (no DICOM input)", "not in the images (no DICOM input)"
    patient = f"{tags.get('PatientName') or 'no name'} (ID {tags.get('PatientID') or 'none'})"
    study_date = str(tags.get("StudyDate") or "")
    date_text = (
        f"{study_date[:4]}-{study_date[4:6]}-{study_date[6:8]}" if len(study_date) == 8 else ""
    )
    study = ", ".join(
        part
        for part in (
            date_text,
            str(tags.get("StudyDescription") or ""),
            f"accession {tags['AccessionNumber']}" if tags.get("AccessionNumber") else "",
            f"UID {tags.get('StudyInstanceUID') or 'unknown'}",
        )
        if part
    )
    return patient, study


def _image_line(image: Image | None, path: Any, report: DoseReport) -> str:
    if image is None:
        return "none"
    nz, ny, nx = image.shape_zyx
    sx, sy, sz = image.spacing_mm
    series = f"series {image.series_instance_uid}" if image.series_instance_uid else ""
    return "; ".join(
        part
        for part in (
            f"{image.modality or 'image'} in {image.units or 'no stated units (counts)'}",
            f"{nx} x {ny} x {nz} voxels of {sx:.3g} x {sy:.3g} x {sz:.3g} mm",
            series,
            _shown_path(path, report),
        )
        if part
    )


def _header(report: DoseReport) -> list[tuple[str, str]]:
    from y90dose.pipeline.run import DOSE_QUANTITY

    run = report.run
    patient, study = _patient(run)
    computed = " ".join(
        p
        for p in (
            report.computed_by or "",
            f"{report.computed_at:%Y-%m-%d %H:%M %Z}" if report.computed_at else "",
        )
        if p
    )
    source = run.voi_source
    rows = [
        ("patient", patient),
        ("study", study),
        ("emission image", _image_line(run.spect, run.inputs.spect_path, report)),
        ("CT", _image_line(run.ct, run.inputs.ct_path, report)),
        (
            "VOIs",
            f"{source.kind} {_shown_path(source.path, report)}: {', '.join(run.vois)}; "
            f"tumours {', '.join(run.tumour_vois) or 'none'}",
        ),
        ("dose quantity", DOSE_QUANTITY),
    ]
    if report.job_id or report.study_id:
        rows.append(
            (
                "dose job",
                " ".join(
                    p
                    for p in (
                        report.job_id or "",
                        f"(study {report.study_id})" if report.study_id else "",
                    )
                    if p
                ),
            )
        )
    rows.append(("computed", computed or "not stated"))
    return rows


def _inputs(run: VoxelRun) -> list[tuple[str, str, str]]:
    rows = []
    for name, value in run.inputs.model_dump(mode="json").items():
        if name in INPUT_PATHS:
            continue
        unit = field_unit(name)
        if value is None:
            text = "not given"
        elif name == "activity_gbq":
            text, unit = f"{value:.4g} GBq = {gbq_to_mci(value):.2f} mCi", "GBq"
        elif isinstance(value, list):
            text = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value) or "none"
        elif isinstance(value, bool):
            text = "yes" if value else "no"
        elif isinstance(value, float):
            text = f"{value:g}"
        else:
            text = str(value)
        rows.append((name, text, unit))
    return rows


def _activity(run: VoxelRun) -> list[tuple[str, str]]:
    activity = run.activity
    per = {
        "counts_scaled": "GBq per count",
        "predictive_maa": "GBq per count",
        "concentration_bq_ml": "GBq per (Bq/mL) in one voxel",
        "concentration_rescaled": "GBq per (Bq/mL) in one voxel",
    }[activity.method.value]
    rows = [
        ("how the image became activity", activity.description),
        ("activity method", activity.method.value),
        ("scaling factor", f"{activity.scale_factor:.6g} {per}"),
        ("normalisation VOI", activity.mask_name or "none (the image's own calibration)"),
    ]
    if activity.target_activity_gbq is not None:
        rows.append(
            (
                "activity the VOI was scaled to",
                f"{_gbq(activity.target_activity_gbq)} = activity x (1 - LSF) x (1 - residual)",
            )
        )
    rows += [
        ("activity in the normalisation VOI", _gbq(activity.activity_in_mask_gbq)),
        (
            "activity outside it",
            f"{_gbq(activity.activity_outside_mask_gbq)}, "
            f"{100 * activity.fraction_outside_mask:.1f} % of the image",
        ),
        ("activity in the image", _gbq(activity.total_activity_gbq)),
    ]
    if run.decay_correction:
        rows.append(("decay correction", str(run.decay_correction.get("description", ""))))
    if run.image_calibration:
        calibration = run.image_calibration
        rows.append(
            (
                "image's own calibration",
                f"{_gbq(calibration['image_activity_in_voi_gbq'])} in {calibration['voi']!r}; "
                f"rescaled by {calibration['factor']:.6g}",
            )
        )
    return rows


def _kernel_text(kernel: dict[str, Any]) -> str:
    """One kernel record in words: source, tissue, density and voxel size."""
    size = " x ".join(f"{v:g}" for v in kernel.get("voxel_size_zyx_mm", []))
    return (
        f"{kernel.get('source')} ({kernel.get('tissue')} tissue, "
        f"{kernel.get('density_g_ml', '')} g/mL), voxel {size} mm"
    )


def _method(run: VoxelRun) -> list[tuple[str, str]]:
    dose = run.dose_result
    rows = [("dose method", f"{dose.method.value}: {METHOD_TEXT.get(dose.method.value, '')}")]
    kernel = dose.kernel
    if kernel:
        # dvk: one kernel record; dvk_heterogeneous: its engine and a record per medium
        media: dict[str, Any] = kernel.get("kernels") or {}
        if media:
            described = "; ".join(f"{name}: {_kernel_text(k)}" for name, k in media.items())
            kernel_text = f"{kernel.get('engine', kernel.get('source'))}; {described}"
        else:
            kernel_text = _kernel_text(kernel)
        scale = kernel.get("kernel_scale_factor")
        energy = kernel.get("kernel_energy_j_per_gbq")
        scaling = f"{kernel.get('normalisation')}: to C {run.energy_j_per_gbq:g} J/GBq"
        if scale is not None and energy is not None:
            scaling = (
                f"x {scale:.6g} ({kernel.get('normalisation')}: kernel {energy:.5g} J/GBq "
                f"-> C {run.energy_j_per_gbq:g} J/GBq)"
            )
        references = [str(k["reference"]) for k in [kernel, *media.values()] if k.get("reference")]
        rows += [
            ("kernel", kernel_text),
            ("kernel scaling", scaling),
            ("kernel source", "; ".join(dict.fromkeys(references))),
        ]
    else:
        rows.append(("kernel", "none (local deposition)"))
    density = run.density_info
    if density.get("source") == "uniform":
        density_text = f"uniform {density.get('density_g_ml')} g/mL"
    else:
        density_text = (
            f"{density.get('method', 'from the CT')}; curve {density.get('hu_density_curve')}"
        )
    rows.append(("density", density_text))
    released = dose.energy_j_per_gbq * dose.administered_in_image_gbq
    rows.append(
        (
            "energy balance",
            f"released {released:.4g} J, deposited in the grid {dose.deposited_energy_j:.4g} J "
            f"({100 * max(0.0, dose.escaped_energy_fraction):.2f} % left the grid)",
        )
    )
    nz, ny, nx = run.dose_image.shape_zyx
    sx, sy, sz = run.dose_image.spacing_mm
    rows.append(
        (
            "dose grid",
            f"the emission image's: {nx} x {ny} x {nz} of {sx:.3g} x {sy:.3g} x {sz:.3g} mm",
        )
    )
    return rows


def _constants(run: VoxelRun) -> list[tuple[str, str, str]]:
    rows = [
        ("energy per GBq, C", f"{run.energy_j_per_gbq:g} J/GBq", run.energy_source),
        ("Y-90 half-life", f"{Y90_HALF_LIFE_H.value:g} h", Y90_HALF_LIFE_H.source),
    ]
    if run.density_info.get("source") == "uniform":
        rows.append(
            (
                "liver density (everywhere)",
                f"{LIVER_DENSITY_G_ML.value:g} g/mL",
                LIVER_DENSITY_G_ML.source,
            )
        )
    else:
        points = run.density_info.get("hu_density_points") or []
        rows.append(
            (
                "HU -> density curve",
                "; ".join(f"{hu:g} HU: {rho:g} g/mL" for hu, rho in points),
                str(run.density_info.get("hu_density_curve", "")),
            )
        )
    for constant in (
        TUMOR_ALPHA_BETA_GY,
        TUMOR_REPAIR_HALF_TIME_H,
        NORMAL_LIVER_ALPHA_BETA_GY,
        NORMAL_LIVER_REPAIR_HALF_TIME_H,
        MBQ_PER_MCI,
    ):
        rows.append((constant.name, f"{constant.value:g} {constant.unit}", constant.source))
    return rows


def _metric_tables(run: VoxelRun) -> dict[str, Any]:
    names = list(run.voi_metrics)
    first = run.voi_metrics[names[0]] if names else None
    d_keys = list(first.d_gy) if first else []
    v_keys = list(first.v_percent) if first else []
    doses = [
        (
            name,
            f"{m.volume_ml:.1f}",
            f"{m.mass_g:.1f}",
            _gy(m.mean_gy),
            _gy(m.median_gy),
            _gy(m.min_gy),
            _gy(m.max_gy),
            _gy(m.mean_absorbed_gy),
        )
        for name, m in run.voi_metrics.items()
    ]
    dx = [(name, *(_gy(m.d_gy.get(k)) for k in d_keys)) for name, m in run.voi_metrics.items()]
    vx = [
        (name, *(f"{m.v_percent.get(k, float('nan')):.1f}" for k in v_keys))
        for name, m in run.voi_metrics.items()
    ]
    radiobiology = []
    for name, m in run.voi_metrics.items():
        params = m.radiobiology
        if params is None:
            continue
        radiobiology.append(
            (
                name,
                f"{params.name}: a/b {params.alpha_beta_gy:g} Gy, "
                f"T rep {params.repair_half_time_h:g} h",
                _gy(m.bed_of_mean_gy),
                _gy(m.eqd2_of_mean_gy),
                _gy(m.mean_bed_gy),
                _gy(m.mean_eqd2_gy),
                _gy(m.eud_gy),
            )
        )
    return {
        "doses": doses,
        "d_keys": [f"{k} Gy" for k in d_keys],
        "dx": dx,
        "v_keys": [f"{k} %" for k in v_keys],
        "vx": vx,
        "radiobiology": radiobiology,
    }


def _segmentectomy(run: VoxelRun) -> dict[str, Any] | None:
    check = run.segmentectomy
    if check is None:
        return None
    return {
        "floor": f"{check.floor_gy:g} Gy ({check.definition}: {check.floor_citation})",
        "rows": [
            (row.voi, row.role, _gy(row.mean_gy), _gy(row.d70_gy), f"{row.v200_percent:.1f}")
            for row in check.doses
        ],
        "findings": [(f.severity.value, f.code.value, f.message) for f in check.findings],
    }


def slice_targets(run: VoxelRun) -> list[str]:
    """The VOIs the report shows slices through: each tumour, else the normalisation VOI."""
    if run.tumour_vois:
        return list(run.tumour_vois)
    fallback = run.activity.mask_name or next(iter(run.vois), None)
    return [fallback] if fallback is not None and fallback in run.vois else []


def dose_report_rows(report: DoseReport) -> dict[str, Any]:
    """What the report says, section by section, as text (no layout, no figure).

    Returns
    -------
    dict
        ``title``, ``header``, ``inputs`` (name, value, unit), ``activity``, ``method``
        (label, text), ``constants`` (name, value, source), ``metrics`` (tables),
        ``segmentectomy`` (or None), ``warnings``, ``slices`` (VOI names), ``software``
        and ``inputs_sha256``.
    """
    from y90dose.pipeline.voxel_run import LUNG_KERNEL_STATEMENT

    run = report.run
    return {
        "title": TITLE,
        "header": _header(report),
        "inputs": _inputs(run),
        "activity": _activity(run),
        "method": _method(run),
        "energy_note": run.energy_note or "",
        "constants": _constants(run),
        "metrics": _metric_tables(run),
        "segmentectomy": _segmentectomy(run),
        "warnings": [*run.warnings, LUNG_KERNEL_STATEMENT],
        "slices": slice_targets(run),
        "software": f"y90dose {report.software_version}",
        "inputs_sha256": voxel_inputs_sha256(run),
    }


def _png_flowable(png: bytes, width_pt: float) -> Any:
    from reportlab.lib.utils import ImageReader
    from reportlab.platypus import Image as PdfImage

    reader = ImageReader(io.BytesIO(png))
    pixels_wide, pixels_high = reader.getSize()
    return PdfImage(io.BytesIO(png), width=width_pt, height=width_pt * pixels_high / pixels_wide)


def dose_report_pdf(report: DoseReport) -> bytes:
    """The dosimetry report as PDF bytes (A4).

    Raises
    ------
    ImportError
        reportlab is not installed (``pip install 'y90dose[report]'``).
    """
    from reportlab.lib import colors
    from reportlab.lib.units import mm
    from reportlab.platypus import KeepTogether, Spacer, TableStyle

    from y90dose.reports import figures

    run = report.run
    rows = dose_report_rows(report)
    look = layout.styles()
    width = layout.content_width_pt()

    def p(text: str, style: Any = look.body) -> Any:
        return layout.paragraph(text, style)

    def table(data: Any, fractions: list[float], head: Any, **options: Any) -> Any:
        return layout.table(data, [f * width for f in fractions], head, look, **options)

    story: list[Any] = [p(rows["title"], look.title), Spacer(1, 3 * mm)]
    story.append(
        table(
            [
                *rows["header"],
                ("software", rows["software"]),
                ("inputs SHA-256", rows["inputs_sha256"]),
            ],
            [0.2, 0.8],
            None,
        )
    )
    story += [
        p("Inputs", look.heading),
        table(rows["inputs"], [0.3, 0.45, 0.25], ("input", "value", "unit")),
        p("Activity and scaling", look.heading),
        table(rows["activity"], [0.3, 0.7], None),
        p("Method and kernel", look.heading),
        table(rows["method"], [0.2, 0.8], None),
        p("Constants", look.heading),
        table(rows["constants"], [0.26, 0.26, 0.48], ("constant", "value", "source")),
    ]
    if rows["energy_note"]:
        story.append(p(f"C: {rows['energy_note']}", look.small))

    metrics = rows["metrics"]
    story += [
        p("Dose per VOI (Gy, absorbed dose to complete decay)", look.heading),
        table(
            metrics["doses"],
            [0.2] + [0.8 / 7] * 7,
            ("VOI", "volume mL", "mass g", "mean", "median", "min", "max", "energy/mass"),
            align_right_from=1,
        ),
    ]
    n_d, n_v = len(metrics["d_keys"]), len(metrics["v_keys"])
    if n_d:
        story.append(Spacer(1, 2 * mm))
        story.append(
            table(
                metrics["dx"],
                [0.2] + [0.8 / n_d] * n_d,
                ("VOI", *metrics["d_keys"]),
                align_right_from=1,
            )
        )
    if n_v:
        story.append(Spacer(1, 2 * mm))
        story.append(
            table(
                metrics["vx"],
                [0.2] + [0.8 / n_v] * n_v,
                ("VOI", *metrics["v_keys"]),
                align_right_from=1,
            )
        )
    story.append(
        p(
            "Dx: minimum dose to the hottest x % of the VOI; Vt: % of the VOI receiving at "
            "least t Gy; energy/mass: the VOI's deposited energy over its mass.",
            look.small,
        )
    )
    if metrics["radiobiology"]:
        story += [
            p("Radiobiology (Gy)", look.heading),
            table(
                metrics["radiobiology"],
                [0.16, 0.29, 0.11, 0.11, 0.11, 0.11, 0.11],
                ("VOI", "tissue", "BED of mean", "EQD2 of mean", "mean BED", "mean EQD2", "EUD"),
                align_right_from=2,
            ),
        ]
    segmentectomy = rows["segmentectomy"]
    if segmentectomy is not None:
        story += [
            p(f"Segmentectomy check against {segmentectomy['floor']}", look.heading),
            table(
                segmentectomy["rows"],
                [0.3, 0.16, 0.18, 0.18, 0.18],
                ("VOI", "role", "mean Gy", "D70 Gy", "V200 %"),
                align_right_from=2,
            ),
        ]
        if segmentectomy["findings"]:
            findings = table(
                segmentectomy["findings"], [0.11, 0.3, 0.59], ("severity", "code", "message")
            )
            findings.setStyle(
                TableStyle(
                    [
                        (
                            "TEXTCOLOR",
                            (0, i + 1),
                            (0, i + 1),
                            colors.HexColor(layout.SEVERITY_COLOURS[s]),
                        )
                        for i, (s, _, _) in enumerate(segmentectomy["findings"])
                    ]
                )
            )
            story.append(findings)
    story.append(p("Warnings and statements", look.heading))
    story += [p(f"- {warning}") for warning in rows["warnings"]]

    story.append(
        KeepTogether(
            [
                p("Cumulative dose-volume histograms", look.heading),
                _png_flowable(figures.dvh_png(run), width),
            ]
        )
    )
    targets = rows["slices"]
    if targets:
        top = figures.dose_scale_top_gy(run)
        for target in targets:
            m = run.voi_metrics[target]
            centre = figures.centroid_mm(run, target)
            caption = (
                f"{target}: mean {_gy(m.mean_gy)} Gy, D70 {_gy(m.d_gy.get('D70'))} Gy, "
                f"max {_gy(m.max_gy)} Gy; planes through its centroid "
                f"({', '.join(f'{v:.1f}' for v in centre)}) mm (x, y, z, DICOM patient "
                f"coordinates). Dose colour scale 0-{top:.0f} Gy (the highest dose drawn in any "
                "VOI) for every figure; no dose "
                f"drawn below {100 * figures.WASH_FLOOR_FRACTION:g} % of it or where the "
                f"density is below {AIR_DISPLAY_DENSITY_G_ML.value:g} g/mL (air)."
                + (
                    f" CT window {figures.CT_WINDOW_HU[0]:g} to {figures.CT_WINDOW_HU[1]:g} HU."
                    if run.ct is not None
                    else " No CT: the dose alone, on the emission grid."
                )
            )
            story.append(
                KeepTogether(
                    [
                        p(f"Slices through {target}", look.heading),
                        _png_flowable(figures.slices_png(run, target, dose_max_gy=top), width),
                        p(caption, look.small),
                    ]
                )
            )

    decorate = layout.footer(
        look, f"{rows['software']} - inputs SHA-256 {rows['inputs_sha256'][:16]}"
    )
    return layout.build_pdf(
        story,
        title=f"{TITLE} {report.job_id or ''}".strip(),
        subject="Y-90 voxel dosimetry report",
        decorate=decorate,
    )


def dicom_study_image(run: VoxelRun) -> Image | None:
    """The image whose patient and study a DICOM report is filed in: the one the run's
    RT Dose references (the CT, else the emission image), or None without DICOM input."""
    from y90dose.pipeline.outputs import rtdose_reference

    reference = rtdose_reference(run)
    if reference == "CT":
        return run.ct
    if reference == "emission image":
        return run.spect
    return None


def require_dicom_study(run: VoxelRun) -> Image:
    """The image a DICOM report is filed with (:func:`dicom_study_image`), or a refusal.

    Raises
    ------
    ImageError
        The images are not DICOM: no patient or study to file a report in.
    """
    image = dicom_study_image(run)
    if image is None:
        raise ImageError(
            "a DICOM report needs DICOM images: these have no StudyInstanceUID and "
            "FrameOfReferenceUID (NIfTI or similar), and a DICOM report is filed in the "
            "patient's study of the images it describes; use the PDF report"
        )
    return image


def dose_report_dicom(
    report: DoseReport, pdf: bytes, *, content_datetime: datetime | None = None
) -> Dataset:
    """``pdf`` (:func:`dose_report_pdf`) as a DICOM Encapsulated PDF in the images' study.

    The UIDs are derived from the PDF's SHA-256: the same document gets the same
    instance (sent twice, PACS files it once); another document gets new UIDs.

    Raises
    ------
    ImageError
        The images are not DICOM: there is no patient or study to file the report in.
    """
    from y90dose.imaging.dicom_write import StudyInfo
    from y90dose.imaging.encapsulated_pdf import build_encapsulated_pdf, source_instances

    run = report.run
    image = require_dicom_study(run)
    return build_encapsulated_pdf(
        pdf,
        StudyInfo.from_image(image),
        document_title=TITLE,
        series_description="Y-90 dosimetry report",
        sources=source_instances([run.spect, run.ct]),
        uid_seed=hashlib.sha256(pdf).hexdigest(),
        content_datetime=content_datetime or report.computed_at or datetime.now(UTC),
    )
