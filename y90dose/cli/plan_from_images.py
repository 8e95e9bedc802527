"""``y90dose plan from-images``: a partition plan from MAA SPECT(/CT) VOIs.

Wiring: ``y90dose/cli/plan.py`` calls :func:`register_from_images` once, after adding the
``plan`` command, with the same ``subparsers`` object it received::

    register_from_images(subparsers)

(the model subparsers of ``plan`` are accepted too).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from y90dose.cli.image_limits import add_max_voxels_option, max_voxels_from
from y90dose.cli.output import CommandOutput, add_json_flag
from y90dose.cli.progress import TerminalProgress, quiet_library_warnings
from y90dose.cli.render import plan_text
from y90dose.findings import has_block

if TYPE_CHECKING:  # the pipeline (SimpleITK, scipy) is imported only when the command runs
    from y90dose.pipeline.from_images import FromImagesResult

HELP = (
    "partition plan from images: TN ratios and volumes (and, with --lung-roi, the LSF) "
    "measured on the MAA SPECT(/CT) VOIs"
)

FIELD_OPTIONS = {"tumor_rois": "tumor_roi", "registration_options": "deformable"}
"""``plan_from_images`` arguments whose option differs (one ``--tumor-roi`` per tumour; the
registration's options are ``--deformable``)."""


def _plan_subparsers(parent: Any) -> Any:
    """The subparsers of ``plan`` (``parent`` is the top-level or the plan's own)."""
    choices = getattr(parent, "choices", {})
    if "plan" not in choices:
        return parent
    plan_parser = choices["plan"]
    for action in plan_parser._actions:  # argparse keeps the subparsers action here
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise RuntimeError("the plan command has no model subcommands to add from-images to")


def register_from_images(parent: Any) -> None:
    """Add ``plan from-images`` (see the module docstring for where to call it)."""
    group = _plan_subparsers(parent)
    parser = group.add_parser("from-images", help=HELP, description=HELP)
    parser.add_argument(
        "--spect",
        required=True,
        metavar="MAA_PATH",
        help="Tc-99m MAA SPECT: DICOM folder or file, or NIfTI/NRRD/MHA",
    )
    parser.add_argument(
        "--ct",
        metavar="PATH",
        help="CT: VOI volumes on its finer grid, densities reported, and the lung mass "
        "measured on it used for the lung dose (unless --lung-mass-kg is given)",
    )
    parser.add_argument(
        "--rois",
        required=True,
        metavar="PATH",
        help="VOIs: RTSTRUCT file or label map (names by --roi-names)",
    )
    parser.add_argument("--roi-names", metavar="JSON", help="label names of a label map")
    parser.add_argument(
        "--rois-ct",
        metavar="PATH",
        help="the image the VOIs were drawn on (a diagnostic CT), when it is not the MAA "
        "SPECT/CT: in another frame of reference, the VOIs are carried to the SPECT through "
        "--transform or by registering it onto --ct",
    )
    parser.add_argument(
        "--transform",
        metavar="FILE",
        help="with --rois-ct: ITK transform file mapping points of the MAA SPECT/CT to points "
        "of --rois-ct (as `y90dose register --fixed CT --moving ROIS_CT` writes); nothing "
        "is registered then",
    )
    parser.add_argument(
        "--deformable",
        action="store_true",
        help="with --rois-ct: add a B-spline stage to the registration (slow)",
    )
    parser.add_argument(
        "--liver-roi",
        required=True,
        metavar="NAME",
        help="whole (perfused) liver VOI; normal liver = liver - tumours",
    )
    parser.add_argument(
        "--tumor-roi",
        required=True,
        action="append",
        metavar="NAME",
        help="a tumour VOI (repeat for each)",
    )
    parser.add_argument(
        "--lung-roi", metavar="NAME", help="lung VOI: LSF = lung counts / (lung + liver counts)"
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--normal-dose-gy", type=float, metavar="GY", help="normal-liver target dose (Gy)"
    )
    target.add_argument(
        "--tumor-dose-gy", type=float, metavar="GY", help="target dose of the lowest-TN tumour (Gy)"
    )
    parser.add_argument(
        "--lsf",
        type=float,
        help="lung shunt fraction 0..1 (required without --lung-roi; overrides the measured one)",
    )
    parser.add_argument(
        "--product",
        choices=("glass", "resin"),
        default=None,
        help="microsphere product (default glass)",
    )
    parser.add_argument("--residual", type=float, help="fraction left in vial and tubing")
    parser.add_argument("--lung-mass-kg", type=float, help="lung mass (kg; default 1)")
    parser.add_argument(
        "--density-g-ml", type=float, help="liver and tumour density (g/mL; default 1.03)"
    )
    parser.add_argument(
        "--delivery",
        choices=("whole", "lobar", "segmental", "segmentectomy"),
        help="delivery (default whole)",
    )
    parser.add_argument(
        "--prior-lung-dose-gy", type=float, help="lung dose of previous treatments (Gy)"
    )
    parser.add_argument("--energy-j-per-gbq", type=float, help="energy constant C (J/GBq)")
    add_max_voxels_option(parser, emission=True)
    add_json_flag(parser)
    parser.set_defaults(handler=run, model="from-images", field_options=FIELD_OPTIONS)


_PLAN_OPTIONS = (
    "product",
    "residual",
    "lung_mass_kg",
    "density_g_ml",
    "delivery",
    "prior_lung_dose_gy",
    "energy_j_per_gbq",
)


def run(args: argparse.Namespace) -> CommandOutput:
    """Measure, plan, report."""
    with quiet_library_warnings(), max_voxels_from(args):
        return _run(args)


def _run(args: argparse.Namespace) -> CommandOutput:
    from y90dose.imaging.registration import RegistrationOptions
    from y90dose.pipeline.from_images import plan_from_images

    progress = TerminalProgress()
    try:
        result = plan_from_images(
            args.spect,
            args.rois,
            liver_roi=args.liver_roi,
            tumor_rois=args.tumor_roi,
            normal_dose_gy=args.normal_dose_gy,
            tumor_dose_gy=args.tumor_dose_gy,
            ct_path=args.ct,
            lung_roi=args.lung_roi,
            roi_names=args.roi_names,
            lsf=args.lsf,
            rois_ct_path=args.rois_ct,
            transform_path=args.transform,
            registration_options=RegistrationOptions(deformable=True) if args.deformable else None,
            plan_options={
                name: getattr(args, name)
                for name in _PLAN_OPTIONS
                if getattr(args, name, None) is not None
            },
            progress=progress,
        )
    finally:
        progress.close()
    return CommandOutput(data=result.to_dict(), human=from_images_text(result))


def from_images_text(result: FromImagesResult) -> str:
    """Measured values, then the plan as ``y90dose plan`` prints it."""
    measured = result.measured
    lines = ["measured on the MAA SPECT:"]
    for name, tn in measured.tn_ratios.items():
        lines.append(f"  {name}: TN {tn:.3f}, volume {measured.vois[name].volume_ml:.1f} mL")
    normal = measured.vois["normal_liver"]
    lines.append(f"  normal liver: volume {normal.volume_ml:.1f} mL")
    if measured.lsf_measured is not None:
        lines.append(f"  LSF (SPECT VOIs): {100 * measured.lsf_measured:.2f} %")
    lines.append(f"  LSF used: {100 * measured.lsf_used:.2f} % ({measured.lsf_source})")
    lines.append(f"  volumes from the {measured.volumes_from}")
    if measured.lung_voi_outside_fov is not None:
        outside = 100 * measured.lung_voi_outside_fov
        lines.append(f"  lung VOI outside the SPECT field of view: {outside:.1f} %")
    lung = measured.lung_mass
    if lung is not None:
        lines.append(
            f"  lung mass (CT): {lung['lung_mass_kg']:.3f} kg, {lung['lung_volume_ml']:.0f} mL"
            f"{'' if lung['used'] else ' (not used, see the warnings)'}"
        )
    lines.append(f"  alignment: {result.registration}")
    report = result.automatic_registration
    if report is not None:
        lines += [
            f"  registration quality: {report.summary()}",
            f"  to see it: y90dose register --fixed {report.fixed_ct} --moving "
            f"{report.moving_ct}{' --deformable' if 'bspline' in report.kind else ''} "
            "(the same transform, and its quality figure)",
        ]
    plan = result.plan
    lines.append("")
    lines.append(plan_text(plan))
    if has_block(plan.findings):
        lines.append("THIS PLAN HAS BLOCKING FINDINGS: do not treat as planned.")
    lines += [f"warning: {w}" for w in result.warnings]
    return "\n".join(lines)
