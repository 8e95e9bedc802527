"""Partition model (physics.md 4.3), with the arithmetic of each expected value shown."""

import pytest

from y90dose.findings import Code
from y90dose.models.mird import MirdDoseInput, MirdPlanInput, dose_mird, plan_mird
from y90dose.models.partition import (
    PartitionDoseInput,
    PartitionPlanInput,
    dose_partition,
    plan_partition,
)

ONE_TUMOUR = {"tumor_volume_ml": [200], "tn_ratio": [3], "normal_volume_ml": 1200, "lsf": 0.06}


def test_hand_case_normal_target() -> None:
    # M_T = 0.206 kg, M_N = 1.236 kg; sum TN x M_T + M_N = 0.618 + 1.236 = 1.854 kg
    # A = 40 x 1.854 / (50 x 0.94) = 74.16 / 47 = 1.577872 GBq; D_T = 3 x 40 = 120 Gy
    # lung = 50 x 1.577872 x 0.06 = 4.733617 Gy; perfused = 74.16 / 1.442 = 51.42857 Gy
    result = plan_partition(PartitionPlanInput(normal_dose_gy=40, **ONE_TUMOUR))
    assert result.activity_gbq == pytest.approx(1.577872, abs=1e-6)
    assert result.doses_gy["normal"] == pytest.approx(40.0)
    assert result.doses_gy["tumor"] == pytest.approx(120.0)
    assert result.doses_gy["tumors"] == pytest.approx([120.0])
    assert result.doses_gy["lung"] == pytest.approx(4.733617, abs=1e-6)
    assert result.doses_gy["perfused"] == pytest.approx(51.42857, abs=1e-5)


def test_known_wrong_variants_would_fail() -> None:
    result = plan_partition(PartitionPlanInput(normal_dose_gy=40, **ONE_TUMOUR))
    times_one_minus_lsf = 40 * 1.854 * 0.94 / 50  # 1.3940 GBq
    tn_plus_one_weighting = 40 * (1.236 * (3 + 1)) / (50 * 0.94)  # 4.2072 GBq
    assert result.activity_gbq != pytest.approx(times_one_minus_lsf, rel=0.01)
    assert result.activity_gbq != pytest.approx(tn_plus_one_weighting, rel=0.01)


def test_tumour_target_equals_normal_target_over_tn() -> None:
    # tumour target 120 Gy at TN 3 is the same plan as 40 Gy to normal liver
    by_tumour = plan_partition(PartitionPlanInput(tumor_dose_gy=120, **ONE_TUMOUR))
    by_normal = plan_partition(PartitionPlanInput(normal_dose_gy=40, **ONE_TUMOUR))
    assert by_tumour.activity_gbq == pytest.approx(by_normal.activity_gbq)


def test_two_tumours_target_the_lowest_tn() -> None:
    # TN 3 (200 mL) and 5 (50 mL): the 205 Gy target goes to the TN-3 tumour, D_N = 68.3333 Gy
    # sum TN x M_T + M_N = 3 x 0.206 + 5 x 0.0515 + 1.236 = 2.1115 kg
    # A = 68.3333 x 2.1115 / 47 = 3.069911 GBq; tumour doses 205 and 341.667 Gy
    result = plan_partition(
        PartitionPlanInput(
            tumor_dose_gy=205,
            tumor_volume_ml=[200, 50],
            tn_ratio=[3, 5],
            normal_volume_ml=1200,
            lsf=0.06,
        )
    )
    assert result.activity_gbq == pytest.approx(3.069911, abs=1e-6)
    assert result.doses_gy["tumors"] == pytest.approx([205.0, 341.6667], abs=1e-4)
    assert "tumor" not in result.doses_gy
    assert result.details["target_tumor_index"] == 0
    # the targeted tumour meets 205 Gy exactly: not flagged as low by rounding
    assert Code.TUMOR_DOSE_LOW.value not in {f.code.value for f in result.findings}


def test_tn_one_equals_mird_on_the_sum() -> None:
    partition = dose_partition(
        PartitionDoseInput(
            activity_gbq=2.0, tumor_volume_ml=[300], tn_ratio=[1.0], normal_volume_ml=900, lsf=0.1
        )
    )
    mird = dose_mird(MirdDoseInput(activity_gbq=2.0, perfused_volume_ml=1200, lsf=0.1))
    assert partition.doses_gy["normal"] == pytest.approx(mird.doses_gy["perfused"])
    assert partition.doses_gy["tumor"] == pytest.approx(mird.doses_gy["perfused"])
    assert partition.doses_gy["lung"] == pytest.approx(mird.doses_gy["lung"])


def test_energy_conservation_over_compartments() -> None:
    result = dose_partition(
        PartitionDoseInput(
            activity_gbq=1.8,
            tumor_volume_ml=[120, 40],
            tn_ratio=[4, 2.5],
            normal_volume_ml=1000,
            lsf=0.07,
            residual=0.02,
        )
    )
    tumours = zip(result.tumor_doses_gy(), result.tumor_masses_kg(), strict=True)
    liver_j = sum(d * m for d, m in tumours)
    liver_j += result.dose_gy("normal") * result.mass_kg("normal")
    lung_j = result.dose_gy("lung") * result.mass_kg("lung")
    assert liver_j + lung_j == pytest.approx(50.0 * 1.8 * 0.98)
    assert result.dose_gy("perfused") * result.mass_kg("perfused") == pytest.approx(liver_j)


def test_glass_normal_liver_and_tumour_findings() -> None:
    # 130 Gy normal liver (> 120) with a TN-1.2 tumour at 156 Gy (< 205)
    result = plan_partition(
        PartitionPlanInput(
            normal_dose_gy=130,
            tumor_volume_ml=[100],
            tn_ratio=[1.2],
            normal_volume_ml=600,
            lsf=0.02,
            delivery="lobar",
        )
    )
    found = {f.code.value for f in result.findings}
    assert {Code.NORMAL_LIVER_DOSE_HIGH.value, Code.TUMOR_DOSE_LOW.value} <= found


def test_mird_and_partition_agree_on_perfused_dose_for_segmentectomy() -> None:
    mird = plan_mird(
        MirdPlanInput(
            target_dose_gy=250, perfused_volume_ml=150, lsf=0.03, delivery="segmentectomy"
        )
    )
    partition = dose_partition(
        PartitionDoseInput(
            activity_gbq=mird.activity_gbq,
            tumor_volume_ml=[50],
            tn_ratio=[4],
            normal_volume_ml=100,
            lsf=0.03,
            delivery="segmentectomy",
        )
    )
    assert partition.doses_gy["perfused"] == pytest.approx(250.0)
    # ablative on purpose: no normal-liver warning in a segmentectomy
    assert Code.NORMAL_LIVER_DOSE_HIGH.value not in {f.code.value for f in partition.findings}
