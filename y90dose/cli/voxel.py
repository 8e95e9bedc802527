"""``y90dose voxel``: voxel dosimetry of a SPECT/PET study (activity -> dose -> metrics)."""

from __future__ import annotations

import argparse
from typing import Any

from y90dose.cli.image_limits import add_max_voxels_option, max_voxels_from
from y90dose.cli.main import COMMANDS
from y90dose.cli.output import CommandOutput, add_json_flag
from y90dose.cli.progress import TerminalProgress, quiet_library_warnings
from y90dose.constants import ENERGY_EANM_J_PER_GBQ
from y90dose.devices import Product, default_energy_j_per_gbq
from y90dose.dvh import DEFAULT_V_THRESHOLDS_GY
from y90dose.pipeline.run import VoxelRunResult, run_voxel_dosimetry
from y90dose.segmentectomy import verification_text

DEFAULT_OUT = "y90dose-voxel"
MEAN_DIFFERENCE = 0.01
"""Report the energy/mass mean of a VOI when it differs from the voxel mean by over 1 %."""


def register(subparsers: Any) -> None:
    """Add ``voxel``."""
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
    parser.add_argument(
        "--activity-gbq",
        type=float,
        metavar="GBQ",
        help="administered activity (GBq, <= 100); an image in Bq/mL is rescaled to it "
        "(its own calibration is reported), or used at its own calibration without it",
    )
    parser.add_argument(
        "--lsf", type=float, default=0.0, help="lung shunt fraction 0..1 (default 0)"
    )
    parser.add_argument(
        "--residual",
        type=float,
        default=0.0,
        help="fraction left in vial and tubing 0..1 (default 0)",
    )
    parser.add_argument(
        "--normalize-to",
        metavar="VOI",
        help="VOI that holds activity x (1 - LSF) x (1 - residual) (default liver); "
        "needs --activity-gbq",
    )
    parser.add_argument(
        "--method",
        default="dvk",
        choices=("dvk", "ldm"),
        help="dose-voxel-kernel convolution (default) or local deposition",
    )
    parser.add_argument(
        "--kernel",
        choices=("auto", "dpk", "lanconelli"),
        help="DVK kernel: auto (default; Lanconelli 2012 at tabulated voxel sizes, "
        "else integrated Graves 2019 DPK), dpk or lanconelli; not with --method ldm",
    )
    parser.add_argument(
        "--image-units",
        choices=("counts", "bqml"),
        help="override the image's units (NIfTI images default to counts)",
    )
    parser.add_argument(
        "--predictive",
        action="store_true",
        help="the image is a Tc-99m MAA SPECT and --activity-gbq the planned activity",
    )
    defaults = ", ".join(f"{p.value} {default_energy_j_per_gbq(p).value:g}" for p in Product)
    parser.add_argument(
        "--product",
        choices=[p.value for p in Product],
        help=f"take the product's energy constant ({defaults} J/GBq; default EANM "
        f"{ENERGY_EANM_J_PER_GBQ.value:g})",
    )
    parser.add_argument(
        "--energy-j-per-gbq",
        type=float,
        metavar="J",
        help="energy absorbed per GBq decayed (J/GBq); overrides the --product's (the "
        "report says by how much)",
    )
    parser.add_argument(
        "--density",
        choices=("ct", "uniform"),
        help="voxel densities from the CT (default with --ct) or the liver "
        "density 1.03 g/mL everywhere",
    )
    parser.add_argument(
        "--hu-density-curve",
        metavar="CSV",
        help="the scanner's HU,density_g_ml calibration (CSV); with CT densities only",
    )
    parser.add_argument(
        "--liver-roi",
        metavar="VOI",
        help="whole-liver VOI (normal liver = liver - tumours); must be in --rois "
        "(default: liver, if there is one)",
    )
    parser.add_argument(
        "--tumor-roi",
        action="append",
        metavar="VOI",
        help="a tumour VOI (repeat); default: VOIs named tumor/lesion/GTV/HCC",
    )
    parser.add_argument(
        "--segment-roi",
        metavar="VOI",
        help="radiation segmentectomy: the treated segment (perfused territory) VOI; its and "
        "the tumours' mean, D70 and V200 are checked against the segmentectomy floor",
    )
    parser.add_argument(
        "--eud-alpha-per-gy",
        type=float,
        metavar="ALPHA",
        help="radiosensitivity for the EUD (1/Gy, 0 < alpha <= 1; e.g. 0.005); no EUD without it",
    )
    parser.add_argument(
        "--v-thresholds-gy",
        type=float,
        nargs="+",
        metavar="GY",
        default=list(DEFAULT_V_THRESHOLDS_GY),
        help="thresholds of the V metrics (default 100 120 150 200 205 400)",
    )
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
    parser.add_argument(
        "--allow-partial-vois",
        action="store_true",
        help="keep VOIs that extend outside the image (the part inside)",
    )
    add_max_voxels_option(parser)
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> CommandOutput:
    """Run the pipeline and report per-VOI metrics."""
    with quiet_library_warnings(), max_voxels_from(args):
        return _run(args)


def _run(args: argparse.Namespace) -> CommandOutput:
    progress = TerminalProgress()
    try:
        result = run_voxel_dosimetry(
            args.spect,
            args.rois,
            args.out,
            ct_path=args.ct,
            roi_names=args.roi_names,
            activity_gbq=args.activity_gbq,
            lsf=args.lsf,
            residual=args.residual,
            normalize_to=args.normalize_to,
            method=args.method,
            kernel=args.kernel,
            progress=progress,
            overwrite=args.overwrite,
            write_pngs=not args.no_png,
            image_units=args.image_units,
            predictive=args.predictive,
            product=args.product,
            energy_j_per_gbq=args.energy_j_per_gbq,
            density=args.density,
            hu_density_curve=args.hu_density_curve,
            liver_roi=args.liver_roi,
            tumor_rois=args.tumor_roi,
            eud_alpha_per_gy=args.eud_alpha_per_gy,
            v_thresholds_gy=args.v_thresholds_gy,
            allow_partial_vois=args.allow_partial_vois,
            segment_roi=args.segment_roi,
        )
    finally:
        progress.close()
    return CommandOutput(data=result.to_dict(), human=voxel_text(result))


def _number(value: Any, digits: int = 1) -> str:
    return "-" if not isinstance(value, int | float) else f"{value:.{digits}f}"


def voxel_text(result: VoxelRunResult) -> str:
    """The run as a short report: method, scaling, per-VOI table, warnings, files."""
    kernel = result.kernel
    kernel_text = (
        f", kernel {kernel['source']} ({kernel['tissue']} tissue, voxel "
        f"{' x '.join(f'{v:g}' for v in kernel['voxel_size_mm'])} mm)"
        if kernel
        else ""
    )
    lines = [
        f"{result.dose_quantity}; method {result.method.upper()}{kernel_text}",
        f"C = {result.energy_j_per_gbq:g} J/GBq ({result.energy_source})",
        *([f"note: {result.energy_note}"] if result.energy_note else []),
        f"activity: {result.activity['description']}",
        *(
            [f"decay: {result.activity['decay_correction']['description']}"]
            if result.activity.get("decay_correction")
            else []
        ),
        f"density: {result.density.get('source')}",
        f"energy: {max(0.0, result.energy_balance['escaped_energy_fraction']) * 100:.2f} % of the "
        "released energy left the grid",
        "",
        f"{'VOI':<16} {'mL':>9} {'mean Gy':>9} {'D70 Gy':>9} {'D90 Gy':>9} "
        f"{'max Gy':>9} {'V100 %':>8}",
    ]
    for name, m in result.metrics.items():
        lines.append(
            f"{name[:16]:<16} {_number(m.get('volume_ml')):>9} {_number(m.get('mean_gy')):>9} "
            f"{_number(m.get('d70_gy')):>9} {_number(m.get('d90_gy')):>9} "
            f"{_number(m.get('max_gy')):>9} {_number(m.get('v100_percent')):>8}"
        )
    lines.append("")
    for name, m in result.metrics.items():
        mean, absorbed = m.get("mean_gy"), m.get("mean_absorbed_gy")
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
