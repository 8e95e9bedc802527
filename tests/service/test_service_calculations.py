"""``/v1/calculations``: same inputs and outputs as the core and the CLI's ``--json``.

Expected numbers are worked by hand from the formulas (physics.md 4.1; glass IFU):
120 Gy to 1165 mL at 1.03 g/mL with LSF 0.08 and C = 50 J/GBq gives
A = 120 x 1.19995 / (50 x 0.92) = 3.13030 GBq; a lung with 1 kg receives
50 x 3.1303 x 0.08 = 12.52 Gy. Equal anterior/posterior counts of 100 (lung) and 900
(liver) give LSF = 100 / (100 + 900) = 0.1. After one half-life (64.1 h) half the
activity is left.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from service_helpers import Keys, assert_problem

from y90dose.cli.main import main as cli_main
from y90dose.models.mird import MirdPlanInput, plan_mird

MIRD = {"target_dose_gy": 120.0, "perfused_volume_ml": 1165.0, "lsf": 0.08}


def post(client: TestClient, keys: Keys, name: str, body: Any) -> Any:
    return client.post(f"/v1/calculations/{name}", json=body, headers=keys.viewer)


def test_mird_plan_hand_value(client: TestClient, keys: Keys) -> None:
    response = post(client, keys, "mird", MIRD)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["activity_gbq"] == pytest.approx(120 * 1.165 * 1.03 / (50 * 0.92), rel=1e-12)
    assert body["doses_gy"]["lung"] == pytest.approx(50 * body["activity_gbq"] * 0.08, rel=1e-12)
    assert body["constants"]["energy_j_per_gbq"] == 50.0
    assert body["direction"] == "plan"


def test_mird_dose_inverts_plan(client: TestClient, keys: Keys) -> None:
    activity = post(client, keys, "mird", MIRD).json()["activity_gbq"]
    body = post(
        client, keys, "mird", {"activity_gbq": activity, "perfused_volume_ml": 1165.0, "lsf": 0.08}
    ).json()
    assert body["direction"] == "dose"
    assert body["doses_gy"]["perfused"] == pytest.approx(120.0, rel=1e-12)


def test_same_json_as_cli_and_core(
    client: TestClient, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    service = post(client, keys, "mird", MIRD).json()
    core = plan_mird(MirdPlanInput(**MIRD)).json_dict()
    assert service == core
    code = cli_main(
        [
            "plan",
            "mird",
            "--target-dose-gy",
            "120",
            "--perfused-volume-ml",
            "1165",
            "--lsf",
            "0.08",
            "--json",
        ]
    )
    assert code == 0
    assert json.loads(capsys.readouterr().out) == service


def test_partition_conserves_activity(client: TestClient, keys: Keys) -> None:
    # Partition: activity shared by TN-weighted mass; the compartment energies add up to
    # C x A x (1 - LSF) (no residual): sum(D_i x M_i) = C x A x (1 - LSF).
    body = {
        "normal_dose_gy": 40.0,
        "tumor_volume_ml": [100.0],
        "tn_ratio": [4.0],
        "normal_volume_ml": 900.0,
        "lsf": 0.05,
        "product": "resin",
    }
    response = post(client, keys, "partition", body)
    assert response.status_code == 200, response.text
    result = response.json()
    doses, masses = result["doses_gy"], result["masses_kg"]
    assert doses["normal"] == pytest.approx(40.0, rel=1e-9)
    tumor = doses["tumors"][0] if "tumors" in doses else doses["tumor"]
    assert tumor == pytest.approx(160.0, rel=1e-9)
    tumor_mass = masses["tumors"][0] if "tumors" in masses else masses["tumor"]
    energy = result["constants"]["energy_j_per_gbq"]
    deposited = tumor * tumor_mass + doses["normal"] * masses["normal"]
    assert deposited == pytest.approx(energy * result["activity_gbq"] * 0.95, rel=1e-9)


def test_bsa(client: TestClient, keys: Keys) -> None:
    # BSA (resin IFU): A = BSA - 0.2 + tumour/liver fraction, Du Bois BSA of
    # 170 cm / 70 kg = 0.20247 x 1.70^0.725 x 70^0.425 = 1.809 m^2; 10 % involvement.
    body = {
        "height_cm": 170.0,
        "weight_kg": 70.0,
        "tumor_volume_ml": 150.0,
        "liver_volume_ml": 1500.0,
        "lsf": 0.05,
    }
    response = post(client, keys, "bsa", body)
    assert response.status_code == 200, response.text
    bsa_m2 = 0.20247 * 1.70**0.725 * 70**0.425
    assert response.json()["activity_gbq"] == pytest.approx(bsa_m2 - 0.2 + 0.1, rel=1e-3)


def test_lsf(client: TestClient, keys: Keys) -> None:
    counts = {"lung_ant": 100.0, "lung_post": 100.0, "liver_ant": 900.0, "liver_post": 900.0}
    response = post(client, keys, "lsf", counts)
    assert response.status_code == 200, response.text
    assert response.json()["lsf"] == pytest.approx(0.1, rel=1e-12)


def test_decay_one_half_life(client: TestClient, keys: Keys) -> None:
    body = {
        "activity_gbq": 4.0,
        "from_time": "2026-03-01T12:00:00+00:00",
        "to_time": "2026-03-04T04:06:00+00:00",  # + 64.1 h = 2 d 16 h 6 min
    }
    response = post(client, keys, "decay", body)
    assert response.status_code == 200, response.text
    assert response.json()["activity_gbq"] == pytest.approx(2.0, rel=1e-9)


def test_vial_holds_needed_activity(client: TestClient, keys: Keys) -> None:
    body = {"activity_gbq": 3.0, "treatment_time": "2026-03-04T10:00:00-05:00", "product": "glass"}
    response = post(client, keys, "vial", body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["activity_at_treatment_gbq"] >= 3.0
    assert result["required_activity_gbq"] == 3.0


BAD_INPUTS = [
    ("mird", {**MIRD, "lsf": 1.5}, "lsf"),
    ("mird", {**MIRD, "perfused_volume_ml": -3}, "perfused_volume_ml"),
    ("mird", {"perfused_volume_ml": 1165.0, "lsf": 0.08}, "target_dose_gy"),
    ("mird", {**MIRD, "product": "ceramic"}, "product"),
    ("mird", {**MIRD, "activity_gbq": 3.0}, "activity_gbq"),
    ("mird", {**MIRD, "volume": 3.0}, "volume"),
    (
        "partition",
        {
            "normal_dose_gy": 40,
            "tumor_volume_ml": [100, 50],
            "tn_ratio": [4],
            "normal_volume_ml": 900,
            "lsf": 0.05,
        },
        "tn_ratio",
    ),
    (
        "partition",
        {
            "activity_gbq": 0,
            "tumor_volume_ml": [100],
            "tn_ratio": [4],
            "normal_volume_ml": 900,
            "lsf": 0.05,
        },
        "activity_gbq",
    ),
    (
        "bsa",
        {
            "height_cm": 10.0,
            "weight_kg": 70.0,
            "tumor_volume_ml": 150.0,
            "liver_volume_ml": 1500.0,
            "lsf": 0.05,
        },
        "height_cm",
    ),
    (
        "lsf",
        {"lung_ant": -1.0, "lung_post": 100.0, "liver_ant": 900.0, "liver_post": 900.0},
        "lung_ant",
    ),
    (
        "decay",
        {
            "activity_gbq": 4.0,
            "from_time": "2026-03-01T12:00:00",
            "to_time": "2026-03-04T08:06:00+00:00",
        },
        "from_time",
    ),
    (
        "vial",
        {"activity_gbq": 300.0, "treatment_time": "2026-03-04T10:00:00-05:00"},
        "activity_gbq",
    ),
]


@pytest.mark.parametrize(("name", "body", "field"), BAD_INPUTS)
def test_bad_input_names_field_value_allowed(
    client: TestClient, keys: Keys, name: str, body: dict[str, Any], field: str
) -> None:
    problem = assert_problem(post(client, keys, name, body), 422, field)
    error = next(e for e in problem["errors"] if e["field"] == field)
    if (
        field in body
        and not isinstance(body[field], list)
        and (name, field)
        != (
            "mird",
            "activity_gbq",
        )
    ):
        assert error["value"] == body[field]
    assert problem["detail"].startswith(problem["errors"][0]["field"])
    assert "is not allowed; expected" in problem["detail"]


@pytest.mark.parametrize("name", ["mird", "partition", "bsa", "lsf", "decay", "vial"])
def test_not_json_and_not_object(client: TestClient, keys: Keys, name: str) -> None:
    response = client.post(
        f"/v1/calculations/{name}",
        content=b"target_dose_gy=120",
        headers={**keys.viewer, "Content-Type": "application/json"},
    )
    assert_problem(response, 422, "body")
    assert_problem(post(client, keys, name, [1, 2]), 422)


def test_wording_matches_cli(
    client: TestClient, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    problem = assert_problem(post(client, keys, "mird", {**MIRD, "lsf": 1.5}), 422, "lsf")
    code = cli_main(
        ["plan", "mird", "--target-dose-gy", "120", "--perfused-volume-ml", "1165", "--lsf", "1.5"]
    )
    assert code == 2
    cli_line = capsys.readouterr().err
    assert problem["errors"][0]["allowed"] in cli_line


def test_oversized_json_body_is_413(client: TestClient, keys: Keys) -> None:
    huge = {**MIRD, "padding": "x" * (2 * 1024 * 1024)}
    assert_problem(post(client, keys, "mird", huge), 413)


def test_uncertainty_fields_are_the_cores(client: TestClient, keys: Keys) -> None:
    """Issue 13 part 3: the API takes the same sd_* fields and returns the same block.

    10 % on the perfused volume alone: A = D M / (C (1 - LSF)) spreads by 10 % to first
    order (3.13030 x 0.1 = 0.31303 GBq).
    """
    body = {**MIRD, "sd_volume_percent": 10, "sd_lsf": 0, "sd_activity_percent": 0}
    response = post(client, keys, "mird", {**body, "sd_lung_mass_percent": 0})
    assert response.status_code == 200, response.text
    uncertainty = response.json()["uncertainty"]
    assert uncertainty["activity_gbq"]["sd_first_order"] == pytest.approx(0.313030, rel=1e-5)
    assert uncertainty["drivers"] == [{"input": "perfused_volume_ml", "share": 1.0}]
    core = plan_mird(MirdPlanInput(**body, sd_lung_mass_percent=0)).json_dict()
    assert response.json() == core
    refused = post(client, keys, "mird", {**MIRD, "sd_tn_percent": 10})
    assert refused.status_code == 422
