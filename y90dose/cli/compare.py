"""``y90dose compare``: planned vs delivered per-VOI mean dose and D70 of two voxel runs."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from y90dose.cli.image_limits import add_max_voxels_option, max_voxels_from
from y90dose.cli.main import COMMANDS
from y90dose.cli.output import CommandOutput, add_json_flag
from y90dose.cli.progress import quiet_library_warnings

if TYPE_CHECKING:  # the pipeline (SimpleITK, scipy) is imported only when the command runs
    from y90dose.pipeline.compare import ComparisonResult


def register(subparsers: Any) -> None:
    """Add ``compare``."""
    text = COMMANDS["compare"]
    parser = subparsers.add_parser("compare", help=text, description=text)
    parser.add_argument(
        "--planned",
        required=True,
        metavar="DIR",
        help="output folder of the predictive run (its VOIs are used)",
    )
    parser.add_argument(
        "--delivered", required=True, metavar="DIR", help="output folder of the post-treatment run"
    )
    parser.add_argument(
        "--transform",
        metavar="FILE",
        help="rigid ITK transform file mapping planned points to delivered points (when the "
        "frames of reference differ); without it the runs' CTs are registered",
    )
    parser.add_argument(
        "--planned-ct",
        metavar="PATH",
        help="CT of the planned run's study, registered when the frames of reference differ "
        "(default: the CT the run recorded in its metrics.json)",
    )
    parser.add_argument(
        "--delivered-ct",
        metavar="PATH",
        help="CT of the delivered run's study (default: the CT the run recorded)",
    )
    add_max_voxels_option(parser)
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> CommandOutput:
    """Compare the two runs."""
    from y90dose.pipeline.compare import compare_runs

    with quiet_library_warnings(), max_voxels_from(args):
        result = compare_runs(
            args.planned,
            args.delivered,
            transform_path=args.transform,
            planned_ct_path=args.planned_ct,
            delivered_ct_path=args.delivered_ct,
        )
    return CommandOutput(data=result.to_dict(), human=compare_text(result))


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1f} %"


def compare_text(result: ComparisonResult) -> str:
    """A table: VOI, planned/delivered/difference of mean dose and D70."""
    lines = [f"registration: {result.registration}"]
    report = result.automatic_registration
    if report is not None:
        lines += [
            f"  quality: {report.summary()}",
            f"  to see it: y90dose register --fixed {report.fixed_ct} --moving "
            f"{report.moving_ct} (the same transform, and its quality figure)",
        ]
    lines += [
        f"methods: planned {result.planned_method}, delivered {result.delivered_method}",
        "",
        f"{'VOI':<16} {'mean plan':>10} {'mean deliv':>10} {'diff':>9} "
        f"{'D70 plan':>10} {'D70 deliv':>10} {'diff':>9}",
    ]
    for name, c in result.vois.items():
        lines.append(
            f"{name[:16]:<16} {c.planned_mean_gy:>10.1f} {c.delivered_mean_gy:>10.1f} "
            f"{_pct(c.difference_mean_percent):>9} {c.planned_d70_gy:>10.1f} "
            f"{c.delivered_d70_gy:>10.1f} {_pct(c.difference_d70_percent):>9}"
        )
    lines.append("(doses in Gy; difference = (delivered - planned) / planned)")
    lines += [f"warning: {w}" for w in result.warnings]
    return "\n".join(lines)
