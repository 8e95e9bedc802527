"""Human-readable renderings of core results (the JSON form is the model itself)."""

from __future__ import annotations

from y90dose.findings import Finding
from y90dose.models.common import PlanResult
from y90dose.segments import names as segment_names
from y90dose.uncertainty.result import Interval, Uncertainty
from y90dose.units import gbq_to_mci


def findings_text(findings: list[Finding]) -> list[str]:
    """One line per finding, most severe first."""
    order = {"block": 0, "warning": 1, "info": 2}
    ranked = sorted(findings, key=lambda f: order[f.severity.value])
    return [f"  [{f.severity.value.upper()}] {f.code.value}: {f.message}" for f in ranked] or [
        "  none"
    ]


def _detail_text(name: str, value: object) -> str:
    """A detail for people: yes/no, 4 significant digits, indices also counted from 1."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if name == "target_tumor_index" and isinstance(value, int):
        return f"{value} (tumour {value + 1}: the JSON counts from 0, the findings from 1)"
    return str(value)


def plan_text(result: PlanResult) -> str:
    """A plan or dose result as a short report."""
    lines = [
        f"model: {result.model} ({result.direction}), product {result.product.value}, "
        f"delivery {result.delivery.value}",
    ]
    if result.segments:
        lines.append(f"segments: {segment_names(result.segments)}")
    check = result.segmentectomy
    if check is not None:
        lines.append(f"segmentectomy checked against: {check.statement()}")
    lines += [
        f"activity: {result.activity_gbq:.3f} GBq ({gbq_to_mci(result.activity_gbq):.1f} mCi); "
        f"leaving vial and tubing: {result.delivered_activity_gbq:.3f} GBq",
        "doses (Gy):",
    ]
    for name, dose in result.doses_gy.items():
        if isinstance(dose, list):
            shown = ", ".join(f"{d:.1f}" for d in dose)
            lines.append(f"  {name:<16} [{shown}]")
        else:
            lines.append(f"  {name:<16} {dose:.1f}")
    for name, value in result.details.items():
        lines.append(f"{name}: {_detail_text(name, value)}")
    c = result.constants
    lines.append(
        f"constants: C = {c.energy_j_per_gbq:g} J/GBq ({c.energy_source}); "
        f"T1/2 = {c.half_life_h:g} h; density {c.density_g_ml:g} g/mL; "
        f"lung mass {c.lung_mass_kg:g} kg"
    )
    if result.uncertainty is not None:
        lines += uncertainty_text(result.uncertainty)
    lines.append("findings:")
    lines += findings_text(result.findings)
    return "\n".join(lines)


def _interval_text(name: str, interval: Interval, digits: int) -> str:
    first = interval.sd_first_order
    first_text = "-" if first is None else f"{first:.{digits}f}"
    return (
        f"  {name:<16} {interval.nominal:.{digits}f}  {interval.low:.{digits}f} - "
        f"{interval.high:.{digits}f}  SD {interval.sd:.{digits}f} ({first_text})"
    )


def uncertainty_text(uncertainty: Uncertainty) -> list[str]:
    """The uncertainty block of a plan: intervals, drivers, the input SDs used."""
    lines = [
        f"uncertainty ({100 * uncertainty.level:g} % interval of {uncertainty.draws} draws; "
        "first-order SD in brackets):"
    ]
    if uncertainty.activity_gbq is not None:
        lines.append(_interval_text("activity_gbq", uncertainty.activity_gbq, 3))
    lines += [_interval_text(name, i, 1) for name, i in uncertainty.doses_gy.items()]
    drivers = ", ".join(f"{d.input} {100 * d.share:.0f} %" for d in uncertainty.drivers)
    lines.append(f"  drivers of {uncertainty.drivers_of}: {drivers or 'none'}")
    sds = []
    for item in uncertainty.inputs:
        shown = (
            f"{item.sd:g}" if item.sd_field == "sd_lsf" else f"{100 * item.sd / item.value:.3g} %"
        )
        sds.append(f"{item.input} {shown}{'' if item.given else ' (default)'}")
    lines.append(f"  input SDs: {', '.join(sds)}")
    if uncertainty.defaults_used:
        lines.append(
            f"  defaults (literature, docs/physics.md) for: {', '.join(uncertainty.defaults_used)}"
        )
    lines += [f"  note: {note}" for note in uncertainty.notes]
    return lines
