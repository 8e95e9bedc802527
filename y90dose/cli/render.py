"""Human-readable renderings of core results (the JSON form is the model itself)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from y90dose.findings import Finding
from y90dose.models.common import PlanResult, Spheres

if TYPE_CHECKING:  # only plan treatment imports the treatment model (start-up of vial, lsf)
    from y90dose.models.treatment import TerritoryResult, TreatmentResult
from y90dose.segments import names as segment_names
from y90dose.uncertainty.result import Interval, Uncertainty
from y90dose.units import gbq_to_mci


def findings_text(findings: Sequence[Finding]) -> list[str]:
    """One line per finding, most severe first."""
    order = {"block": 0, "warning": 1, "info": 2}
    ranked = sorted(findings, key=lambda f: order[f.severity.value])
    return [f"  [{f.severity.value.upper()}] {f.code.value}: {f.message}" for f in ranked] or [
        "  none"
    ]


def spheres_text(spheres: Spheres, label: str = "spheres") -> str:
    """One line: how many spheres, each carrying how much, and per mL perfused."""
    spread = "" if spheres.count_sd is None else f" +/- {spheres.count_sd / 1e6:.2f}"
    per_ml = (
        ""
        if spheres.per_ml_perfused is None
        else f", {spheres.per_ml_perfused:,.0f} per mL perfused"
    )
    hours = spheres.time_since_calibration_h
    when = (
        "territories at different times after calibration"
        if hours is None
        else f"{hours:g} h after calibration"
        if hours >= 0
        else f"{-hours:g} h before calibration"
    )
    return (
        f"{label}: {spheres.count / 1e6:.3g}{spread} million, "
        f"{spheres.activity_per_sphere_bq:,.0f} Bq each at treatment ({when}){per_ml}"
    )


def lsf_bound_text(bound: float | None, lsf: float) -> str:
    """``lsf_bound`` for people: where the lung limit binds, beside the LSF used."""
    if bound is None:
        return f"lsf_bound: none (no treatable LSF reaches the lung limit; LSF used {lsf:.4g})"
    return f"lsf_bound: {bound:.4g} (the lung limit is reached at this LSF; LSF used {lsf:.4g})"


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
    lines.append(lsf_bound_text(result.lsf_bound, result.lsf))
    if result.spheres is not None:
        lines.append(spheres_text(result.spheres))
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


def _territory_line(territory: TerritoryResult) -> str:
    r = territory.result
    doses = ", ".join(
        f"{name} {value:.1f}"
        for name, value in r.doses_gy.items()
        if name not in ("tumors", "lung_cumulative") and not isinstance(value, list)
    )
    if len(r.tumor_doses_gy()) > 1:
        doses += ", tumours " + ", ".join(f"{d:.1f}" for d in r.tumor_doses_gy())
    bound = (
        "none"
        if territory.lsf_bound_in_treatment is None
        else (f"{territory.lsf_bound_in_treatment:.4g}")
    )
    alone = "none" if r.lsf_bound is None else f"{r.lsf_bound:.4g}"
    date = f" on {territory.treatment_date}" if territory.treatment_date else ""
    return (
        f"  {territory.name}{date}: {r.model} ({r.direction}), {r.product.value}, "
        f"{r.delivery.value}: {r.activity_gbq:.3f} GBq ({gbq_to_mci(r.activity_gbq):.1f} mCi); "
        f"doses (Gy) {doses}; LSF {r.lsf:.4g}, lsf_bound {alone} alone, {bound} in the treatment"
    )


def treatment_text(result: TreatmentResult) -> str:
    """A multi-territory treatment as a short report."""
    lines = [f"treatment of {len(result.territories)} territories ({result.direction}):"]
    lines += [_territory_line(t) for t in result.territories]
    lines.append(
        f"activity: {result.activity_gbq:.3f} GBq ({gbq_to_mci(result.activity_gbq):.1f} mCi); "
        f"leaving vials and tubing: {result.delivered_activity_gbq:.3f} GBq"
    )
    lines.append("doses (Gy):")
    lines += [f"  {name:<18} {dose:.1f}" for name, dose in result.doses_gy.items()]
    if len(result.stages) > 1:
        lines.append("stages:")
        lines += [
            f"  {stage.treatment_date}: {', '.join(stage.territories)}: lung {stage.lung_gy:.1f} "
            f"Gy, cumulative {stage.lung_cumulative_gy:.1f} Gy"
            for stage in result.stages
        ]
    lines += [
        spheres_text(spheres, f"spheres ({product.value})")
        for product, spheres in result.spheres.items()
    ]
    lines.append(
        f"lung mass {result.lung_mass_kg:g} kg; prior lung dose {result.prior_lung_dose_gy:g} Gy"
    )
    lines.append("findings:")
    lines += findings_text(
        [
            f.model_copy(update={"message": f"{f.territory}: {f.message}"}) if f.territory else f
            for f in result.findings
        ]
    )
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
