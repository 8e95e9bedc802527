"""``y90dose plan {mird,partition,bsa}``: the activity that meets a prescription."""

from __future__ import annotations

import argparse
from typing import Any

from y90dose.cli.main import COMMANDS
from y90dose.cli.model_options import ModelTable, add_model_group, compute_from_args
from y90dose.cli.output import CommandOutput
from y90dose.cli.plan_from_images import register_from_images
from y90dose.cli.render import plan_text
from y90dose.findings import has_block
from y90dose.models.bsa import BsaPlanInput, plan_bsa
from y90dose.models.common import PlanResult
from y90dose.models.mird import MirdPlanInput, plan_mird
from y90dose.models.partition import PartitionPlanInput, plan_partition

MODELS: ModelTable = {
    "mird": (MirdPlanInput, plan_mird, "MIRD single compartment: perfused-volume target dose"),
    "partition": (
        PartitionPlanInput,
        plan_partition,
        "partition model: normal-liver or tumour target; each --tumor-volume-ml pairs "
        "with the --tn-ratio in the same position",
    ),
    "bsa": (BsaPlanInput, plan_bsa, "body-surface-area method (resin)"),
}


def result_output(result: PlanResult) -> CommandOutput:
    """A plan result as CLI output; the exit code stays 0 (a block is a finding, not a failure)."""
    text = plan_text(result)
    if has_block(result.findings):
        text += "\nTHIS PLAN HAS BLOCKING FINDINGS: do not treat as planned."
    return CommandOutput(data=result.json_dict(), human=text)


def register(subparsers: Any) -> None:
    """Add ``plan`` and its model subcommands."""
    group = add_model_group(
        subparsers,
        "plan",
        COMMANDS["plan"],
        MODELS,
        run,
    )
    register_from_images(group)


def run(args: argparse.Namespace) -> CommandOutput:
    """Validate the options with the model's schema and compute the plan."""
    schema, compute, _ = MODELS[args.model]
    return result_output(compute_from_args(schema, compute, args))
