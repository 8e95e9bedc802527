"""Kao-form partition inputs (issue 13, part 6).

Kao et al. (Cardiovasc Intervent Radiol 2014, Eqs. 1-3) give the ratio of *total*
activities R = A_T / A_N and the tumour-to-lung shunt fraction TLSF = A_L / (A_T + A_L).
With one density: TN = R x V_N / V_T, and with A_N = 1, A_T = R, A_L = TLSF x R / (1 - TLSF):
LSF = A_L / (A_N + A_T + A_L) = R x TLSF / (1 + R - TLSF).
"""

from __future__ import annotations

from typing import Any

import pytest

from y90dose.cli.main import main
from y90dose.errors import InputError
from y90dose.models.partition import (
    PartitionDoseInput,
    PartitionPlanInput,
    kao_lsf,
    plan_partition,
)
from y90dose.validation import parse

BASE: dict[str, Any] = {"normal_dose_gy": 40, "tumor_volume_ml": [200], "normal_volume_ml": 1200}


def test_total_ratio_becomes_the_concentration_ratio() -> None:
    """R = 0.5 for a 200 mL tumour in 1200 mL normal liver: TN = 0.5 x 1200 / 200 = 3, so
    the plan equals the TN-3 plan: A = 40 x (3 x 0.206 + 1.236) / (50 x 0.94) = 1.5779 GBq."""
    kao = plan_partition(PartitionPlanInput(**BASE, tumor_to_normal_total_ratio=[0.5], lsf=0.06))
    tn = plan_partition(PartitionPlanInput(**BASE, tn_ratio=[3], lsf=0.06))
    assert kao.activity_gbq == pytest.approx(40 * (3 * 0.206 + 1.236) / (50 * 0.94))
    assert kao.activity_gbq == pytest.approx(tn.activity_gbq)
    assert kao.doses_gy == tn.doses_gy
    assert kao.details["tn_ratio_from_total_ratio"] == pytest.approx([3.0])


def test_entering_r_as_tn_would_be_wrong() -> None:
    """The mistake the Kao form avoids: R = 0.5 typed as TN gives 40 x (0.5 x 0.206 +
    1.236) / 47 = 1.1396 GBq, 28 % less than the right 1.5779 GBq."""
    wrong = plan_partition(PartitionPlanInput(**BASE, tn_ratio=[0.5], lsf=0.06))
    right = plan_partition(PartitionPlanInput(**BASE, tumor_to_normal_total_ratio=[0.5], lsf=0.06))
    assert wrong.activity_gbq == pytest.approx(40 * (0.5 * 0.206 + 1.236) / 47)
    assert right.activity_gbq > 1.3 * wrong.activity_gbq


def test_tumour_lung_shunt_fraction_becomes_the_lsf() -> None:
    """R = 0.5, TLSF = 0.2: A_N = 1, A_T = 0.5, A_L = 0.2 x 0.5 / 0.8 = 0.125, A_total =
    1.625: LSF = 0.125 / 1.625 = 0.076923 = 0.5 x 0.2 / (1 + 0.5 - 0.2) = 0.1 / 1.3."""
    assert kao_lsf(0.5, 0.2) == pytest.approx(0.125 / 1.625)
    assert kao_lsf(0.5, 0.2) == pytest.approx(0.1 / 1.3)
    result = plan_partition(
        PartitionPlanInput(**BASE, tumor_to_normal_total_ratio=[0.5], tumor_lung_shunt_fraction=0.2)
    )
    assert result.lsf == pytest.approx(1 / 13)
    assert result.details["lsf_from_tumor_lung_shunt_fraction"] == pytest.approx(1 / 13)
    # A = 40 x 1.854 / (50 x (1 - 1/13)) = 74.16 / 46.1538 = 1.60680 GBq
    assert result.activity_gbq == pytest.approx(74.16 / (50 * 12 / 13))


def test_tlsf_with_concentration_ratios_uses_their_total_ratio() -> None:
    """TN 3 and 2 for tumours of 100 and 60 mL in 800 mL normal liver: R = (3 x 100 + 2 x 60)
    / 800 = 0.525; TLSF 0.1: LSF = 0.525 x 0.1 / (1 + 0.525 - 0.1) = 0.0525 / 1.425."""
    inputs = PartitionDoseInput.model_validate(
        {
            "activity_gbq": 2.0,
            "tumor_volume_ml": [100, 60],
            "tn_ratio": [3, 2],
            "normal_volume_ml": 800,
            "tumor_lung_shunt_fraction": 0.1,
        }
    )
    assert inputs.lsf == pytest.approx(0.0525 / 1.425)


def test_several_tumours_each_their_own_ratio() -> None:
    """R 0.3 for 100 mL and 0.1 for 50 mL in 1000 mL: TN = 0.3 x 1000 / 100 = 3 and
    0.1 x 1000 / 50 = 2."""
    inputs = PartitionPlanInput.model_validate(
        {
            "normal_dose_gy": 40,
            "tumor_volume_ml": [100, 50],
            "tumor_to_normal_total_ratio": [0.3, 0.1],
            "normal_volume_ml": 1000,
            "lsf": 0.05,
        }
    )
    assert inputs.tn_ratio == pytest.approx([3.0, 2.0])


@pytest.mark.parametrize(
    ("extra", "field", "words"),
    [
        (
            {"tn_ratio": [3], "tumor_to_normal_total_ratio": [0.5], "lsf": 0.06},
            "tumor_to_normal_total_ratio",
            "not both",
        ),
        (
            {"tn_ratio": [3], "lsf": 0.06, "tumor_lung_shunt_fraction": 0.2},
            "tumor_lung_shunt_fraction",
            "not both",
        ),
        (
            {"tumor_to_normal_total_ratio": [0.5, 0.2], "lsf": 0.06},
            "tumor_to_normal_total_ratio",
            "one ratio per tumour",
        ),
        # TN = 2000 x 1200 / 200 = 12000: outside the TN range 0.01-1000
        (
            {"tumor_to_normal_total_ratio": [1000], "lsf": 0.06},
            "tumor_to_normal_total_ratio",
            "TN = R x normal_volume_ml / tumor_volume_ml",
        ),
        ({"tumor_to_normal_total_ratio": [0], "lsf": 0.06}, "tumor_to_normal_total_ratio", "> 0"),
        ({"tn_ratio": [3], "tumor_lung_shunt_fraction": 1.0}, "tumor_lung_shunt_fraction", "< 1"),
    ],
)
def test_refused_with_the_field_named(extra: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(InputError) as caught:
        parse(PartitionPlanInput, {**BASE, **extra})
    assert caught.value.field == field
    assert words in caught.value.allowed


def test_neither_lung_form_names_lsf() -> None:
    with pytest.raises(InputError) as caught:
        parse(PartitionPlanInput, {**BASE, "tumor_to_normal_total_ratio": [0.5]})
    assert caught.value.field == "lsf"


def test_written_inputs_keep_the_form_given_and_validate_again() -> None:
    """A stored plan's inputs are the Kao values typed, without the TN and LSF derived from
    them (which would be refused beside them)."""
    inputs = PartitionPlanInput(
        **BASE, tumor_to_normal_total_ratio=[0.5], tumor_lung_shunt_fraction=0.2
    )
    written = inputs.model_dump(mode="json")
    assert "tn_ratio" not in written and "lsf" not in written
    assert written["tumor_to_normal_total_ratio"] == [0.5]
    assert PartitionPlanInput.model_validate(written) == inputs
    plain = PartitionPlanInput(**BASE, tn_ratio=[3], lsf=0.06).model_dump(mode="json")
    assert "tumor_to_normal_total_ratio" not in plain and "tumor_lung_shunt_fraction" not in plain


def test_cli_takes_the_kao_options(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "plan", "partition", "--normal-dose-gy", "40", "--tumor-volume-ml", "200",
            "--tumor-to-normal-total-ratio", "0.5", "--normal-volume-ml", "1200",
            "--tumor-lung-shunt-fraction", "0.2", "--lung-mass-kg", "1",
        ]
    )  # fmt: skip
    output = capsys.readouterr().out
    assert code == 0, output
    assert "activity: 1.607 GBq" in output  # 74.16 / 46.1538 = 1.6068
    assert "tn_ratio_from_total_ratio: [3.0]" in output
    code = main(
        [
            "plan", "partition", "--normal-dose-gy", "40", "--tumor-volume-ml", "200",
            "--tn-ratio", "3", "--tumor-to-normal-total-ratio", "0.5", "--normal-volume-ml",
            "1200", "--lsf", "0.06",
        ]
    )  # fmt: skip
    error = capsys.readouterr().err
    assert code == 2
    assert error.startswith("y90dose plan: error: --tumor-to-normal-total-ratio: ")
    assert "not both" in error
