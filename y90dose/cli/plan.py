"""``y90dose plan {mird,partition,bsa}``: the activity that meets a prescription."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path
from typing import Any

from y90dose.cli.ct_lung_mass import (
    add_ct_option,
    measure_into_args,
    with_measurement,
    with_measurement_json,
)
from y90dose.cli.curves_option import add_curves_option, check_curves_path, write_curves
from y90dose.cli.main import COMMANDS
from y90dose.cli.model_options import (
    ModelTable,
    add_model_group,
    compute_from_args,
    model_from_args,
)
from y90dose.cli.output import CommandOutput
from y90dose.cli.plan_from_images import register_from_images
from y90dose.cli.render import plan_text
from y90dose.cli.site_settings import settings_from_args
from y90dose.errors import InputError
from y90dose.findings import has_block
from y90dose.models.bsa import BsaPlanInput, plan_bsa
from y90dose.models.common import PlanResult
from y90dose.models.mird import MirdPlanInput, plan_mird
from y90dose.models.partition import PartitionPlanInput, plan_partition
from y90dose.validation import SAYS_SOMETHING, says_something

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
    for name in MODELS:
        add_report_options(group.choices[name])
        add_curves_option(group.choices[name])
        add_ct_option(group.choices[name])
    register_from_images(group)


def add_report_options(parser: argparse.ArgumentParser) -> None:
    """``--report FILE.pdf`` and what only the report shows (patient, treatment date)."""
    report = parser.add_argument_group("report")
    report.add_argument(
        "--report",
        metavar="FILE.pdf",
        type=Path,
        help="also write the plan report (PDF: inputs with units, activity in GBq and mCi, "
        "vial, doses, findings, constants with sources, NOT APPROVED); needs reportlab "
        "(pip install 'y90dose[report]')",
    )
    report.add_argument("--patient-ref", help="patient reference printed on the report")
    report.add_argument(
        "--treatment-date", metavar="YYYY-MM-DD", help="treatment date printed on the report"
    )


def write_report(args: argparse.Namespace, schema: Any, result: PlanResult) -> None:
    """Build the plan report (the service's document) and write it to ``args.report``."""
    import y90dose
    from y90dose.reports import PlanReport, plan_report_pdf

    treatment_date = None
    if args.treatment_date is not None:
        try:
            treatment_date = date.fromisoformat(args.treatment_date)
        except ValueError:
            raise InputError(
                "--treatment-date", args.treatment_date, "a date as YYYY-MM-DD"
            ) from None
    report = PlanReport(
        model=args.model,
        inputs=model_from_args(schema, args).model_dump(mode="json"),
        result=result,
        software_version=y90dose.__version__,
        patient_ref=args.patient_ref,
        treatment_date=treatment_date,
    )
    try:
        args.report.write_bytes(plan_report_pdf(report))
    except OSError as exc:
        raise InputError(
            "--report", str(args.report), f"a file that can be written ({exc.strerror})"
        ) from None


def with_curves(
    output: CommandOutput, args: argparse.Namespace, schema: Any, result: PlanResult
) -> CommandOutput:
    """``output`` with the activity-dose curves (``--curves FILE.png``), when asked for."""
    if args.curves is None:
        return output
    from y90dose.models.curves import plan_curves

    inputs = model_from_args(schema, args)
    curves = plan_curves(inputs, result, settings_from_args(args, inputs))
    line = write_curves(args.curves, curves)
    return CommandOutput(
        data={**output.data, "curves": curves.model_dump(mode="json")},
        human=f"{output.human}\n{line}",
        exit_code=output.exit_code,
    )


def run(args: argparse.Namespace) -> CommandOutput:
    """Validate the options with the model's schema and compute the plan."""
    schema, compute, _ = MODELS[args.model]
    check_curves_path(args.curves)
    lung = measure_into_args(args)
    result = with_measurement(compute_from_args(schema, compute, args), lung)
    if args.report is None:
        if args.patient_ref is not None or args.treatment_date is not None:
            raise InputError(
                "--patient-ref/--treatment-date",
                args.patient_ref or args.treatment_date,
                "these only with --report (they are printed on the report)",
            )
    else:
        if args.patient_ref is not None and not says_something(args.patient_ref):
            raise InputError("--patient-ref", args.patient_ref, SAYS_SOMETHING)
        write_report(args, schema, result)
    output = with_curves(result_output(result), args, schema, result)
    return with_measurement_json(output, lung)
