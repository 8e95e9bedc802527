"""Review findings 6, 7 and 8 on main (issue 15): the segmentectomy definition as a site
setting of the CLI, the whole-liver volume used or refused, and finding messages that
never print a value equal to the threshold it is said to miss.

Hand arithmetic: 150 mL at 1.03 g/mL = 0.1545 kg; glass C = 50 J/GBq, LSF 5 %, so the
perfused dose is the target dose (MIRD plan); 195 Gy is below 200 Gy (definition) and
above 190 Gy (Lewandowski 2018); 160 Gy resin is above 150 Gy (EANM 2022).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from y90dose.cli.main import main
from y90dose.errors import InputError
from y90dose.findings import Code, beside
from y90dose.models.mird import MirdPlanInput, plan_mird
from y90dose.models.partition import PartitionPlanInput
from y90dose.validation import parse

BASE = ["--perfused-volume-ml", "150", "--lsf", "0.05", "--delivery", "segmentectomy"]


def plan_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(["plan", "mird", *args, "--json"]) == 0
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    return data


def refusal(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(list(args)) == 2
    return capsys.readouterr().err


# --- finding 6: the definition is a setting the CLI can choose ---------------------------


@pytest.mark.parametrize(
    ("product", "dose", "definition", "floor_gy", "flagged"),
    [
        ("glass", "195", None, 200.0, True),
        ("glass", "195", "lewandowski2018", 190.0, False),
        ("glass", "185", "lewandowski2018", 190.0, True),
        ("resin", "160", "eanm2022", 150.0, False),
        ("resin", "160", "definition", 200.0, True),
    ],
)
def test_cli_segmentectomy_definition(
    capsys: pytest.CaptureFixture[str],
    product: str,
    dose: str,
    definition: str | None,
    floor_gy: float,
    flagged: bool,
) -> None:
    chosen = [] if definition is None else ["--segmentectomy-definition", definition]
    data = plan_json(
        capsys, "--target-dose-gy", dose, *BASE, "--segments", "VI", "--product", product, *chosen
    )
    assert data["segmentectomy"]["definition"] == (definition or "definition")
    assert data["segmentectomy"]["floor_gy"] == floor_gy
    found = {f["code"] for f in data["findings"]}
    assert (Code.SEGMENTECTOMY_BELOW_THRESHOLD.value in found) is flagged


@pytest.mark.parametrize(
    ("extra", "allowed"),
    [
        (["--product", "resin", "--segmentectomy-definition", "lewandowski2018"], "eanm2022"),
        (["--segmentectomy-definition", "eanm2022"], "definition or lewandowski2018"),
        (["--segmentectomy-definition", "200"], "definition or lewandowski2018"),
    ],
)
def test_cli_segmentectomy_definition_not_of_the_product(
    capsys: pytest.CaptureFixture[str], extra: list[str], allowed: str
) -> None:
    err = refusal(capsys, "plan", "mird", "--target-dose-gy", "195", *BASE, *extra)
    assert "--segmentectomy-definition" in err and allowed in err


def test_cli_segmentectomy_definition_refused_without_segmentectomy(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["--target-dose-gy", "120", "--perfused-volume-ml", "150", "--lsf", "0.05"]
    err = refusal(capsys, "plan", "mird", *args, "--segmentectomy-definition", "definition")
    assert "--segmentectomy-definition" in err and "only with --delivery segmentectomy" in err
    err = refusal(
        capsys,
        "dose",
        "mird",
        "--activity-gbq",
        "1",
        *args[2:],
        "--delivery",
        "lobar",
        "--segmentectomy-definition",
        "lewandowski2018",
    )
    assert "only with --delivery segmentectomy" in err


# --- finding 7: --liver-volume-ml is used (segments named) or refused ---------------------


@pytest.mark.parametrize(
    "delivery", [["--delivery", "whole"], ["--delivery", "lobar"], BASE[-2:], []]
)
def test_liver_volume_without_segments_is_refused(
    capsys: pytest.CaptureFixture[str], delivery: list[str]
) -> None:
    err = refusal(
        capsys,
        "plan",
        "mird",
        "--target-dose-gy",
        "250",
        "--perfused-volume-ml",
        "150",
        "--lsf",
        "0.05",
        *delivery,
        "--liver-volume-ml",
        "1500",
    )
    assert "--liver-volume-ml: '1500' is not allowed" in err
    assert "only with --segments (--delivery segmental or segmentectomy)" in err


def test_liver_volume_refused_in_the_library_and_partition() -> None:
    with pytest.raises(InputError) as caught:
        parse(
            PartitionPlanInput,
            {
                "normal_dose_gy": 40,
                "normal_volume_ml": 900,
                "tumor_volume_ml": [100],
                "tn_ratio": [4],
                "lsf": 0.1,
                "liver_volume_ml": 1500,
            },
        )
    assert caught.value.field == "liver_volume_ml"
    assert "only with segments" in caught.value.allowed


def test_liver_volume_with_segments_is_used() -> None:
    # 2 segments x 38 % of 1000 mL = 760 mL: 800 mL perfused is more than they hold.
    inputs = MirdPlanInput(
        target_dose_gy=250,
        perfused_volume_ml=800,
        lsf=0.05,
        delivery="segmental",
        segments=["VI", "VII"],
        liver_volume_ml=1000,
    )
    found = {f.code for f in plan_mird(inputs).findings}
    assert Code.PERFUSED_VOLUME_EXCEEDS_SEGMENTS in found


# --- finding 8: no "200.0 Gy is below the 200 Gy floor" ---------------------------------


@pytest.mark.parametrize(
    ("value", "limit", "decimals", "shown"),
    [
        (195.04, 200.0, 1, "195.0"),
        (199.99, 200.0, 1, "199.99"),
        (199.9999, 200.0, 1, "199.9999"),
        (399.99, 400.0, 1, "399.99"),
        (200.04, 200.0, 1, "200.04"),
        (30.001, 30.0, 1, "30.001"),
        (20.004, 20.0, 2, "20.004"),
    ],
)
def test_beside_never_prints_the_limit(
    value: float, limit: float, decimals: int, shown: str
) -> None:
    assert beside(value, limit, decimals) == shown


@pytest.mark.parametrize(
    ("dose", "limit"), [("199.99", "200 Gy floor"), ("399.99", "400 Gy EANM 2022")]
)
def test_segmentectomy_messages_are_not_self_contradictory(
    capsys: pytest.CaptureFixture[str], dose: str, limit: str
) -> None:
    data = plan_json(capsys, "--target-dose-gy", dose, *BASE, "--segments", "VI")
    messages = " | ".join(f["message"] for f in data["findings"])
    assert "200.0 Gy is below the 200" not in messages
    assert "400.0 Gy is below the 400" not in messages
    assert f"{dose} Gy is below the {limit}" in messages


# --- finding 10: help and message wording ----------------------------------------------


def test_all_eight_segments_are_the_whole_liver(capsys: pytest.CaptureFixture[str]) -> None:
    eight = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII"]
    data = plan_json(capsys, "--target-dose-gy", "250", *BASE, "--segments", *eight)
    (message,) = [
        f["message"] for f in data["findings"] if f["code"] == "SEGMENTECTOMY_TOO_MANY_SEGMENTS"
    ]
    assert message.endswith("this is a whole-liver treatment")
    right = plan_json(
        capsys, "--target-dose-gy", "250", *BASE, "--segments", "V", "VI", "VII", "VIII"
    )
    assert any(f["message"].endswith("this is a lobar treatment") for f in right["findings"])


def test_vial_help_names_no_missing_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["vial", "--help"])
    assert "--convention" not in capsys.readouterr().out
