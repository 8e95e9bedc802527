"""``y90dose dose {mird,partition}``: the doses a given activity gives."""

from __future__ import annotations

import argparse
from typing import Any

from y90dose.cli.ct_lung_mass import (
    add_ct_option,
    measure_into_args,
    with_measurement,
    with_measurement_json,
)
from y90dose.cli.curves_option import add_curves_option, check_curves_path
from y90dose.cli.main import COMMANDS
from y90dose.cli.model_options import ModelTable, add_model_group, compute_from_args
from y90dose.cli.output import CommandOutput
from y90dose.cli.plan import add_report_options, handle_report, result_output, with_curves
from y90dose.models.mird import MirdDoseInput, dose_mird
from y90dose.models.partition import PartitionDoseInput, dose_partition

MODELS: ModelTable = {
    "mird": (MirdDoseInput, dose_mird, "MIRD single compartment: perfused and lung dose"),
    "partition": (
        PartitionDoseInput,
        dose_partition,
        "partition model: tumour, normal-liver, perfused and lung doses",
    ),
}


def register(subparsers: Any) -> None:
    """Add ``dose`` and its model subcommands (each with ``--report FILE.pdf``)."""
    group = add_model_group(subparsers, "dose", COMMANDS["dose"], MODELS, run)
    for name in MODELS:
        add_report_options(group.choices[name])
        add_curves_option(group.choices[name])
        add_ct_option(group.choices[name])


def run(args: argparse.Namespace) -> CommandOutput:
    """Validate the options with the model's schema and compute the doses."""
    schema, compute, _ = MODELS[args.model]
    check_curves_path(args.curves)
    lung = measure_into_args(args)
    result = with_measurement(compute_from_args(schema, compute, args), lung)
    handle_report(args, schema, result)
    output = with_curves(result_output(result), args, schema, result)
    return with_measurement_json(output, lung)
