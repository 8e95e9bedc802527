"""``y90dose voxel``: voxel dosimetry of a SPECT/PET study (activity -> dose -> metrics).

The options are :class:`~y90dose.pipeline.options.VoxelOptions`' fields, generated
(:mod:`y90dose.cli.model_options`): ``activity_gbq`` is ``--activity-gbq``,
``tumor_rois`` is ``--tumor-roi`` (repeated). The command calls
:func:`y90dose.voxel_dose` and writes the run with ``run.write(--out)``; with
``--report FILE.pdf`` (and ``--report-dicom FILE.dcm``) also the dosimetry report
(:mod:`y90dose.reports.dose`), the document the service's dose jobs serve.
"""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from y90dose.cli.curves_option import add_curves_option, check_curves_path, write_curves
from y90dose.cli.image_limits import add_max_voxels_option, max_voxels_from
from y90dose.cli.main import COMMANDS
from y90dose.cli.model_options import add_model_options, model_from_args, option_error
from y90dose.cli.output import CommandOutput, add_json_flag
from y90dose.cli.progress import TerminalProgress, quiet_library_warnings
from y90dose.errors import InputError
from y90dose.pipeline.options import VoxelOptions
from y90dose.pipeline.outputs import check_out_dir
from y90dose.pipeline.run import VoxelRunResult, voxel_dose
from y90dose.pipeline.voxel_run import VoxelRun
from y90dose.segmentectomy import verification_text

DEFAULT_OUT = "y90dose-voxel"
MEAN_DIFFERENCE = 0.01
"""Report the energy/mass mean of a VOI when it differs from the voxel mean by over 1 %."""

OPTION_RENAMES = {"tumor_rois": "tumor_roi"}
"""VoxelOptions fields whose option is not the field's name (a repeated option, singular)."""
INPUT_OPTIONS = {"vois": "rois", "overwrite": "overwrite"}
"""The API's input names whose option differs (``voxel_dose(spect, vois, ct=...)``), and
``write(overwrite=)``, which the output folder's message names."""


def register(subparsers: Any) -> None:
    """Add ``voxel``: its inputs and outputs, then one option per VoxelOptions field."""
    text = COMMANDS["voxel"]
    parser = subparsers.add_parser("voxel", help=text, description=text)
    parser.add_argument(
        "--spect",
        required=True,
        metavar="PATH",
        help="emission image: DICOM folder or file, or NIfTI/NRRD/MHA file",
    )
    parser.add_argument("--ct", metavar="PATH", help="CT (DICOM folder or image file, HU)")
    parser.add_argument(
        "--rois",
        required=True,
        metavar="PATH",
        help="VOIs: RTSTRUCT file, or a label map (names by --roi-names)",
    )
    parser.add_argument(
        "--roi-names",
        metavar="JSON",
        help='label names of a label map: {"1": "liver", "2": "tumor1"} or '
        "a JSON file (default: <labelmap>.json or names.json beside it)",
    )
    add_model_options(parser, VoxelOptions, renames=OPTION_RENAMES)
    parser.add_argument(
        "--out",
        default=DEFAULT_OUT,
        metavar="DIR",
        help=f"output folder, new or empty (default ./{DEFAULT_OUT})",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace the files of a previous run in --out"
    )
    parser.add_argument("--no-png", action="store_true", help="skip the PNG figures")
    report = parser.add_argument_group("report")
    report.add_argument(
        "--report",
        metavar="FILE.pdf",
        type=Path,
        help="also write the dosimetry report (PDF: inputs, activity scaling, method, "
        "kernel, constants with sources, metrics, DVH, slices through each tumour); needs "
        "reportlab (pip install 'y90dose[report]')",
    )
    report.add_argument(
        "--report-dicom",
        metavar="FILE.dcm",
        type=Path,
        help="also write the same PDF as a DICOM Encapsulated PDF in the study of the "
        "images (DICOM inputs only)",
    )
    add_curves_option(parser)
    add_max_voxels_option(parser, emission=True)
    add_json_flag(parser)
    parser.set_defaults(handler=run, field_options={**INPUT_OPTIONS, **OPTION_RENAMES})


def run(args: argparse.Namespace) -> CommandOutput:
    """Run the pipeline and report per-VOI metrics."""
    with quiet_library_warnings(), max_voxels_from(args):
        return _run(args)


def _report_file(option: str, path: Path | None) -> Path | None:
    """A report file that can be written, checked before the run (refused early)."""
    if path is None:
        return None
    if path.is_dir():
        raise InputError(option, str(path), "a file name (this is a folder)")
    folder = path.absolute().parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(option, str(path), f"a file in a folder that can be written ({folder})")
    return path


def _write_reports(run: VoxelRun, pdf_path: Path | None, dicom_path: Path | None) -> None:
    import y90dose
    from y90dose.imaging.encapsulated_pdf import dataset_bytes
    from y90dose.reports.dose import DoseReport, dose_report_dicom, dose_report_pdf

    report = DoseReport(
        run=run,
        software_version=y90dose.__version__,
        computed_at=datetime.now(UTC).replace(microsecond=0),
    )
    pdf = dose_report_pdf(report)
    files = [(pdf_path, "--report", pdf)] if pdf_path else []
    if dicom_path is not None:
        files.append((dicom_path, "--report-dicom", dataset_bytes(dose_report_dicom(report, pdf))))
    for path, option, data in files:
        try:
            path.write_bytes(data)
        except OSError as exc:
            raise InputError(
                option, str(path), f"a file that can be written ({exc.strerror})"
            ) from None


def _run(args: argparse.Namespace) -> CommandOutput:
    options = model_from_args(VoxelOptions, args, renames=OPTION_RENAMES)
    pdf_path = _report_file("--report", args.report)
    dicom_path = _report_file("--report-dicom", args.report_dicom)
    check_curves_path(args.curves)
    progress = TerminalProgress()
    try:
        # as run_voxel_dosimetry: the folder checked first, written once the dose is computed
        check_out_dir(args.out, overwrite=args.overwrite)
        run = voxel_dose(
            args.spect,
            args.rois,
            options=options,
            ct=args.ct,
            roi_names=args.roi_names,
            progress=progress,
        )
        if dicom_path is not None:
            from y90dose.reports.dose import require_dicom_study

            require_dicom_study(run)
        result = run.write(
            args.out, write_pngs=not args.no_png, overwrite=args.overwrite, progress=progress
        )
    except InputError as exc:  # an option the images refuse (normalize_to, liver_roi...)
        raise option_error(exc, VoxelOptions, OPTION_RENAMES) from None
    finally:
        progress.close()
    if pdf_path is not None or dicom_path is not None:
        _write_reports(run, pdf_path, dicom_path)
    output = CommandOutput(data=result.to_dict(), human=voxel_text(result))
    if args.curves is not None:
        from y90dose.pipeline.curves import voxel_curves

        curves = voxel_curves(run)
        line = write_curves(args.curves, curves)
        output = CommandOutput(
            data={**output.data, "curves": curves.model_dump(mode="json")},
            human=f"{output.human}\n{line}",
        )
    return output


def _number(value: Any, digits: int = 1) -> str:
    return "-" if not isinstance(value, int | float) else f"{value:.{digits}f}"


def _kernel_text(kernel: dict[str, Any] | None) -> str:
    """The kernel(s) of the run: one (dvk), one per medium (dvk_heterogeneous), none (ldm)."""
    if not kernel:
        return ""
    if "kernels" in kernel:  # dvk_heterogeneous
        media = ", ".join(f"{medium} {k['source']}" for medium, k in kernel["kernels"].items())
        return f", kernels per medium: {media}"
    size = " x ".join(f"{v:g}" for v in kernel["voxel_size_zyx_mm"])
    return f", kernel {kernel['source']} ({kernel['tissue']} tissue, voxel {size} mm z y x)"


def _uncertainty_lines(result: VoxelRunResult) -> list[str]:
    """Each VOI's mean dose with its 95 % interval and the SD of each component."""
    rows = [
        (name, m, m.mean_uncertainty)
        for name, m in result.metrics.items()
        if m.mean_uncertainty is not None
    ]
    if not rows:
        return []
    first = rows[0][2]
    assert first is not None
    lines = [
        "",
        f"mean dose, {100 * first.level:g} % interval (SD Gy: calibration "
        f"{first.calibration_sd_percent:g} %, partial volume at {first.resolution_fwhm_mm:g} mm "
        "FWHM, delineation +/- 1 voxel):",
    ]
    for name, metrics, u in rows:
        assert u is not None
        lines.append(
            f"  {name[:16]:<16} {metrics.mean_gy:.1f} [{u.low_gy:.1f} - {u.high_gy:.1f}]  "
            f"SD {u.sd_gy:.1f} (calibration {u.calibration_sd_gy:.1f}, partial volume "
            f"{u.partial_volume_sd_gy:.1f}, RC {u.recovery_coefficient:.2f}, delineation "
            f"{u.delineation_sd_gy:.1f})"
        )
    return lines


def voxel_text(result: VoxelRunResult) -> str:
    """The run as a short report: method, scaling, per-VOI table, warnings, files."""
    lines = [
        f"{result.dose_quantity}; method {result.method.upper()}{_kernel_text(result.kernel)}",
        *([f"engine: {result.method_reason}"] if result.method_reason else []),
        f"C = {result.energy_j_per_gbq:g} J/GBq ({result.energy_source})",
        *([f"note: {result.energy_note}"] if result.energy_note else []),
        f"activity: {result.activity['description']}",
        *(
            [f"decay: {result.activity['decay_correction']['description']}"]
            if result.activity.get("decay_correction")
            else []
        ),
        f"density: {result.density.get('source')}",
        f"energy: {max(0.0, result.energy_balance.escaped_energy_fraction) * 100:.2f} % of the "
        "released energy left the grid",
        "",
        f"{'VOI':<16} {'mL':>9} {'mean Gy':>9} {'D70 Gy':>9} {'D90 Gy':>9} "
        f"{'max Gy':>9} {'V100 %':>8}",
    ]
    for name, metrics in result.metrics.items():
        m = metrics.model_dump()
        lines.append(
            f"{name[:16]:<16} {_number(m.get('volume_ml')):>9} {_number(m.get('mean_gy')):>9} "
            f"{_number(m.get('d70_gy')):>9} {_number(m.get('d90_gy')):>9} "
            f"{_number(m.get('max_gy')):>9} {_number(m.get('v100_percent')):>8}"
        )
    lines += _uncertainty_lines(result)
    lines.append("")
    for name, metrics in result.metrics.items():
        mean, absorbed = metrics.mean_gy, metrics.mean_absorbed_gy
        if mean and absorbed is not None and abs(absorbed - mean) > MEAN_DIFFERENCE * mean:
            lines.append(
                f"note: {name}: mean absorbed dose (energy / mass) {absorbed:.1f} Gy, "
                f"{100 * (absorbed - mean) / mean:+.1f} % from the voxel mean {mean:.1f} Gy "
                "(low-density voxels in the VOI)"
            )
    if result.segmentectomy is not None:
        lines += [*verification_text(result.segmentectomy), ""]
    lines.append(f"note: {result.lung_statement}")
    for warning in result.warnings:
        lines.append(f"warning: {warning}")
    lines.append(f"output: {result.out_dir}")
    lines += [f"  {name}" for name in result.files.values()]
    return "\n".join(lines)
