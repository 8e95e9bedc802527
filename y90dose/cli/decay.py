"""``y90dose decay``: Y-90 activity at another instant."""

from __future__ import annotations

import argparse
from typing import Any

from y90dose.cli.model_options import add_model_options, model_from_args
from y90dose.cli.output import CommandOutput, add_json_flag
from y90dose.decay import DecayInput, decay

RENAMES = {"from_time": "from", "to_time": "to"}


def register(subparsers: Any) -> None:
    """Add ``decay``."""
    parser = subparsers.add_parser(
        "decay", help="decay an activity between two time-zone-aware instants (ISO 8601)"
    )
    add_model_options(parser, DecayInput, renames=RENAMES)
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> CommandOutput:
    """A(t) = A0 x 2^(-t / T1/2)."""
    result = decay(model_from_args(DecayInput, args, renames=RENAMES))
    human = (
        f"{result.initial_activity_gbq:g} GBq -> {result.activity_gbq:.4f} GBq "
        f"({result.activity_mci:.2f} mCi) after {result.elapsed_h:.2f} h "
        f"(factor {result.decay_factor:.5f}, T1/2 {result.half_life_h:g} h)"
    )
    return CommandOutput(data=result.model_dump(mode="json"), human=human)
