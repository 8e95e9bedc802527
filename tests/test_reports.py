"""The plan report (y90dose.reports): what it says, checked by hand arithmetic and by
reading the PDF back with ``pdftotext`` (poppler-utils) and rendering it with ``pdftoppm``.

Hand arithmetic (physics.md 4.1; glass C = 50 J/GBq, density 1.03 g/mL):
120 Gy to 1165 mL, LSF 0.08: M = 1.19995 kg, A = 120 x 1.19995 / (50 x 0.92) = 3.13030 GBq,
= 3130.30 MBq / 37 MBq/mCi = 84.60 mCi. Treatment Tuesday 2026-12-01 12:00 New York is
48 h after the weekly glass calibration (Sunday 12:00): a 5 GBq vial then holds
5 x 2^(-48/64.1) = 2.975 GBq < 3.130, a 7 GBq vial 4.165 GBq: the 7 GBq vial.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from y90dose.models.mird import MirdPlanInput, plan_mird
from y90dose.reports import ApprovalRecord, PlanReport, inputs_sha256, plan_report_rows

pytest.importorskip("reportlab")


def _report(**overrides: object) -> PlanReport:
    inputs = MirdPlanInput(target_dose_gy=120, perfused_volume_ml=1165, lsf=0.08)
    values: dict[str, object] = {
        "model": "mird",
        "inputs": inputs.model_dump(mode="json"),
        "result": plan_mird(inputs),
        "software_version": "9.9.9",
        "patient_ref": "MRN-Ünï-0042",
        "plan_id": "p1",
        "version": 1,
        "treatment_date": date(2026, 12, 1),
    }
    values.update(overrides)
    return PlanReport(**values)  # type: ignore[arg-type]


def _pdftotext(pdf: bytes, tmp_path: Path) -> str:
    if shutil.which("pdftotext") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI: pdftotext missing (.ci/run installs poppler-utils)")
        pytest.skip("pdftotext is not installed (poppler-utils)")
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    done = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True)
    return done.stdout


def test_activity_in_gbq_and_mci_and_the_vial_by_hand() -> None:
    rows = plan_report_rows(_report())
    activity = dict((name, value) for name, value, _ in rows["activity"])
    assert activity["activity to administer"] == "3.130 GBq = 84.6 mCi"
    assert activity["vial (glass)"].startswith("7 GBq (189.2 mCi) calibrated 2026-11-29 12:00")
    assert "holds 4.17 GBq" in dict((n, note) for n, _, note in rows["activity"])["vial (glass)"]


def test_the_chosen_vials_spheres_beside_the_plans() -> None:
    """The plan counts spheres at its time_since_calibration_h (0: 3.13030e9 / 2500 Bq =
    1.252 million); the 7 GBq vial the report chooses is used 48 h after its calibration,
    when each sphere holds 2500 x 2^(-48/64.1) = 1487.5 Bq: 3.13030e9 / 1487.5 = 2.104
    million. Both are shown, each saying when (the review found the first alone)."""
    rows = plan_report_rows(_report())
    values = {name: (value, note) for name, value, note in rows["activity"]}
    assert values["spheres (glass)"][0] == "1.25 million, 2,500 Bq each"
    vial_value, vial_note = values["spheres from this vial"]
    assert vial_value == "2.1 million, 1,488 Bq each"
    assert vial_note.startswith("48 h after its calibration")
    assert "the plan's count assumes 0 h" in vial_note


def test_resin_vial_is_the_3_gbq_vial() -> None:
    from y90dose.models.mird import MirdPlanInput as Mird

    inputs = Mird(target_dose_gy=120, perfused_volume_ml=1165, lsf=0.08, product="resin")
    rows = plan_report_rows(
        _report(inputs=inputs.model_dump(mode="json"), result=plan_mird(inputs))
    )
    vial = next(r for r in rows["activity"] if r[0] == "vial (resin)")
    assert vial[1].startswith("3 GBq (81.1 mCi)")  # 3000 / 37 = 81.08


def test_inputs_hash_is_canonical_and_changes_with_any_input() -> None:
    a = inputs_sha256("mird", {"lsf": 0.08, "target_dose_gy": 120.0}, date(2026, 12, 1))
    b = inputs_sha256("mird", {"target_dose_gy": 120.0, "lsf": 0.08}, date(2026, 12, 1))
    assert a == b and len(a) == 64
    assert a != inputs_sha256("mird", {"lsf": 0.09, "target_dose_gy": 120.0}, date(2026, 12, 1))
    assert a != inputs_sha256("mird", {"lsf": 0.08, "target_dose_gy": 120.0}, date(2026, 12, 2))


def test_pdf_text_unapproved(tmp_path: Path) -> None:
    from y90dose.reports import plan_report_pdf

    report = _report()
    text = _pdftotext(plan_report_pdf(report), tmp_path)
    for expected in (
        "MRN-Ünï-0042",  # Unicode patient references survive (embedded TrueType font)
        "2026-12-01",
        "glass",
        "3.130 GBq = 84.6 mCi",
        "perfused_volume_ml",
        "fraction (0.08 = 8 %)",
        "LUNG_MASS_ASSUMED",
        "IFU-glass",  # a constant's source
        "y90dose 9.9.9",
        inputs_sha256(report.model, report.inputs, report.treatment_date),
        "NOT APPROVED: this version has no approval",
    ):
        assert expected in text, expected


def test_pdf_text_approved_and_rendered(tmp_path: Path) -> None:
    from y90dose.reports import plan_report_pdf

    approval = ApprovalRecord(
        approved_by="dr-approver",
        approved_at=datetime(2026, 11, 30, 9, 5, tzinfo=UTC),
        comment="agreed at the tumour board",
    )
    pdf = plan_report_pdf(_report(approvals=(approval,)))
    text = _pdftotext(pdf, tmp_path)
    assert "approved by dr-approver at 2026-11-30 09:05 UTC: agreed at the tumour board" in text
    assert "NOT APPROVED" not in text
    if shutil.which("pdftoppm"):
        subprocess.run(
            ["pdftoppm", "-png", "-r", "40", str(tmp_path / "report.pdf"), str(tmp_path / "page")],
            check=True,
        )
        assert (tmp_path / "page-1.png").stat().st_size > 1000


def test_cli_writes_the_same_report(tmp_path: Path) -> None:
    from y90dose.cli.main import main

    target = tmp_path / "cli.pdf"
    code = main(
        [
            "plan",
            "mird",
            "--target-dose-gy",
            "120",
            "--perfused-volume-ml",
            "1165",
            "--lsf",
            "0.08",
            "--report",
            str(target),
            "--patient-ref",
            "CLI-1",
            "--treatment-date",
            "2026-12-01",
        ]
    )
    assert code == 0
    text = _pdftotext(target.read_bytes(), tmp_path)
    assert "CLI-1" in text and "3.130 GBq = 84.6 mCi" in text and "NOT APPROVED" in text


def test_cli_refuses_report_options_without_report(capsys: pytest.CaptureFixture[str]) -> None:
    from y90dose.cli.main import main

    code = main(
        [
            "plan",
            "mird",
            "--target-dose-gy",
            "120",
            "--perfused-volume-ml",
            "1165",
            "--lsf",
            "0.08",
            "--patient-ref",
            "X",
        ]
    )
    assert code == 2
    assert "--patient-ref/--treatment-date" in capsys.readouterr().err


def test_pdf_says_which_segmentectomy_definition_was_checked(tmp_path: Path) -> None:
    """Issue 15: the report says which definition a segmentectomy plan was checked
    against, also when the plan passes it (450 Gy to 150 mL of glass: no finding)."""
    from y90dose.reports import plan_report_pdf

    inputs = MirdPlanInput(
        target_dose_gy=450,
        perfused_volume_ml=150,
        lsf=0.05,
        delivery="segmentectomy",
        segments=["VI"],
    )
    report = _report(inputs=inputs.model_dump(mode="json"), result=plan_mird(inputs))
    text = " ".join(_pdftotext(plan_report_pdf(report), tmp_path).split())
    assert "segmentectomy checked against" in text
    assert "200 Gy to the perfused volume" in text
    assert "Liberchuk" in text


@pytest.mark.parametrize("blank", ["   ", "\u200b"])
def test_cli_refuses_a_patient_ref_that_says_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], blank: str
) -> None:
    """The review found `--patient-ref "   "` printed a blank reference on the report; the
    same rule as the API (y90dose.validation.says_something) now refuses it."""
    from y90dose.cli.main import main

    out = tmp_path / "r.pdf"
    args = ["plan", "mird", "--target-dose-gy", "120", "--perfused-volume-ml", "1165"]
    code = main([*args, "--lsf", "0.08", "--report", str(out), "--patient-ref", blank])
    assert code == 2
    assert "--patient-ref" in capsys.readouterr().err
    assert not out.exists()
