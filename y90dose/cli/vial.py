"""``y90dose vial``: which vial to order for an activity at a treatment instant."""

from __future__ import annotations

import argparse
from typing import Any

from y90dose.cli.main import COMMANDS
from y90dose.cli.model_options import add_model_options, model_from_args
from y90dose.cli.output import CommandOutput, add_json_flag
from y90dose.cli.render import findings_text, spheres_text
from y90dose.vials import VialInput, choose_vial

EXCLUDE = ("convention",)


def register(subparsers: Any) -> None:
    """Add ``vial``."""
    parser = subparsers.add_parser("vial", help=COMMANDS["vial"])
    add_model_options(parser, VialInput, exclude=EXCLUDE)
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> CommandOutput:
    """Smallest vial that holds at least the activity at treatment."""
    result = choose_vial(model_from_args(VialInput, args, exclude=EXCLUDE))
    lines = [
        f"{result.product.value} vial {result.vial_gbq:g} GBq ({result.vial_mci:.0f} mCi) "
        f"calibrated {result.calibration_time.isoformat()}",
        f"at treatment {result.treatment_time.isoformat()}: "
        f"{result.activity_at_treatment_gbq:.3f} GBq ({result.activity_at_treatment_mci:.1f} mCi) "
        f"for {result.required_activity_gbq:g} GBq needed",
        f"holds exactly the needed activity at {result.exact_time.isoformat()}",
    ]
    if result.dose_gy is not None:
        lines.append(f"dose at treatment: {result.dose_gy:.1f} Gy")
    lines.append(spheres_text(result.spheres))
    lines.append("findings:")
    lines += findings_text(result.findings)
    return CommandOutput(data=result.model_dump(mode="json"), human="\n".join(lines))
