"""Multi-territory treatments (issue 13, part 1): each territory by its own model, and
what they give together.

Numbers: glass C = 50 J/GBq, resin C = 49.38 J/GBq, density 1.03 g/mL.
- right lobe MIRD 120 Gy to 1000 mL (1.03 kg), LSF 0.10: A = 123.6 / (50 x 0.9) =
  2.746667 GBq, lung energy 50 x 2.746667 x 0.1 = 13.733333 J;
- left lobe MIRD 120 Gy to 500 mL (0.515 kg), LSF 0.06: A = 61.8 / (50 x 0.94) =
  1.314894 GBq, lung energy 50 x 1.314894 x 0.06 = 3.944681 J.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from y90dose.cli.main import main
from y90dose.devices import Product
from y90dose.findings import Code, Severity, has_block
from y90dose.models.bsa import BsaPlanInput, plan_bsa
from y90dose.models.treatment import (
    TreatmentInput,
    TreatmentResult,
    plan_treatment,
    result_of,
)
from y90dose.validation import describe_error

DOCS_EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"


def mird(name: str, volume_ml: float, lsf: float, **extra: Any) -> dict[str, Any]:
    inputs = {"target_dose_gy": 120, "perfused_volume_ml": volume_ml, "lsf": lsf, **extra}
    return {"name": name, "model": "mird", "inputs": inputs}


RIGHT = mird("right lobe", 1000, 0.10, delivery="lobar")
LEFT = mird("left lobe", 500, 0.06, delivery="lobar")


def treat(*territories: dict[str, Any], **shared: Any) -> TreatmentResult:
    return plan_treatment(
        TreatmentInput.model_validate({"territories": list(territories), **shared})
    )


def errors_of(body: dict[str, Any]) -> dict[str, str]:
    """field -> what is allowed, for every error of ``body``."""
    with pytest.raises(ValidationError) as caught:
        TreatmentInput.model_validate(body)
    return {field: allowed for field, _, allowed in map(describe_error, caught.value.errors())}


# --- the sums ---------------------------------------------------------------------------------


def test_two_lobes_sum_activity_and_lung() -> None:
    """Total 2.746667 + 1.314894 = 4.061560 GBq; lung (13.733333 + 3.944681) / 1 kg =
    17.678014 Gy; each territory's own result is its model's, in input order."""
    result = treat(RIGHT, LEFT)
    assert [t.name for t in result.territories] == ["right lobe", "left lobe"]
    assert result.territories[0].result.activity_gbq == pytest.approx(123.6 / 45)
    assert result.territories[1].result.activity_gbq == pytest.approx(61.8 / 47)
    assert result.activity_gbq == pytest.approx(123.6 / 45 + 61.8 / 47)
    assert result.doses_gy["lung"] == pytest.approx(13.733333 + 3.944681, abs=1e-5)
    assert result.doses_gy["lung_cumulative"] == result.doses_gy["lung"]
    assert result.doses_gy["lung"] == pytest.approx(
        sum(t.result.dose_gy("lung") for t in result.territories)
    )
    assert result.direction == "plan"


def test_mixed_products_each_with_its_own_constant() -> None:
    """Right lobe glass as above; left lobe resin, 1.0 GBq (dose), LSF 0.10; lungs 0.8 kg:
    lung = (50 x 2.746667 x 0.1 + 49.38 x 1.0 x 0.1) / 0.8 = (13.733333 + 4.938) / 0.8 =
    23.339167 Gy (one C of 50 for both would give 23.445833)."""
    left = {
        "name": "left lobe",
        "model": "mird",
        "inputs": {"activity_gbq": 1.0, "perfused_volume_ml": 500, "lsf": 0.1, "product": "resin"},
    }
    result = treat(RIGHT, left, lung_mass_kg=0.8)
    assert result.doses_gy["lung"] == pytest.approx((13.733333 + 4.938) / 0.8, abs=1e-5)
    assert result.doses_gy["lung"] != pytest.approx((13.733333 + 5.0) / 0.8, abs=1e-3)
    assert result.direction == "mixed"
    assert [p.value for p in result.products] == ["glass", "resin"]
    # spheres by product: 2.746667e9 / 2500 = 1.098667 million; 1e9 / 68.1818 = 14.6667 million
    assert result.spheres[Product.GLASS].count == pytest.approx(1.098667e6, rel=1e-6)
    assert result.spheres[Product.RESIN].count == pytest.approx(14.6667e6, rel=1e-5)
    assert result.spheres[Product.RESIN].per_ml_perfused == pytest.approx(14.6667e6 / 500, rel=1e-5)


def test_whole_liver_and_whole_normal_liver() -> None:
    """docs/examples/treatment.json: right lobe partition, tumour 250 Gy at TN 4 (150 mL,
    0.1545 kg; normal 850 mL, 0.8755 kg): D_N = 62.5 Gy, E = 62.5 x (4 x 0.1545 + 0.8755) =
    93.34375 J; left lobe MIRD 100 Gy to 500 mL: E = 51.5 J. Liver 1600 mL = 1.648 kg:
    whole liver (93.34375 + 51.5) / 1.648 = 87.890625 Gy; whole normal liver
    (62.5 x 0.8755 + 51.5) / (1.648 - 0.1545) = 106.21875 / 1.4935 = 71.120690 Gy."""
    body = json.loads((DOCS_EXAMPLES / "treatment.json").read_text())
    result = plan_treatment(TreatmentInput.model_validate(body))
    assert result.doses_gy["whole_liver"] == pytest.approx(144.84375 / 1.648)
    assert result.doses_gy["whole_normal_liver"] == pytest.approx(106.21875 / 1.4935)
    assert result.masses_kg["whole_liver"] == pytest.approx(1.648)
    assert result.masses_kg["whole_normal_liver"] == pytest.approx(1.4935)
    # lung: (50 x 2.051511 x 0.09 + 50 x 1.084211 x 0.05) / 0.9 = 13.269268 Gy
    a_right = 93.34375 / (50 * 0.91)
    a_left = 51.5 / (50 * 0.95)
    assert result.doses_gy["lung"] == pytest.approx(50 * (a_right * 0.09 + a_left * 0.05) / 0.9)
    assert not result.findings  # 71.1 Gy < 75 Gy, lung 13.3 Gy < 24 Gy: nothing to say


def test_energy_is_conserved_between_liver_and_lung() -> None:
    """sum C_i A_i (1 - R_i) = whole-liver energy + lung energy."""
    right = mird("right", 1000, 0.1, residual=0.05)
    result = treat(right, LEFT, liver_volume_ml=1800, lung_mass_kg=0.7)
    delivered_energy = sum(
        t.result.constants.energy_j_per_gbq * t.result.delivered_activity_gbq
        for t in result.territories
    )
    liver_j = result.doses_gy["whole_liver"] * result.masses_kg["whole_liver"]
    lung_j = result.doses_gy["lung"] * 0.7
    assert liver_j + lung_j == pytest.approx(delivered_energy)


def test_a_lung_limit_passed_only_by_the_sum_blocks() -> None:
    """docs/examples/treatment-lung-sum.json, lungs 0.9 kg: right 120 Gy to 1000 mL at LSF
    0.15: A = 123.6 / 42.5 = 2.908235 GBq, lung 50 x 2.908235 x 0.15 / 0.9 = 24.235294 Gy;
    left 120 Gy to 500 mL at LSF 0.08: A = 61.8 / 46 = 1.343478, lung 5.971014 Gy; together
    30.206309 Gy > 30 Gy: blocked, though neither territory is."""
    body = json.loads((DOCS_EXAMPLES / "treatment-lung-sum.json").read_text())
    result = plan_treatment(TreatmentInput.model_validate(body))
    assert result.doses_gy["lung"] == pytest.approx(24.235294 + 5.971014, abs=1e-5)
    for territory in result.territories:
        assert not has_block(territory.result.findings)
    blocks = [f for f in result.findings if f.severity is Severity.BLOCK]
    assert [f.code for f in blocks] == [Code.LUNG_DOSE_OVER_LIMIT]
    assert blocks[0].territory is None
    assert "no territory exceeds it alone" in blocks[0].message
    assert has_block(result.findings)


def test_territory_findings_keep_their_name_and_lung_findings_stay_home() -> None:
    """A territory's lung findings (its near-limit warning) are implied by the treatment's
    and stay in its own result; its other findings are listed with its name."""
    right = mird("right", 1000, 0.15, delivery="lobar")  # 24.2 Gy alone at 0.9 kg: near
    tumour = {
        "name": "segment IV",
        "model": "partition",
        "inputs": {
            "normal_dose_gy": 40, "tumor_volume_ml": [50], "tn_ratio": [2],
            "normal_volume_ml": 200, "lsf": 0.01, "delivery": "segmental",
        },
    }  # fmt: skip
    result = treat(right, tumour, lung_mass_kg=0.9)
    own = [f.code for f in result.territories[0].result.findings]
    assert Code.LUNG_DOSE_NEAR_LIMIT in own
    listed = [(f.territory, f.code) for f in result.findings]
    assert ("right", Code.LUNG_DOSE_NEAR_LIMIT) not in listed
    assert (None, Code.LUNG_DOSE_NEAR_LIMIT) in listed  # the treatment's own
    assert ("segment IV", Code.TUMOR_DOSE_LOW) in listed  # 80 Gy < 205 Gy
    assert ("segment IV", Code.SEGMENTS_NOT_NAMED) in listed


def test_whole_normal_liver_limits() -> None:
    """Two glass lobes at 120 Gy over 1500 of 1600 mL: (123.6 + 61.8) / 1.648 = 112.5 Gy,
    over the EANM 75 Gy (warning); with resin it is not checked (info); without the liver
    volume nothing is computed (info)."""
    glass = treat(RIGHT, LEFT, liver_volume_ml=1600)
    assert glass.doses_gy["whole_normal_liver"] == pytest.approx(185.4 / 1.648)
    assert Code.WHOLE_NORMAL_LIVER_DOSE_HIGH in [f.code for f in glass.findings]
    left_resin = mird("left lobe", 500, 0.06, product="resin")
    mixed = treat(RIGHT, left_resin, liver_volume_ml=1600)
    assert Code.WHOLE_NORMAL_LIVER_NOT_CHECKED in [f.code for f in mixed.findings]
    unknown = treat(RIGHT, LEFT)
    assert "whole_liver" not in unknown.doses_gy
    assert Code.WHOLE_LIVER_VOLUME_NOT_GIVEN in [f.code for f in unknown.findings]


def test_bsa_territory_gets_the_whole_liver() -> None:
    """A BSA right lobe of 900 of 1500 mL equals plan_bsa with that liver volume."""
    bsa = {
        "name": "right lobe",
        "model": "bsa",
        "inputs": {
            "height_cm": 175, "weight_kg": 75, "tumor_volume_ml": 450,
            "treated_volume_ml": 900, "lsf": 0.05, "delivery": "lobar",
        },
    }  # fmt: skip
    result = treat(bsa, mird("left lobe", 500, 0.05, product="resin"), liver_volume_ml=1500)
    alone = plan_bsa(
        BsaPlanInput(
            height_cm=175, weight_kg=75, tumor_volume_ml=450, liver_volume_ml=1500,
            treated_volume_ml=900, lsf=0.05, delivery="lobar",
        )
    )  # fmt: skip
    assert result.territories[0].result.activity_gbq == pytest.approx(alone.activity_gbq)
    # two resin territories, maybe from one vial: the count's spread adds linearly
    # (2.6 / 44 of each count), over the 900 + 500 mL they perfuse
    total = result.spheres[Product.RESIN]
    counts = [t.result.spheres.count for t in result.territories if t.result.spheres]
    assert total.count == pytest.approx(sum(counts))
    assert total.count_sd == pytest.approx(sum(counts) * 2.6 / 44)
    assert total.per_ml_perfused == pytest.approx(sum(counts) / 1400)
    # several resin territories: the treatment's embolic load is said once more, in total
    totals = [f for f in result.findings if f.code is Code.SPHERES_EMBOLIC_LOAD and not f.territory]
    assert len(totals) == 1


def test_a_territory_block_blocks_the_treatment() -> None:
    """A resin territory with LSF 25 % (> 20 %, IFU-resin) is blocked on its own: its
    finding is in the treatment's list under its name, and blocks the treatment. (Lung:
    13.733333 + 49.38 x 0.5 x 0.25 = 19.9 Gy, no lung block.)"""
    resin = {
        "name": "left lobe",
        "model": "mird",
        "inputs": {"activity_gbq": 0.5, "perfused_volume_ml": 500, "lsf": 0.25, "product": "resin"},
    }
    result = treat(RIGHT, resin)
    assert result.doses_gy["lung"] == pytest.approx(13.733333 + 49.38 * 0.5 * 0.25, abs=1e-5)
    blocks = [(f.territory, f.code) for f in result.findings if f.severity is Severity.BLOCK]
    assert blocks == [("left lobe", Code.LSF_OVER_RESIN_LIMIT)]
    assert has_block(result.findings)


def test_the_schema_example_is_a_valid_treatment() -> None:
    """The example the API documents (OpenAPI) validates: right 120 Gy to 1000 mL at LSF
    0.1 and left 120 Gy to 500 mL at LSF 0.06, lungs 0.9 kg: lung (13.733333 + 3.944681) /
    0.9 = 19.642238 Gy."""
    example = TreatmentInput.model_config["json_schema_extra"]["examples"][0]  # type: ignore[index]
    result = plan_treatment(TreatmentInput.model_validate(example))
    assert result.doses_gy["lung"] == pytest.approx((13.733333 + 3.944681) / 0.9, abs=1e-5)


def test_named_segments_are_checked_against_the_whole_liver() -> None:
    """A segmentectomy of segment VI perfusing 700 mL of a 1600 mL liver (at most 38 %,
    608 mL): the territory's PERFUSED_VOLUME_EXCEEDS_SEGMENTS, under its name."""
    seg = mird("VI", 700, 0.05, delivery="segmentectomy", segments=["VI"])
    result = treat(seg, LEFT, liver_volume_ml=1600)
    assert ("VI", Code.PERFUSED_VOLUME_EXCEEDS_SEGMENTS) in [
        (f.territory, f.code) for f in result.findings
    ]


# --- staged treatments -----------------------------------------------------------------------


def test_staged_treatment_carries_the_lung_dose_forward() -> None:
    """docs/examples/treatment-staged.json: prior 12 Gy; right lobe on 2026-03-04 gives
    24.235294 Gy (cumulative 36.235294), left lobe on 2026-04-01 5.971014 Gy (cumulative
    42.206309). Each date is one treatment for the 30 Gy limit: no block; the left lobe's
    own result starts from 36.235294 Gy."""
    body = json.loads((DOCS_EXAMPLES / "treatment-staged.json").read_text())
    body["territories"].reverse()  # stages follow the dates, not the input order
    result = plan_treatment(TreatmentInput.model_validate(body))
    assert [s.territories for s in result.stages] == [["right lobe"], ["left lobe"]]
    first, second = result.stages
    assert first.prior_lung_dose_gy == 12.0
    assert first.lung_cumulative_gy == pytest.approx(36.235294, abs=1e-5)
    assert second.prior_lung_dose_gy == pytest.approx(36.235294, abs=1e-5)
    assert second.lung_cumulative_gy == pytest.approx(42.206309, abs=1e-5)
    left = next(t for t in result.territories if t.name == "left lobe")
    assert left.result.doses_gy["lung_cumulative"] == pytest.approx(42.206309, abs=1e-5)
    assert result.doses_gy["lung_cumulative"] == pytest.approx(42.206309, abs=1e-5)
    assert not has_block(result.findings)
    assert result.details["staged"] is True


def test_staged_cumulative_limit_blocks() -> None:
    """Prior 25 Gy: 25 + 30.206309 = 55.2 Gy > 50 Gy cumulative."""
    body = json.loads((DOCS_EXAMPLES / "treatment-staged.json").read_text())
    result = plan_treatment(TreatmentInput.model_validate({**body, "prior_lung_dose_gy": 25}))
    assert [f.code for f in result.findings if f.severity is Severity.BLOCK] == [
        Code.LUNG_DOSE_CUMULATIVE_OVER_LIMIT
    ]


# --- lsf_bound in the treatment ---------------------------------------------------------------


def test_lsf_bound_in_treatment_leaves_room_for_the_others() -> None:
    """The left lobe's lung (3.944681 Gy) leaves 26.055319 Gy for the right lobe, whose plan
    fixes its liver energy at 123.6 J: x = 26.055319 / 123.6, LSF = x / (1 + x) = 0.174102.
    Planned at that LSF, the treatment's lung is exactly 30 Gy."""
    result = treat(RIGHT, LEFT)
    x = (30 - 3.944681) / 123.6
    bound = result.territories[0].lsf_bound_in_treatment
    assert bound is not None
    assert bound == pytest.approx(x / (1 + x), abs=1e-6)
    assert result.territories[0].result.lsf_bound == pytest.approx(30 / 153.6)  # alone
    at_bound = mird("right lobe", 1000, bound, delivery="lobar")
    assert treat(at_bound, LEFT).doses_gy["lung"] == pytest.approx(30.0)


# --- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"territories": []}, "territories", "1 to 10 territories"),
        ({"territories": [LEFT] * 11}, "territories", "1 to 10 territories"),
        ({"territories": [RIGHT, {**LEFT, "name": " Right Lobe"}]}, "territories[1].name",
         "a name no other territory has"),
        ({"territories": [RIGHT, {**LEFT, "name": "   "}]}, "territories[1].name",
         "visible character"),
        ({"territories": [RIGHT, {**LEFT, "name": "left\nlobe"}]}, "territories[1].name",
         "one line"),
        ({"territories": [mird("a", 500, 0.1, lung_mass_kg=0.8)]},
         "territories[0].inputs.lung_mass_kg", "give it once, at the top level"),
        ({"territories": [mird("a", 500, 0.1, prior_lung_dose_gy=5)]},
         "territories[0].inputs.prior_lung_dose_gy", "at the top level"),
        ({"territories": [mird("a", 500, 0.1, density_g_ml=1.05)]},
         "territories[0].inputs.density_g_ml", "at the top level"),
        ({"territories": [mird("a", 500, 0.1, liver_volume_ml=1500)]},
         "territories[0].inputs.liver_volume_ml", "at the top level"),
        ({"territories": [mird("a", 500, 0.1, activity_gbq=2)]},
         "territories[0].inputs.activity_gbq", "not both"),
        ({"territories": [{"name": "a", "model": "bsa", "inputs": {"activity_gbq": 1}}],
          "liver_volume_ml": 1500}, "territories[0].inputs.activity_gbq", "plans an activity"),
        ({"territories": [{"name": "a", "model": "bsa", "inputs": {
            "height_cm": 175, "weight_kg": 75, "tumor_volume_ml": 100, "lsf": 0.05}}]},
         "liver_volume_ml", "bsa method, which needs it"),
        ({"territories": [RIGHT, {**LEFT, "treatment_date": "2026-03-04"}]},
         "territories[0].treatment_date", "for every territory or for none"),
        ({"territories": [RIGHT, {**LEFT, "treatment_date": 20260304}]},
         "territories[1].treatment_date", "a date as text"),
        ({"territories": [RIGHT, LEFT], "liver_volume_ml": 1400}, "liver_volume_ml",
         "1000 + 500 = 1500 mL"),
        ({"territories": [RIGHT, 7]}, "territories[1]", "an object with name, model and inputs"),
        ({"territories": [{**RIGHT, "model": "voxel"}]}, "territories[0].model", "one of"),
        ({"territories": [{"name": "a", "model": "mird"}]}, "territories[0].inputs",
         "required"),
        ({"territories": [mird("a", 500, 1.5)]}, "territories[0].inputs.lsf", "< 1"),
        ({"territories": [RIGHT], "lung_mass_kg": 0.0}, "lung_mass_kg", ">= 0.1"),
        ({"territories": [RIGHT], "lung_mass": 1.0}, "lung_mass", "no such field"),
    ],
)  # fmt: skip
def test_nonsense_is_refused_naming_the_field(body: dict[str, Any], field: str, words: str) -> None:
    errors = errors_of(body)
    assert field in errors, errors
    assert words in errors[field], errors[field]


def test_every_error_is_reported_at_once() -> None:
    """A bad top-level lung mass beside two bad territories: three errors, none twice."""
    errors = errors_of(
        {"territories": [mird("a", 500, 1.5), mird("b", -1, 0.1)], "lung_mass_kg": -1}
    )
    assert set(errors) == {
        "lung_mass_kg",
        "territories[0].inputs.lsf",
        "territories[1].inputs.perfused_volume_ml",
    }


def test_written_treatment_validates_again() -> None:
    """The shared fields a territory was given are not written into it, so the written
    treatment (a stored plan's inputs) reads back as the same treatment."""
    inputs = TreatmentInput.model_validate(
        {"territories": [RIGHT, LEFT], "lung_mass_kg": 0.8, "liver_volume_ml": 1600}
    )
    written = inputs.model_dump(mode="json")
    for territory in written["territories"]:
        assert "lung_mass_kg" not in territory["inputs"]
    assert TreatmentInput.model_validate(written) == inputs
    assert inputs.territories[0].inputs.lung_mass_kg == 0.8  # but each computes with it


def test_stored_result_reads_back_as_its_kind() -> None:
    result = treat(RIGHT, LEFT)
    assert result_of(result.json_dict()) == result
    single = result.territories[0].result
    assert result_of(single.json_dict()) == single


# --- the command -------------------------------------------------------------------------------


def test_cli_plans_a_treatment_file(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(DOCS_EXAMPLES / "treatment-lung-sum.json")
    assert main(["plan", "treatment", "--file", path, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["model"] == "treatment"
    assert data["doses_gy"]["lung"] == pytest.approx(30.206309, abs=1e-5)
    assert main(["plan", "treatment", "--file", path]) == 0  # a block is an answer: exit 0
    text = capsys.readouterr().out
    assert text.rstrip().endswith("THIS TREATMENT HAS BLOCKING FINDINGS: do not treat as planned.")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, "--file: "),
        ("{not json", "a JSON object (line 1 column 2"),
        ("[1, 2]", "a JSON object {territories"),
        (
            json.dumps({"territories": [RIGHT, {**LEFT, "inputs": {**LEFT["inputs"], "lsf": 2}}]}),
            "territories[1].inputs.lsf: 2 is not allowed; expected a number < 1",
        ),
        (
            json.dumps({"territories": [RIGHT, RIGHT]}),
            "territories[1].name: 'right lobe' is not allowed",
        ),
    ],
)
def test_cli_refuses_a_bad_file(
    content: str | None, words: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "t.json"
    if content is not None:
        path.write_text(content)
    assert main(["plan", "treatment", "--file", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("y90dose plan: error: ")
    assert words in captured.err
    assert len(captured.err.strip().splitlines()) == 1


def test_cli_writes_the_treatment_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("reportlab")
    out = tmp_path / "plan.pdf"
    path = str(DOCS_EXAMPLES / "treatment.json")
    assert main(["plan", "treatment", "--file", path, "--report", str(out)]) == 0
    assert out.read_bytes().startswith(b"%PDF-")


def test_report_rows_show_each_territory_and_the_treatment() -> None:
    from y90dose.reports import PlanReport, plan_report_rows

    body = json.loads((DOCS_EXAMPLES / "treatment-lung-sum.json").read_text())
    inputs = TreatmentInput.model_validate(body)
    rows = plan_report_rows(
        PlanReport(
            model="treatment",
            inputs=inputs.model_dump(mode="json"),
            result=plan_treatment(inputs),
            software_version="test",
        )
    )
    doses = {name: value for name, value, _ in rows["doses"]}
    assert doses["treatment: lung"] == "30.21"
    assert doses["right lobe: lung"] == "24.24"
    inputs_rows = {name: value for name, value, _ in rows["inputs"]}
    assert inputs_rows["left lobe: lsf"] == "0.08"
    assert inputs_rows["lung_mass_kg"] == "0.9"
    assert rows["findings"][0][:2] == ("block", "LUNG_DOSE_OVER_LIMIT")
    activity = {name: value for name, value, _ in rows["activity"]}
    assert activity["treatment: activity to administer"].startswith("4.252 GBq")
    constants = [name for name, _, _ in rows["constants"]]
    assert constants[:2] == ["energy per GBq, C (right lobe)", "energy per GBq, C (left lobe)"]


SEGMENT_VI: dict[str, Any] = {
    "name": "segment VI",
    "model": "mird",
    "inputs": {
        "target_dose_gy": 195,
        "perfused_volume_ml": 150,
        "lsf": 0.05,
        "delivery": "segmentectomy",
        "segments": ["VI"],
    },
}
"""195 Gy glass: below the 200 Gy definition, above Lewandowski 2018's 190 Gy."""


@pytest.mark.parametrize(
    ("definition", "floor_gy", "flagged"),
    [(None, 200.0, True), ("definition", 200.0, True), ("lewandowski2018", 190.0, False)],
)
def test_cli_treatment_segmentectomy_definition(
    definition: str | None,
    floor_gy: float,
    flagged: bool,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"territories": [SEGMENT_VI, LEFT]}))
    chosen = [] if definition is None else ["--segmentectomy-definition", definition]
    assert main(["plan", "treatment", "--file", str(path), *chosen, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    check = data["territories"][0]["result"]["segmentectomy"]
    assert (check["definition"], check["floor_gy"]) == (definition or "definition", floor_gy)
    below = [
        f["territory"] for f in data["findings"] if f["code"] == "SEGMENTECTOMY_BELOW_THRESHOLD"
    ]
    assert below == (["segment VI"] if flagged else [])


@pytest.mark.parametrize(
    ("territories", "definition", "words"),
    [
        ([RIGHT, LEFT], "definition", "only with a territory whose delivery is segmentectomy"),
        (
            [SEGMENT_VI, LEFT],
            "eanm2022",
            "for glass: definition or lewandowski2018 (segmentectomy territory 'segment VI' "
            "uses glass)",
        ),
        (
            [
                {**SEGMENT_VI, "inputs": {**SEGMENT_VI["inputs"], "product": "resin"}},
                LEFT,
            ],
            "lewandowski2018",
            "for resin: definition or eanm2022",
        ),
    ],
)
def test_cli_treatment_segmentectomy_definition_refused(
    territories: list[dict[str, Any]],
    definition: str,
    words: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"territories": territories}))
    argv = ["plan", "treatment", "--file", str(path), "--segmentectomy-definition", definition]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("y90dose plan: error: --segmentectomy-definition: ")
    assert words in err


def test_a_refusal_of_a_territorys_model_names_the_territory() -> None:
    """BSA is for resin: plan_bsa refuses glass when it computes; the refusal names the
    territory's field (the schema alone accepts the body)."""
    from y90dose.errors import InputError

    bsa = {
        "name": "segment IV",
        "model": "bsa",
        "inputs": {
            "lsf": 0.05,
            "height_cm": 170,
            "weight_kg": 70,
            "tumor_volume_ml": 100,
            "treated_volume_ml": 300,
            "delivery": "lobar",
            "product": "glass",
        },
    }
    inputs = TreatmentInput.model_validate({"territories": [RIGHT, bsa], "liver_volume_ml": 1600})
    with pytest.raises(InputError) as caught:
        plan_treatment(inputs)
    assert caught.value.field == "territories[1].inputs.product"
    assert "resin: the BSA method is defined for resin only" in caught.value.allowed
