"""The plan report's uncertainty block, lung shunt bounds and sphere counts, by hand.

MIRD plan (physics.md 4.1; glass C = 50 J/GBq, 1.03 g/mL, lungs 1 kg): 120 Gy to 1165 mL,
LSF 0.08: M = 1.19995 kg, A = 143.994 / (50 x 0.92) = 3.13030 GBq.

- lsf_bound: x = 30 Gy x 1 kg / (120 Gy x 1.19995 kg) = 0.208342, x / (1 + x) = 0.17242.
- spheres, glass at calibration: 3.13030e9 Bq / 2500 Bq = 1.252 million, per mL
  1.252122e6 / 1165 = 1,075. Resin 24 h after calibration: C = 49.38 J/GBq,
  A = 143.994 / (49.38 x 0.92) = 3.16961 GBq; a sphere carries 3e9 / 44e6 = 68.18 Bq at
  calibration, 68.18 x 2^(-24 / 64.1) = 52.60 Bq at treatment; 3.16961e9 / 52.60 = 60.26
  million spheres, SD 60.26 x 2.6 / 44 = 3.56 million.
- uncertainty with only the volume uncertain (SD 10 %; the other SDs 0): the mass is
  lognormal with mean M and CV 0.1, sigma^2 = ln(1.01) = 0.0099503. The planned activity
  A ~ M: first-order SD 0.1 x 3.13030 = 0.313 GBq, 95 % interval
  A x exp(-sigma^2/2 -/+ 1.96 sigma) = 3.1303 x (0.81822, 1.20990) = 2.561 to 3.787 GBq.
  The dose the planned activity gives D ~ 1/M: first-order SD 0.1 x 120 = 12 Gy,
  interval 120 x exp(sigma^2/2 -/+ 1.96 sigma) = 120 x (0.82651, 1.22204) = 99.18 to
  146.64 Gy. The lung dose has nothing uncertain: SD 0.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from y90dose.models.mird import MirdPlanInput, plan_mird
from y90dose.models.treatment import TreatmentInput, plan_treatment
from y90dose.reports import PlanReport, plan_report_rows
from y90dose.reports.plan import uncertainty_rows

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"
MIRD = {"target_dose_gy": 120, "perfused_volume_ml": 1165, "lsf": 0.08}
VOLUME_ONLY = {
    "sd_volume_percent": 10,
    "sd_lsf": 0,
    "sd_activity_percent": 0,
    "sd_lung_mass_percent": 0,
}


def _report(**inputs: Any) -> PlanReport:
    validated = MirdPlanInput.model_validate({**MIRD, **inputs})
    return PlanReport(
        model="mird",
        inputs=validated.model_dump(mode="json"),
        result=plan_mird(validated),
        software_version="test",
    )


def _pdftotext(pdf: bytes, tmp_path: Path) -> str:
    if shutil.which("pdftotext") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI: pdftotext missing (.ci/run installs poppler-utils)")
        pytest.skip("pdftotext is not installed (poppler-utils)")
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    command = ["pdftotext", "-layout", str(path), "-"]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return " ".join(done.stdout.split())


def _interval(text: str) -> tuple[float, float]:
    low, high = text.split(" to ")
    return float(low), float(high)


def test_uncertainty_rows_by_hand() -> None:
    result = plan_mird(MirdPlanInput.model_validate({**MIRD, **VOLUME_ONLY}))
    assert result.uncertainty is not None
    block = uncertainty_rows(result.uncertainty)
    rows = {name: rest for name, *rest in block.intervals}
    nominal, interval, sd, first_order, unit = rows["activity to administer"]
    assert (nominal, first_order, unit) == ("3.13", "0.313", "GBq")
    assert _interval(interval) == pytest.approx((2.561, 3.787), rel=0.015)
    assert float(sd) == pytest.approx(0.313, rel=0.03)
    nominal, interval, sd, first_order, unit = rows["perfused dose"]
    assert (nominal, first_order, unit) == ("120", "12", "Gy")
    assert _interval(interval) == pytest.approx((99.18, 146.64), rel=0.015)
    # D ~ 1/M: mean 120 x exp(sigma^2) = 121.2 Gy, SD 121.2 x sqrt(exp(sigma^2) - 1) = 12.12
    assert float(sd) == pytest.approx(12.12, rel=0.03)
    assert rows["lung dose"][2:4] == ["0", "0"]
    inputs = {name: rest for name, *rest in block.inputs}
    assert inputs["perfused_volume_ml"] == ["1165 mL", "116.5 mL = 10 %", "given"]
    assert inputs["lsf"] == ["0.08", "0", "given"]
    assert block.drivers_of == "perfused"
    assert block.drivers == "perfused_volume_ml 100 %"
    assert block.defaults_used == []


def test_defaults_are_named_with_their_source() -> None:
    report = _report(uncertainty=True)
    [(whose, block)] = plan_report_rows(report)["uncertainty"]
    assert whose == ""
    assert sorted(block.defaults_used) == [
        "sd_activity_percent",
        "sd_lsf",
        "sd_lung_mass_percent",
        "sd_volume_percent",
    ]
    sources = {name: source for name, _, _, source in block.inputs}
    assert sources["lung_mass_kg"].startswith("default: ")
    # the assumed 1 kg lung takes 25 %: 0.25 kg
    sds = {name: sd for name, _, sd, _ in block.inputs}
    assert sds["lung_mass_kg"] == "0.25 kg = 25 %"
    assert plan_report_rows(_report())["uncertainty"] == []


def test_lsf_bound_and_spheres_by_hand() -> None:
    glass = {n: (v, note) for n, v, note in plan_report_rows(_report())["activity"]}
    assert glass["lung shunt fraction"] == (
        "0.08",
        "the lung limit is reached at LSF 0.1724 (lsf_bound)",
    )
    assert glass["spheres (glass)"] == (
        "1.25 million, 2,500 Bq each",
        "at treatment (0 h after calibration); 1,075 per mL perfused",
    )
    resin = plan_report_rows(_report(product="resin", time_since_calibration_h=24))
    count, note = {n: (v, note) for n, v, note in resin["activity"]}["spheres (resin)"]
    assert count == "60.3 million (SD 3.6 million), 53 Bq each"
    assert note.startswith("at treatment (24 h after calibration); 51,7")  # 60.26e6 / 1165


def test_treatment_rows_show_bounds_in_the_treatment_and_stages() -> None:
    """Lung-sum example (lungs 0.9 kg): right lobe alone reaches 30 Gy at
    x = 30 x 0.9 / 123.6 = 0.218447, LSF 0.17928; in the treatment the left lobe's
    5.971014 Gy leave 24.028986 Gy: x = 24.028986 x 0.9 / 123.6 = 0.174968, LSF 0.14891.
    Staged example (prior 12 Gy): stage 1 lung 24.235 Gy, cumulative 36.235; stage 2
    lung 5.971, cumulative 42.206 Gy."""
    body = json.loads((EXAMPLES / "treatment-lung-sum.json").read_text())
    inputs = TreatmentInput.model_validate(body)
    report = PlanReport(
        model="treatment",
        inputs=inputs.model_dump(mode="json"),
        result=plan_treatment(inputs),
        software_version="test",
    )
    notes = {name: note for name, _, note in plan_report_rows(report)["activity"]}
    assert notes["right lobe: lung shunt fraction"] == (
        "the lung limit is reached at LSF 0.1793 (lsf_bound); in the treatment at LSF "
        "0.1489 (lsf_bound_in_treatment)"
    )
    staged = TreatmentInput.model_validate(
        json.loads((EXAMPLES / "treatment-staged.json").read_text())
    )
    rows = plan_report_rows(
        PlanReport(
            model="treatment",
            inputs=staged.model_dump(mode="json"),
            result=plan_treatment(staged),
            software_version="test",
        )
    )
    doses = {name: value for name, value, _ in rows["doses"]}
    assert doses["stage 2026-03-04 (right lobe): lung"] == "24.24"
    assert doses["stage 2026-03-04 (right lobe): lung_cumulative"] == "36.24"
    assert doses["stage 2026-04-01 (left lobe): lung"] == "5.971"
    assert doses["stage 2026-04-01 (left lobe): lung_cumulative"] == "42.21"


def test_treatment_territory_uncertainty_is_its_own_block() -> None:
    body = json.loads((EXAMPLES / "treatment-lung-sum.json").read_text())
    body["territories"][1]["inputs"].update(VOLUME_ONLY)
    inputs = TreatmentInput.model_validate(body)
    rows = plan_report_rows(
        PlanReport(
            model="treatment",
            inputs=inputs.model_dump(mode="json"),
            result=plan_treatment(inputs),
            software_version="test",
        )
    )
    [(whose, block)] = rows["uncertainty"]
    assert whose == "left lobe"
    # 120 Gy to 500 mL: first-order SD of the perfused dose 10 % = 12 Gy, as above
    assert {name: first for name, _, _, _, first, _ in block.intervals}["perfused dose"] == "12"


def test_pdf_text(tmp_path: Path) -> None:
    pytest.importorskip("reportlab")
    from y90dose.reports import plan_report_pdf

    report = _report(**VOLUME_ONLY)
    text = _pdftotext(plan_report_pdf(report), tmp_path)
    [(_, block)] = plan_report_rows(report)["uncertainty"]
    perfused = next(row for row in block.intervals if row[0] == "perfused dose")
    assert " ".join(perfused) in text  # perfused dose 120 99.x to 146.x 12.1 12 Gy
    assert "95 % interval" in text and "first-order SD" in text
    assert "Drivers of perfused (share of its variance): perfused_volume_ml 100 %." in text
    assert "perfused_volume_ml 1165 mL 116.5 mL = 10 % given" in text
    assert "the lung limit is reached at LSF 0.1724 (lsf_bound)" in text
    assert "1.25 million, 2,500 Bq each" in text and "1,075 per mL perfused" in text
    defaults = _pdftotext(plan_report_pdf(_report(uncertainty=True)), tmp_path)
    assert "Literature defaults (docs/physics.md) used for: sd_activity_percent" in defaults
