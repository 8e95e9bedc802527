"""``y90dose voxel``: voxel dosimetry of a SPECT/PET study (activity -> dose -> metrics).

The options are :class:`~y90dose.pipeline.options.VoxelOptions`' fields, generated
(:mod:`y90dose.cli.model_options`): ``activity_gbq`` is ``--activity-gbq``,
``tumor_rois`` is ``--tumor-roi`` (repeated). The command calls
:func:`y90dose.voxel_dose` and writes the run with ``run.write(--out)``.
"""

from __future__ import annotations

import argparse
from typing import Any

from y90dose.cli.image_limits import add_max_voxels_option, max_voxels_from
from y90dose.cli.main import COMMANDS
from y90dose.cli.model_options import add_model_options, model_from_args, option_error
from y90dose.cli.output import CommandOutput, add_json_flag
from y90dose.cli.progress import TerminalProgress, quiet_library_warnings
from y90dose.errors import InputError
from y90dose.pipeline.options import VoxelOptions
from y90dose.pipeline.run import VoxelRunResult, run_voxel_dosimetry
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
    add_max_voxels_option(parser, emission=True)
    add_json_flag(parser)
    parser.set_defaults(handler=run, field_options={**INPUT_OPTIONS, **OPTION_RENAMES})


def run(args: argparse.Namespace) -> CommandOutput:
    """Run the pipeline and report per-VOI metrics."""
    with quiet_library_warnings(), max_voxels_from(args):
        return _run(args)


def _run(args: argparse.Namespace) -> CommandOutput:
    options = model_from_args(VoxelOptions, args, renames=OPTION_RENAMES)
    progress = TerminalProgress()
    try:
        result = run_voxel_dosimetry(
            args.spect,
            args.rois,
            args.out,
            options=options,
            ct=args.ct,
            roi_names=args.roi_names,
            write_pngs=not args.no_png,
            overwrite=args.overwrite,
            progress=progress,
        )
    except InputError as exc:  # an option the images refuse (normalize_to, liver_roi...)
        raise option_error(exc, VoxelOptions, OPTION_RENAMES) from None
    finally:
        progress.close()
    return CommandOutput(data=result.to_dict(), human=voxel_text(result))


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
