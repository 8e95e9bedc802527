"""Human-readable renderings of core results (the JSON form is the model itself)."""

from __future__ import annotations

from y90dose.findings import Finding
from y90dose.models.common import PlanResult
from y90dose.segments import names as segment_names
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
    lines.append("findings:")
    lines += findings_text(result.findings)
    return "\n".join(lines)
