"""The plan report: one plan version as a PDF for the medical record.

What the report says is decided by :func:`plan_report_rows` (pure, testable without a
PDF reader); :func:`plan_report_pdf` lays those rows out with reportlab and returns the
bytes. The caller writes them (the service answers them, the CLI writes a file).

A version without an approval of its own carries "NOT APPROVED" across every page. The
inputs hash (:func:`inputs_sha256`) is the SHA-256 of the canonical JSON of what
determines the result (model, product, delivery, treatment date, inputs), so a reader
can check that two reports were computed from the same inputs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from y90dose.constants import (
    GLASS_CALIBRATION_TIMEZONE,
    LIVER_DENSITY_G_ML,
    LUNG_MASS_KG,
    MBQ_PER_MCI,
    RESIN_VIAL_GBQ,
    Y90_HALF_LIFE_H,
)
from y90dose.devices import Product
from y90dose.findings import Finding, Severity
from y90dose.models.common import PlanResult, Spheres
from y90dose.models.treatment import TerritoryResult, TreatmentResult
from y90dose.reports import layout
from y90dose.uncertainty.result import Uncertainty
from y90dose.units import field_unit, gbq_to_mci

NOT_APPROVED = "NOT APPROVED"
DIRECTIONS = {
    "plan": "dose -> activity",
    "dose": "activity -> doses",
    "mixed": "territories planned both ways",
}
SEVERITY_ORDER = {Severity.BLOCK: 0, Severity.WARNING: 1, Severity.INFO: 2}
VIAL_CHECK_HOUR = 12
"""The treatment date's hour at which the report checks the glass vial (noon, in the
calibration convention's time zone): a plan stores a date, not an instant; the vial for
the actual treatment instant is chosen with ``y90dose vial`` / ``/v1/calculations/vial``."""


@dataclass(frozen=True, kw_only=True)
class ApprovalRecord:
    """Who approved the reported version, when, and what they wrote."""

    approved_by: str
    approved_at: datetime
    comment: str | None = None


@dataclass(frozen=True, kw_only=True)
class PlanReport:
    """Everything a plan report shows. ``inputs`` are the validated inputs as stored.

    A multi-territory treatment (``model`` ``"treatment"``) shows each territory's
    inputs, activity, vial and doses, the treatment's doses, and every finding.

    ``approvals`` are those of the reported version only; none makes the report
    "NOT APPROVED". ``latest_version`` > ``version`` marks the version superseded.
    """

    model: str
    inputs: dict[str, Any]
    result: PlanResult | TreatmentResult
    software_version: str
    patient_ref: str | None = None
    plan_id: str | None = None
    version: int | None = None
    latest_version: int | None = None
    treatment_date: date | None = None
    created_by: str | None = None
    created_at: datetime | None = None
    note: str | None = None
    approvals: tuple[ApprovalRecord, ...] = field(default_factory=tuple)

    @property
    def approved(self) -> bool:
        """True when the reported version has at least one approval."""
        return bool(self.approvals)


def inputs_sha256(model: str, inputs: dict[str, Any], treatment_date: date | None = None) -> str:
    """Hex SHA-256 of the canonical JSON of the inputs that determine a plan's result.

    Canonical: keys sorted, no spaces, ``{"inputs": ..., "model": ..., "treatment_date":
    "YYYY-MM-DD" or null}`` (product and delivery are among the inputs).

    Examples
    --------
    >>> inputs_sha256("mird", {"lsf": 0.08}) == inputs_sha256("mird", {"lsf": 0.08})
    True
    """
    canonical = json.dumps(
        {
            "model": model,
            "inputs": inputs,
            "treatment_date": treatment_date.isoformat() if treatment_date else None,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def _number(value: float) -> str:
    return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.0f}"


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, list):
        return ", ".join(_value_text(v) for v in value)
    if value is None:
        return "not given"
    return str(value)


def _doses(result: PlanResult, prefix: str = "") -> list[tuple[str, str, str]]:
    rows = []
    for name, value in result.doses_gy.items():
        if isinstance(value, list):
            rows += [(f"{prefix}{name} {i + 1}", _number(v), "Gy") for i, v in enumerate(value)]
        else:
            rows.append((f"{prefix}{name}", _number(value), "Gy"))
    return rows


def _treatment_doses(result: TreatmentResult) -> list[tuple[str, str, str]]:
    rows = [(f"treatment: {name}", _number(value), "Gy") for name, value in result.doses_gy.items()]
    if len(result.stages) > 1:
        for stage in result.stages:
            what = f"stage {stage.treatment_date} ({', '.join(stage.territories)})"
            rows += [
                (f"{what}: lung", _number(stage.lung_gy), "Gy"),
                (f"{what}: lung_cumulative", _number(stage.lung_cumulative_gy), "Gy"),
            ]
    for territory in result.territories:
        rows += _doses(territory.result, f"{territory.name}: ")
    return rows


def _vial_rows(
    result: PlanResult, treatment_date: date | None, label: str = ""
) -> tuple[list[tuple[str, str, str]], list[Finding]]:
    """The vial for a plan's activity, and the vial's findings."""
    activity = result.activity_gbq
    if result.product is Product.RESIN:
        vial = RESIN_VIAL_GBQ.value
        return [
            (
                f"{label}vial (resin)",
                f"{vial:g} GBq ({gbq_to_mci(vial):.1f} mCi) at the calibration on its label",
                f"draw {activity:.3g} GBq ({gbq_to_mci(activity):.1f} mCi) at treatment",
            )
        ], []
    if treatment_date is None:
        return [(f"{label}vial (glass)", "not chosen: no treatment date given", "")], []
    from y90dose.vials import VialInput, choose_vial

    zone = ZoneInfo(GLASS_CALIBRATION_TIMEZONE)
    when = datetime.combine(treatment_date, time(VIAL_CHECK_HOUR), tzinfo=zone)
    choice = choose_vial(VialInput(activity_gbq=activity, treatment_time=when))
    findings = [f.model_copy(update={"message": f"{label}{f.message}"}) for f in choice.findings]
    return [
        (
            f"{label}vial (glass)",
            f"{choice.vial_gbq:g} GBq ({choice.vial_mci:.1f} mCi) calibrated "
            f"{choice.calibration_time:%Y-%m-%d %H:%M %Z}",
            f"holds {choice.activity_at_treatment_gbq:.3g} GBq "
            f"({choice.activity_at_treatment_mci:.1f} mCi) at {when:%Y-%m-%d %H:%M %Z}; "
            "choose for the actual treatment time with y90dose vial",
        ),
        *_vial_spheres_rows(result, choice.calibration_time, when, label),
    ], findings


def _vial_spheres_rows(
    result: PlanResult, calibration: datetime, when: datetime, label: str
) -> list[tuple[str, str, str]]:
    """The sphere count of the glass vial the report chose: its spheres carry the vial's
    decayed activity, so the count differs from the plan's own (at the plan's
    ``time_since_calibration_h``, 0 unless given) and both are shown, each saying when."""
    if result.spheres is None:
        return []
    from y90dose.spheres import spheres_delivered

    hours = (when - calibration).total_seconds() / 3600.0
    own = result.spheres
    perfused_ml = own.count / own.per_ml_perfused if own.per_ml_perfused else None
    spheres = spheres_delivered(Product.GLASS, result.delivered_activity_gbq, hours, perfused_ml)
    per_ml = "" if spheres.per_ml_perfused is None else f"; {spheres.per_ml_perfused:,.0f} per mL"
    return [
        (
            f"{label}spheres from this vial",
            f"{spheres.count / 1e6:.3g} million, {spheres.activity_per_sphere_bq:,.0f} Bq each",
            f"{hours:.0f} h after its calibration{per_ml} (the plan's count assumes "
            f"{own.time_since_calibration_h or 0:g} h)",
        )
    ]


def spheres_row(spheres: Spheres, label: str) -> tuple[str, str, str]:
    hours = spheres.time_since_calibration_h
    when = "territories at different times" if hours is None else f"{hours:g} h after calibration"
    per_ml = spheres.per_ml_perfused
    per_ml_text = "" if per_ml is None else f"; {per_ml:,.0f} per mL perfused"
    spread = "" if spheres.count_sd is None else f" (SD {spheres.count_sd / 1e6:.2g} million)"
    return (
        label,
        f"{spheres.count / 1e6:.3g} million{spread}, {spheres.activity_per_sphere_bq:,.0f} Bq each",
        f"at treatment ({when}){per_ml_text}",
    )


def _bound_text(bound: float | None) -> str:
    return "(none below 1)" if bound is None else f"{bound:.4g}"


def _plan_rows(
    result: PlanResult, label: str = "", territory: TerritoryResult | None = None
) -> list[tuple[str, str, str]]:
    """Activity, lung shunt bound and spheres of one plan (or territory: also its bound
    in the treatment, the other territories as planned)."""
    in_treatment = (
        ""
        if territory is None
        else "; in the treatment at LSF "
        + _bound_text(territory.lsf_bound_in_treatment)
        + " (lsf_bound_in_treatment)"
    )
    rows = [
        (
            f"{label}activity to administer",
            f"{result.activity_gbq:.3f} GBq = {gbq_to_mci(result.activity_gbq):.1f} mCi",
            "before residual",
        ),
        (
            f"{label}activity delivered",
            f"{result.delivered_activity_gbq:.3f} GBq = "
            f"{gbq_to_mci(result.delivered_activity_gbq):.1f} mCi",
            f"after residual {result.residual:g}",
        ),
        (
            f"{label}lung shunt fraction",
            f"{result.lsf:.4g}",
            "the lung limit is reached at LSF "
            + _bound_text(result.lsf_bound)
            + " (lsf_bound)"
            + in_treatment,
        ),
    ]
    if result.spheres is not None:
        rows.append(spheres_row(result.spheres, f"{label}spheres ({result.product.value})"))
    return rows


@dataclass(frozen=True)
class UncertaintyRows:
    """The uncertainty block of a result as text (the report and the web pages show it).

    ``intervals``: (quantity, nominal, 95 % interval "low to high", SD, first-order SD,
    unit); ``inputs``: (input, value, SD, where the SD comes from).
    """

    intervals: list[tuple[str, str, str, str, str, str]]
    inputs: list[tuple[str, str, str, str]]
    drivers_of: str
    drivers: str
    defaults_used: list[str]
    method: str
    meaning: str
    notes: list[str]


def _sd_text(sd: float, scale: float) -> str:
    """An SD; rounding noise (below 1e-9 of the value it spreads) is written 0."""
    return "0" if abs(sd) <= 1e-9 * max(abs(scale), 1.0) else _number(sd)


def _input_unit(name: str) -> str:
    unit = field_unit(name.split("[")[0])
    return "" if unit.startswith(("fraction", "ratio")) else unit


def uncertainty_rows(uncertainty: Uncertainty) -> UncertaintyRows:
    """What a report or page says of ``uncertainty``: intervals, input SDs, drivers."""
    level = f"{100 * uncertainty.level:g} %"
    intervals = [
        (name, value, unit)
        for name, value, unit in (
            *(
                [("activity to administer", uncertainty.activity_gbq, "GBq")]
                if uncertainty.activity_gbq is not None
                else []
            ),
            *((f"{name} dose", i, "Gy") for name, i in uncertainty.doses_gy.items()),
        )
    ]
    inputs = []
    for item in uncertainty.inputs:
        unit = _input_unit(item.input)
        with_unit = f" {unit}" if unit else ""
        relative = (
            f" = {100 * item.sd / item.value:.3g} %"
            if item.distribution == "lognormal" and item.value
            else ""
        )
        inputs.append(
            (
                item.input,
                f"{_number(item.value)}{with_unit}",
                f"{_number(item.sd)}{with_unit}{relative}",
                item.source,
            )
        )
    return UncertaintyRows(
        intervals=[
            (
                name,
                _number(i.nominal),
                f"{_number(i.low)} to {_number(i.high)}",
                _sd_text(i.sd, i.nominal),
                "none (not differentiable here)"
                if i.sd_first_order is None
                else _sd_text(i.sd_first_order, i.nominal),
                unit,
            )
            for name, i, unit in intervals
        ],
        inputs=inputs,
        drivers_of=uncertainty.drivers_of,
        drivers=", ".join(f"{d.input} {100 * d.share:.0f} %" for d in uncertainty.drivers)
        or "none",
        defaults_used=list(uncertainty.defaults_used),
        method=f"{level} intervals; {uncertainty.method}; seed {uncertainty.seed}",
        meaning=uncertainty.meaning,
        notes=list(uncertainty.notes),
    )


def _uncertainty_blocks(result: PlanResult | TreatmentResult) -> list[tuple[str, UncertaintyRows]]:
    """(whose, rows) of every uncertainty block: the plan's, or each territory's."""
    if isinstance(result, TreatmentResult):
        return [
            (t.name, uncertainty_rows(t.result.uncertainty))
            for t in result.territories
            if t.result.uncertainty is not None
        ]
    return [] if result.uncertainty is None else [("", uncertainty_rows(result.uncertainty))]


def _inputs_rows(report: PlanReport) -> list[tuple[str, str, str]]:
    if not isinstance(report.result, TreatmentResult):
        return [
            (name, _value_text(value), field_unit(name))
            for name, value in sorted(report.inputs.items())
            if name not in ("product", "delivery")
        ]
    rows = [
        (name, _value_text(value), field_unit(name))
        for name, value in sorted(report.inputs.items())
        if name != "territories"
    ]
    for territory in report.inputs.get("territories", []):
        label = f"{territory.get('name')}: "
        rows.append((f"{label}model", _value_text(territory.get("model")), ""))
        if territory.get("treatment_date"):
            rows.append((f"{label}treatment_date", str(territory["treatment_date"]), ""))
        rows += [
            (f"{label}{name}", _value_text(value), field_unit(name))
            for name, value in sorted(territory.get("inputs", {}).items())
        ]
    return rows


def _territory_dates(report: PlanReport, result: TreatmentResult) -> list[date | None]:
    return [t.treatment_date or report.treatment_date for t in result.territories]


def constant_rows(result: PlanResult | TreatmentResult) -> list[tuple[str, str, str]]:
    """(constant, value with unit, source) of every constant ``result`` was computed with;
    for a treatment each territory's C, then the constants they share."""
    if isinstance(result, TreatmentResult):
        first = result.territories[0].result
        energies = [
            (
                f"energy per GBq, C ({t.name})",
                f"{t.result.constants.energy_j_per_gbq:g} J/GBq",
                t.result.constants.energy_source,
            )
            for t in result.territories
        ]
        return energies + constant_rows(first)[1:]
    used = result.constants

    def source(value: float, default: float, default_source: str) -> str:
        return default_source if value == default else "given in the inputs"

    return [
        ("energy per GBq, C", f"{used.energy_j_per_gbq:g} J/GBq", used.energy_source),
        ("Y-90 half-life", f"{used.half_life_h:g} h", Y90_HALF_LIFE_H.source),
        (
            "liver and tumour density",
            f"{used.density_g_ml:g} g/mL",
            source(used.density_g_ml, LIVER_DENSITY_G_ML.value, LIVER_DENSITY_G_ML.source),
        ),
        (
            "lung mass",
            f"{used.lung_mass_kg:g} kg",
            source(used.lung_mass_kg, LUNG_MASS_KG.value, LUNG_MASS_KG.source),
        ),
        ("MBq per mCi", f"{MBQ_PER_MCI.value:g}", MBQ_PER_MCI.source),
    ]


def _plan_header(result: PlanResult) -> list[tuple[str, str]]:
    segments = ", ".join(s.value for s in result.segments) if result.segments else "not named"
    return [
        ("product", result.product.value),
        ("delivery", result.delivery.value),
        ("segments", segments),
        *(
            [("segmentectomy checked against", result.segmentectomy.statement())]
            if result.segmentectomy is not None
            else []
        ),
    ]


def _treatment_header(result: TreatmentResult) -> list[tuple[str, str]]:
    rows = [("product", ", ".join(p.value for p in result.products))]
    for territory in result.territories:
        r = territory.result
        segments = f", segments {', '.join(s.value for s in r.segments)}" if r.segments else ""
        date_text = f", {territory.treatment_date}" if territory.treatment_date else ""
        rows.append(
            (
                f"territory {territory.name}",
                f"{r.model}, {r.product.value}, {r.delivery.value}{segments}{date_text}",
            )
        )
        if r.segmentectomy is not None:
            rows.append((f"{territory.name}: segmentectomy", r.segmentectomy.statement()))
    return rows


def plan_report_rows(report: PlanReport) -> dict[str, Any]:
    """What the report says, section by section, as text (no layout).

    Returns
    -------
    dict
        ``title``, ``header`` (label, value) pairs, ``inputs``/``doses``/``activity``/
        ``constants`` rows of (name, value, unit or source), ``findings`` (severity,
        code, message) most severe first, ``uncertainty`` (whose, :class:`UncertaintyRows`)
        blocks (the plan's, or each territory's that has one), ``approval`` lines,
        ``approved`` and ``inputs_sha256``.
    """
    result = report.result
    digest = inputs_sha256(report.model, report.inputs, report.treatment_date)
    version = "" if report.version is None else f"version {report.version}"
    if report.latest_version and report.version and report.latest_version > report.version:
        version += f" (superseded by version {report.latest_version})"
    if isinstance(result, TreatmentResult):
        plan_rows = _treatment_header(result)
        activity: list[tuple[str, str, str]] = []
        vial_rows: list[tuple[str, str, str]] = []
        vial_findings: list[Finding] = []
        for territory, when in zip(
            result.territories, _territory_dates(report, result), strict=True
        ):
            label = f"{territory.name}: "
            activity += _plan_rows(territory.result, label, territory)
            rows, found = _vial_rows(territory.result, when, label)
            vial_rows += rows
            vial_findings += found
        activity += [
            (
                "treatment: activity to administer",
                f"{result.activity_gbq:.3f} GBq = {gbq_to_mci(result.activity_gbq):.1f} mCi",
                "all territories, before residual",
            ),
            *(
                spheres_row(spheres, f"treatment: spheres ({product.value})")
                for product, spheres in result.spheres.items()
            ),
        ]
        doses = _treatment_doses(result)
        all_findings: list[Finding] = [
            f.model_copy(update={"message": f"{f.territory}: {f.message}"}) if f.territory else f
            for f in result.findings
        ]
    else:
        plan_rows = _plan_header(result)
        activity = _plan_rows(result)
        vial_rows, vial_findings = _vial_rows(result, report.treatment_date)
        doses = _doses(result)
        all_findings = list(result.findings)
    header = [
        ("patient reference", report.patient_ref or "not given"),
        ("plan", " ".join(p for p in (report.plan_id or "", version) if p) or "not stored"),
        (
            "treatment date",
            report.treatment_date.isoformat() if report.treatment_date else "not given",
        ),
        *plan_rows,
        (
            "model",
            f"{report.model} ({result.direction}: {DIRECTIONS.get(result.direction, '')})",
        ),
        (
            "computed by",
            " ".join(
                p
                for p in (
                    report.created_by or "",
                    f"{report.created_at:%Y-%m-%d %H:%M %Z}" if report.created_at else "",
                )
                if p
            )
            or "not stored",
        ),
    ]
    if report.note:
        header.append(("note", report.note))
    inputs = _inputs_rows(report)
    findings = sorted([*all_findings, *vial_findings], key=lambda f: SEVERITY_ORDER[f.severity])
    approval = [
        f"approved by {a.approved_by} at {a.approved_at:%Y-%m-%d %H:%M %Z}"
        + (f": {a.comment}" if a.comment else "")
        for a in report.approvals
    ] or [f"{NOT_APPROVED}: this version has no approval"]
    return {
        "title": "Y-90 radioembolization plan"
        if result.direction == "plan"
        else "Y-90 radioembolization doses of a given activity",
        "header": header,
        "inputs": inputs,
        "activity": activity + vial_rows,
        "doses": doses,
        "findings": [(f.severity.value, f.code.value, f.message) for f in findings],
        "constants": constant_rows(report.result),
        "uncertainty": _uncertainty_blocks(result),
        "approval": approval,
        "approved": report.approved,
        "software": f"y90dose {report.software_version}",
        "inputs_sha256": digest,
    }


def plan_report_pdf(report: PlanReport) -> bytes:
    """The plan report as PDF bytes (A4).

    Raises
    ------
    ImportError
        reportlab is not installed (``pip install 'y90dose[report]'``).

    Examples
    --------
    >>> pdf = plan_report_pdf(report)  # doctest: +SKIP
    >>> pdf[:5]  # doctest: +SKIP
    b'%PDF-'
    """
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfgen.canvas import Canvas
    from reportlab.platypus import Spacer, TableStyle

    rows = plan_report_rows(report)
    look = layout.styles()
    body, strong, heading, title = look.body, look.strong, look.heading, look.title

    def p(text: str, style: Any = body) -> Any:
        return layout.paragraph(text, style)

    def table(data: list[Any], widths: list[float], head: tuple[str, ...] | None) -> Any:
        return layout.table(data, widths, head, look)

    width = layout.content_width_pt()
    severity_colour = layout.SEVERITY_COLOURS
    story: list[Any] = [p(rows["title"], title), Spacer(1, 3 * mm)]
    story.append(table(rows["header"], [0.25 * width, 0.75 * width], None))
    story += [
        p("Activity and vial", heading),
        table(
            rows["activity"],
            [0.25 * width, 0.4 * width, 0.35 * width],
            ("quantity", "value", "note"),
        ),
    ]
    story += [
        p("Doses", heading),
        table(
            rows["doses"], [0.4 * width, 0.3 * width, 0.3 * width], ("compartment", "dose", "unit")
        ),
    ]
    for whose, block in rows["uncertainty"]:
        story += [
            p(f"Uncertainty{': ' + whose if whose else ''}", heading),
            p(f"{block.meaning}. {block.method}."),
            Spacer(1, 1.5 * mm),
            table(
                block.intervals,
                [0.22 * width, 0.12 * width, 0.22 * width, 0.12 * width, 0.2 * width, 0.12 * width],
                ("quantity", "nominal", "95 % interval", "SD", "first-order SD", "unit"),
            ),
            Spacer(1, 1.5 * mm),
            p(f"Drivers of {block.drivers_of} (share of its variance): {block.drivers}."),
            Spacer(1, 1.5 * mm),
            table(
                block.inputs,
                [0.25 * width, 0.14 * width, 0.2 * width, 0.41 * width],
                ("input", "value", "SD", "SD from"),
            ),
        ]
        story.append(Spacer(1, 1.5 * mm))
        if block.defaults_used:
            story.append(
                p(
                    "Literature defaults (docs/physics.md) used for: "
                    + ", ".join(block.defaults_used)
                    + "."
                )
            )
        story += [p(f"Note: {note}") for note in block.notes]
    story += [
        p("Inputs", heading),
        table(rows["inputs"], [0.4 * width, 0.3 * width, 0.3 * width], ("input", "value", "unit")),
    ]
    story.append(p("Findings", heading))
    if rows["findings"]:
        findings = table(
            rows["findings"],
            [0.11 * width, 0.3 * width, 0.59 * width],
            ("severity", "code", "message"),
        )
        findings.setStyle(
            TableStyle(
                [
                    ("TEXTCOLOR", (0, i + 1), (0, i + 1), colors.HexColor(severity_colour[s]))
                    for i, (s, _, _) in enumerate(rows["findings"])
                ]
            )
        )
        story.append(findings)
    else:
        story.append(p("none"))
    story += [
        p("Constants", heading),
        table(
            rows["constants"],
            [0.25 * width, 0.2 * width, 0.55 * width],
            ("constant", "value", "source"),
        ),
    ]
    story.append(p("Approval", heading))
    story += [p(line, strong) for line in rows["approval"]]
    story += [Spacer(1, 3 * mm), p(f"{rows['software']}; inputs SHA-256 {rows['inputs_sha256']}")]

    draw_footer = layout.footer(
        look, f"{rows['software']} - inputs SHA-256 {rows['inputs_sha256'][:16]}"
    )

    def decorate(canvas: Canvas, doc: Any) -> None:
        draw_footer(canvas, doc)
        canvas.saveState()
        if not rows["approved"]:
            canvas.setFont(look.bold, 64)
            canvas.setFillColor(colors.HexColor("#D55E00"), alpha=0.28)
            canvas.translate(A4[0] / 2, A4[1] / 2)
            canvas.rotate(52)
            canvas.drawCentredString(0, -20, NOT_APPROVED)
        canvas.restoreState()

    return layout.build_pdf(
        story,
        title=f"Y-90 plan {report.plan_id or ''}".strip(),
        subject="radioembolization plan report",
        decorate=decorate,
    )
