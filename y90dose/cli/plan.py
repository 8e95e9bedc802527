"""``y90dose plan {mird,partition,bsa,treatment}``: the activity that meets a prescription.

``plan treatment --file treatment.json`` plans several territories together; the file
holds the body of ``POST /v1/calculations/treatment`` (``TreatmentInput``).
"""

from __future__ import annotations

import argparse
import json
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import ValidationError

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
from y90dose.cli.output import CommandOutput, add_json_flag
from y90dose.cli.plan_from_images import register_from_images
from y90dose.cli.render import plan_text, treatment_text
from y90dose.cli.site_settings import (
    add_settings_options,
    settings_from_args,
    treatment_settings_from_args,
)
from y90dose.errors import InputError
from y90dose.findings import has_block
from y90dose.models.bsa import BsaPlanInput, plan_bsa
from y90dose.models.common import PlanResult
from y90dose.models.mird import MirdPlanInput, plan_mird
from y90dose.models.partition import PartitionPlanInput, plan_partition
from y90dose.models.treatment import TreatmentInput, TreatmentResult, plan_treatment
from y90dose.validation import SAYS_SOMETHING, describe_error, says_something

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
    register_treatment(group)
    register_from_images(group)


TREATMENT_HELP = (
    "multi-territory treatment: each territory planned by its own model (mird, partition, "
    "bsa) with its own LSF and product; the lung, whole-liver and whole normal-liver doses "
    "of them together"
)


def register_treatment(group: Any) -> None:
    """Add ``plan treatment --file FILE.json``."""
    parser = group.add_parser("treatment", help=TREATMENT_HELP, description=TREATMENT_HELP)
    parser.add_argument(
        "--file",
        required=True,
        type=Path,
        metavar="TREATMENT.json",
        help="JSON object: territories (each name, model, inputs[, treatment_date]) and the "
        "shared lung_mass_kg, prior_lung_dose_gy, density_g_ml, liver_volume_ml "
        "(docs/usage.md)",
    )
    add_settings_options(parser)
    add_json_flag(parser)
    add_report_options(parser)
    parser.set_defaults(handler=run_treatment)


def treatment_from_file(path: Path) -> TreatmentInput:
    """The treatment in the JSON file ``path``; errors name the file or the field."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise InputError("--file", str(path), f"a readable JSON file ({reason})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            "--file", str(path), f"a JSON object (line {exc.lineno} column {exc.colno}: {exc.msg})"
        ) from None
    if not isinstance(data, dict):
        raise InputError("--file", str(path), "a JSON object {territories: [...], ...}")
    try:
        return TreatmentInput.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        field, value, allowed = describe_error(errors[0])
        if len(errors) > 1:
            allowed += f" ({len(errors) - 1} more error(s) in {path.name})"
        raise InputError(field, value, allowed) from None


def run_treatment(args: argparse.Namespace) -> CommandOutput:
    """Validate the treatment file and plan every territory and the treatment."""
    inputs = treatment_from_file(args.file)
    result = plan_treatment(inputs, treatment_settings_from_args(args, inputs))
    check_report_options(args)
    if args.report is not None:
        write_report(args, inputs.model_dump(mode="json"), result)
    text = treatment_text(result)
    if has_block(result.findings):
        text += "\nTHIS TREATMENT HAS BLOCKING FINDINGS: do not treat as planned."
    return CommandOutput(data=result.json_dict(), human=text)


def add_report_options(parser: argparse.ArgumentParser) -> None:
    """``--report FILE.pdf`` and what only the report shows (patient, treatment date)."""
    report = parser.add_argument_group("report")
    report.add_argument(
        "--report",
        metavar="FILE.pdf",
        type=Path,
        help="also write the report (PDF: inputs with units, activity in GBq and mCi, "
        "vial, doses, findings, constants with sources, NOT APPROVED); needs reportlab "
        "(pip install 'y90dose[report]')",
    )
    report.add_argument("--patient-ref", help="patient reference printed on the report")
    report.add_argument(
        "--treatment-date", metavar="YYYY-MM-DD", help="treatment date printed on the report"
    )


def write_report(
    args: argparse.Namespace, inputs: dict[str, Any], result: PlanResult | TreatmentResult
) -> None:
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
        inputs=inputs,
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
    handle_report(args, schema, result)
    output = with_curves(result_output(result), args, schema, result)
    return with_measurement_json(output, lung)


def handle_report(args: argparse.Namespace, schema: Any, result: PlanResult) -> None:
    """Write ``--report`` if given (the options as ``schema`` validates them); refuse the
    report-only options without it."""
    check_report_options(args)
    if args.report is not None:
        write_report(args, model_from_args(schema, args).model_dump(mode="json"), result)


def check_report_options(args: argparse.Namespace) -> None:
    """``--patient-ref`` and ``--treatment-date`` only with ``--report``, and saying something."""
    if args.report is None:
        if args.patient_ref is not None or args.treatment_date is not None:
            raise InputError(
                "--patient-ref/--treatment-date",
                args.patient_ref or args.treatment_date,
                "these only with --report (they are printed on the report)",
            )
    elif args.patient_ref is not None and not says_something(args.patient_ref):
        raise InputError("--patient-ref", args.patient_ref, SAYS_SOMETHING)
