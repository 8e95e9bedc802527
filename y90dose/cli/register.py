"""``y90dose register``: rigid (optionally B-spline) registration of two images."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from y90dose.cli.image_limits import add_max_voxels_option, max_voxels_from
from y90dose.cli.main import COMMANDS, EXIT_FAILURE
from y90dose.cli.output import CommandOutput, add_json_flag
from y90dose.cli.progress import quiet_library_warnings
from y90dose.errors import InputError

if TYPE_CHECKING:  # SimpleITK and the imaging package are imported only when the command runs
    from y90dose.imaging.registration import RegistrationResult

DEFAULT_OUT = "registration.tfm"


def register(subparsers: Any) -> None:
    """Add ``register``."""
    text = COMMANDS["register"]
    parser = subparsers.add_parser(
        "register",
        help=text,
        description=text + ". The transform file maps points of the FIXED image to the "
        "MOVING image (ITK convention); a failed registration writes no transform and "
        "exits 1.",
    )
    parser.add_argument(
        "--fixed", required=True, metavar="PATH", help="reference image: DICOM folder or NIfTI"
    )
    parser.add_argument(
        "--moving", required=True, metavar="PATH", help="image to align: DICOM folder or NIfTI"
    )
    parser.add_argument(
        "--fixed-mask",
        metavar="PATH",
        help="region of the fixed image to compare (nonzero = inside; NIfTI/NRRD/MHA label "
        "or mask in the fixed image's space)",
    )
    parser.add_argument(
        "--out",
        metavar="FILE.tfm",
        default=DEFAULT_OUT,
        help=f"transform file to write (default {DEFAULT_OUT}); the quality figure is "
        "written beside it as FILE.png",
    )
    parser.add_argument(
        "--deformable",
        action="store_true",
        help="add a B-spline stage after the rigid one (for carrying VOIs from a diagnostic "
        "CT or MR; the file then holds a composite transform)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing transform file and quality figure",
    )
    add_max_voxels_option(parser)
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> CommandOutput:
    """Read both images, register, write the figure (always) and the transform (if good)."""
    from y90dose.imaging.read import read_image
    from y90dose.imaging.registration import (
        RegistrationOptions,
        write_quality_figure,
        write_transform,
    )
    from y90dose.imaging.registration import register as register_images

    out = Path(args.out)
    if out.suffix.lower() not in (".tfm", ".txt"):
        raise InputError("out", str(out), "a file name ending in .tfm (or .txt)")
    figure_path = out.with_suffix(".png")
    for path in (out, figure_path):
        if path.exists() and not args.overwrite:
            raise InputError(
                "out", str(out), f"a new file name ({path} exists; --overwrite replaces it)"
            )
    with quiet_library_warnings(), max_voxels_from(args):
        fixed = read_image(args.fixed)
        moving = read_image(args.moving)
        mask = read_image(args.fixed_mask) if args.fixed_mask is not None else None
    result = register_images(
        fixed, moving, fixed_mask=mask, options=RegistrationOptions(deformable=args.deformable)
    )
    write_quality_figure(result, fixed, moving, figure_path)
    transform_file = str(write_transform(result, out)) if result.succeeded else None
    data = {
        "transform_file": transform_file,
        "fixed": str(args.fixed),
        "moving": str(args.moving),
        "quality_figure": str(figure_path),
        **result.to_dict(),
    }
    return CommandOutput(
        data=data,
        human=register_text(result, transform_file, str(figure_path)),
        exit_code=0 if result.succeeded else EXIT_FAILURE,
    )


def register_text(result: RegistrationResult, transform_file: str | None, figure: str) -> str:
    """A few lines: status, transform, quality, where the files are."""
    rigid = result.rigid_parameters()
    q = result.quality
    lines = [
        f"registration ({result.kind}): {'succeeded' if result.succeeded else 'FAILED'}",
        f"rotation (deg, about x y z): {rigid['rotation_deg_xyz']}",
        f"translation (mm, x y z): {rigid['translation_mm_xyz']}",
        f"Mattes mutual information: {result.metric:.4f}; iterations per level: "
        f"{result.iterations}",
        f"normalised mutual information: {q.nmi_initial:.3f} after centring -> "
        f"{q.nmi_final:.3f}; overlap {q.overlap_fraction:.0%} ({q.overlap_ml:.0f} mL)",
        f"stop condition: {result.stages[-1].stop_condition}",
        f"time: {result.elapsed_s:.1f} s",
        f"quality figure: {figure}",
    ]
    if transform_file is not None:
        lines.append(f"transform (fixed -> moving points, ITK): {transform_file}")
    else:
        lines.append("transform: not written (the registration failed)")
    lines += [f"failure: {f}" for f in result.failures]
    return "\n".join(lines)
