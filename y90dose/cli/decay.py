"""``y90dose decay``: Y-90 activity at another instant."""

from __future__ import annotations

import argparse
from typing import Any

from y90dose.cli.main import COMMANDS
from y90dose.cli.model_options import add_model_options, model_from_args, option_error
from y90dose.cli.output import CommandOutput, add_json_flag
from y90dose.decay import DecayInput, decay
from y90dose.errors import InputError

RENAMES = {"from_time": "from", "to_time": "to"}


def register(subparsers: Any) -> None:
    """Add ``decay``."""
    parser = subparsers.add_parser("decay", help=COMMANDS["decay"])
    add_model_options(parser, DecayInput, renames=RENAMES)
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> CommandOutput:
    """A(t) = A0 x 2^(-t / T1/2)."""
    inputs = model_from_args(DecayInput, args, renames=RENAMES)
    try:
        result = decay(inputs)
    except InputError as exc:  # an instant too far back names --to, not to_time
        raise option_error(exc, DecayInput, RENAMES) from None
    human = (
        f"{result.initial_activity_gbq:g} GBq -> {result.activity_gbq:.4f} GBq "
        f"({result.activity_mci:.2f} mCi) after {result.elapsed_h:.2f} h "
        f"(factor {result.decay_factor:.5f}, T1/2 {result.half_life_h:g} h)"
    )
    return CommandOutput(data=result.model_dump(mode="json"), human=human)
