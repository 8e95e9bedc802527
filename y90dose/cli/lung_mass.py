"""``y90dose lung-mass --ct PATH [--out MASK] [--json]``: the lungs weighed on a CT.

The measurement is :func:`y90dose.pipeline.lung_mass.lung_mass_from_ct`; ``plan`` and
``dose`` take the same ``--ct`` to use the mass (:mod:`y90dose.cli.ct_lung_mass`).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from y90dose.cli.image_limits import add_max_voxels_option, max_voxels_from
from y90dose.cli.main import COMMANDS
from y90dose.cli.output import CommandOutput, add_json_flag
from y90dose.cli.progress import quiet_library_warnings

if TYPE_CHECKING:  # SimpleITK and scipy are imported only when the command runs
    from y90dose.pipeline.lung_mass import LungMass


def register(subparsers: Any) -> None:
    """Add ``lung-mass``."""
    text = COMMANDS["lung-mass"]
    parser = subparsers.add_parser("lung-mass", help=text, description=text)
    parser.add_argument(
        "--ct", required=True, metavar="PATH", help="CT: DICOM folder or image file (HU)"
    )
    parser.add_argument(
        "--out",
        metavar="MASK",
        help="also write the lungs as a label map (.nii.gz, .nrrd, .mha): right 1, left 2 "
        "(lungs 1 when they do not separate)",
    )
    parser.add_argument(
        "--hu-density-curve",
        metavar="CSV",
        help="the scanner's HU,density_g_ml calibration (default: the built-in curve)",
    )
    add_max_voxels_option(parser)
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> CommandOutput:
    """Segment, weigh, report (and write the mask)."""
    from y90dose.pipeline.lung_mass import lung_mass_from_ct
    from y90dose.voxel.density import DEFAULT_HU_DENSITY_CURVE, HuDensityCurve

    curve = (
        HuDensityCurve.from_csv(args.hu_density_curve)
        if args.hu_density_curve is not None
        else DEFAULT_HU_DENSITY_CURVE
    )
    with quiet_library_warnings(), max_voxels_from(args):
        result = lung_mass_from_ct(args.ct, out=args.out, curve=curve)
    return CommandOutput(data=result.to_dict(), human=lung_mass_text(result))


def lung_mass_text(result: LungMass) -> str:
    """The measurement as a short report."""
    lines = [
        f"lungs: {result.lung_volume_ml:.0f} mL, {result.lung_mass_kg:.3f} kg "
        f"(mean {result.mean_density_g_ml:.3f} g/mL)",
    ]
    if result.left is not None and result.right is not None:
        lines.append(f"  left:  {result.left.volume_ml:.0f} mL, {result.left.mass_kg:.3f} kg")
        lines.append(f"  right: {result.right.volume_ml:.0f} mL, {result.right.mass_kg:.3f} kg")
    else:
        lines.append("  left and right not separated (the lungs touch)")
    lines.append(f"airways removed: {result.airways_removed_ml:.0f} mL")
    lines.append(f"density: {result.hu_density_curve}")
    if not result.complete:
        lines.append(
            f"WARNING: the lungs reach the {', '.join(result.cut_at)} of the CT: the CT does "
            "not hold the whole lungs and this mass is too low"
        )
    lines += [f"note: {note}" for note in result.notes if "field of view" not in note]
    if result.mask_file:
        lines.append(f"mask: {result.mask_file}")
    return "\n".join(lines)
