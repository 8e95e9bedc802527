"""``y90dose lsf``: lung shunt fraction from planar conjugate-view counts."""

from __future__ import annotations

import argparse
from typing import Any

from y90dose.cli.main import COMMANDS
from y90dose.cli.model_options import add_model_options, model_from_args
from y90dose.cli.output import CommandOutput, add_json_flag
from y90dose.lung import LsfInput, lsf_from_counts


def register(subparsers: Any) -> None:
    """Add ``lsf``."""
    parser = subparsers.add_parser("lsf", help=COMMANDS["lsf"])
    add_model_options(parser, LsfInput)
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> CommandOutput:
    """LSF = G_lung / (G_lung + G_liver)."""
    result = lsf_from_counts(model_from_args(LsfInput, args))
    human = (
        f"LSF {result.lsf_percent:.2f} % (lung geometric mean {result.lung_geometric_mean:.1f}, "
        f"liver geometric mean {result.liver_geometric_mean:.1f})"
    )
    return CommandOutput(data=result.model_dump(mode="json"), human=human)
