"""Sphere counts: how many microspheres a plan or vial delivers (issue 13, part 5).

Product data: glass about 2,500 Bq per sphere at calibration (1.2 x 10^6 spheres per
3 GBq; Sangro et al., Hepatic Oncology 2014;1:265, Table 3); resin 44 +/- 2.6 million
spheres per 3 GBq vial (Sirtex), i.e. 3e9 / 44e6 = 68.1818 Bq per sphere at calibration.
A drawn share of a vial carries that share of its spheres. Y-90 half-life 64.1 h.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from y90dose.devices import Product
from y90dose.findings import Code
from y90dose.models.bsa import BsaPlanInput, plan_bsa
from y90dose.models.mird import MirdDoseInput, MirdPlanInput, dose_mird, plan_mird
from y90dose.models.partition import PartitionDoseInput, dose_partition
from y90dose.spheres import activity_per_sphere_at_calibration_bq, spheres_delivered
from y90dose.vials import VialInput, choose_vial

RESIN_BQ = 3e9 / 44e6  # 68.1818 Bq per resin sphere at calibration
NY = ZoneInfo("America/New_York")


def test_product_data_per_sphere() -> None:
    assert activity_per_sphere_at_calibration_bq(Product.GLASS) == 2500.0
    # 3 GBq over 1.2 million spheres is the same 2,500 Bq (Sangro Table 3, both forms)
    assert 3e9 / 1.2e6 == 2500.0
    assert activity_per_sphere_at_calibration_bq(Product.RESIN) == pytest.approx(68.1818, 1e-5)


def test_glass_three_gbq_at_calibration_is_1_2_million() -> None:
    spheres = spheres_delivered(Product.GLASS, 3.0, 0.0, perfused_volume_ml=1000.0)
    assert spheres.count == pytest.approx(1.2e6)
    assert spheres.activity_per_sphere_bq == pytest.approx(2500.0)
    assert spheres.per_ml_perfused == pytest.approx(1200.0)  # 1.2e6 / 1000 mL
    assert spheres.count_sd is None  # no spread in the glass product data


def test_decay_halves_the_activity_per_sphere_and_doubles_the_count() -> None:
    """One half-life after calibration each glass sphere carries 1250 Bq, so 3 GBq (then)
    takes 3e9 / 1250 = 2.4 million spheres; two half-lives: 625 Bq, 4.8 million."""
    one = spheres_delivered(Product.GLASS, 3.0, 64.1)
    two = spheres_delivered(Product.GLASS, 3.0, 128.2)
    assert one.activity_per_sphere_bq == pytest.approx(1250.0)
    assert one.count == pytest.approx(2.4e6)
    assert two.activity_per_sphere_bq == pytest.approx(625.0)
    assert two.count == pytest.approx(4.8e6)
    before = spheres_delivered(Product.GLASS, 3.0, -64.1)  # used a half-life early
    assert before.activity_per_sphere_bq == pytest.approx(5000.0)


def test_resin_drawn_share_carries_that_share_of_44_million() -> None:
    """1.5 GBq drawn at calibration is half the 3 GBq vial: 22 million spheres, sd
    2.6 / 2 = 1.3 million, each 68.18 Bq; over 900 mL, 24,444 per mL."""
    spheres = spheres_delivered(Product.RESIN, 1.5, 0.0, perfused_volume_ml=900.0)
    assert spheres.count == pytest.approx(22e6)
    assert spheres.count_sd == pytest.approx(1.3e6)
    assert spheres.activity_per_sphere_bq == pytest.approx(RESIN_BQ)
    assert spheres.per_ml_perfused == pytest.approx(22e6 / 900.0)


def test_plan_counts_the_delivered_activity() -> None:
    """MIRD 120 Gy to 1000 mL at 1.0 g/mL, LSF 0, residual 20 %: A = 120 x 1 / (50 x 0.8)
    = 3 GBq, of which 2.4 GBq leaves the vial: 2.4e9 / 2500 = 960,000 spheres, 960 per mL."""
    result = plan_mird(
        MirdPlanInput(
            target_dose_gy=120, perfused_volume_ml=1000, density_g_ml=1.0, lsf=0.0, residual=0.2
        )
    )
    assert result.activity_gbq == pytest.approx(3.0)
    assert result.spheres is not None
    assert result.spheres.count == pytest.approx(960_000)
    assert result.spheres.per_ml_perfused == pytest.approx(960.0)
    assert result.spheres.time_since_calibration_h == 0.0


def test_plan_time_since_calibration_decays_each_sphere() -> None:
    """3 GBq glass given 48 h after calibration: each sphere 2500 x 2^(-48/64.1) =
    2500 x 0.59509 (the decay example of docs/usage.md) = 1487.7 Bq, so 3e9 / 1487.7 =
    2.0165 million spheres."""
    result = dose_mird(
        MirdDoseInput(
            activity_gbq=3.0, perfused_volume_ml=1000, lsf=0.05, time_since_calibration_h=48
        )
    )
    per_sphere = 2500 * 2 ** (-48 / 64.1)
    assert per_sphere == pytest.approx(1487.7, abs=0.05)
    assert result.spheres is not None
    assert result.spheres.activity_per_sphere_bq == pytest.approx(per_sphere)
    assert result.spheres.count == pytest.approx(3e9 / per_sphere)
    assert result.spheres.count == pytest.approx(2.0165e6, rel=1e-4)


def test_partition_counts_over_tumours_and_normal_liver() -> None:
    """2 GBq glass over 200 mL tumour + 1200 mL normal liver: 800,000 spheres, 571.4/mL."""
    result = dose_partition(
        PartitionDoseInput(
            activity_gbq=2.0, tumor_volume_ml=[200], tn_ratio=[3], normal_volume_ml=1200, lsf=0.1
        )
    )
    assert result.spheres is not None
    assert result.spheres.count == pytest.approx(800_000)
    assert result.spheres.per_ml_perfused == pytest.approx(800_000 / 1400)


def test_resin_plans_carry_an_embolic_load_finding_and_glass_plans_none() -> None:
    """BSA 175 cm, 75 kg, 450 of 1500 mL tumour, LSF 5 %: A = 2.00311 GBq (bsa.py's worked
    example, no reduction) = 2.00311 / 3 x 44 million = 29.38 million spheres (67 % of the
    vial's)."""
    resin = plan_bsa(
        BsaPlanInput(
            height_cm=175, weight_kg=75, tumor_volume_ml=450, liver_volume_ml=1500, lsf=0.05
        )
    )
    assert resin.spheres is not None
    assert resin.spheres.count == pytest.approx(2.00311 / 3 * 44e6, rel=1e-5)
    load = [f for f in resin.findings if f.code is Code.SPHERES_EMBOLIC_LOAD]
    assert len(load) == 1 and load[0].severity.value == "info"
    assert "29.4 million resin spheres (67% of a 3 GBq vial" in load[0].message
    glass = plan_mird(MirdPlanInput(target_dose_gy=120, perfused_volume_ml=1000, lsf=0.05))
    assert not [f for f in glass.findings if f.code is Code.SPHERES_EMBOLIC_LOAD]


def test_glass_vial_gives_all_its_spheres_decayed() -> None:
    """A 5 GBq glass vial holds 5e9 / 2500 = 2 million spheres whenever it is given; at the
    treatment 72 h after calibration each carries 2500 x 2^(-72/64.1) = 1148.4 Bq."""
    calibration = datetime(2026, 3, 1, 12, tzinfo=NY)
    result = choose_vial(
        VialInput(
            activity_gbq=2.2,
            treatment_time=calibration + timedelta(hours=72),
            calibration_time=calibration,
            perfused_volume_ml=800,
        )
    )
    assert result.vial_gbq == 5.0  # 3 GBq holds 3 x 0.4594 = 1.38 GBq then: too little
    assert result.spheres.count == pytest.approx(2e6)
    assert result.spheres.activity_per_sphere_bq == pytest.approx(2500 * 2 ** (-72 / 64.1))
    assert result.spheres.per_ml_perfused == pytest.approx(2500.0)  # 2e6 / 800 mL
    assert result.spheres.time_since_calibration_h == pytest.approx(72.0)


def test_resin_vial_draw_is_its_share_of_the_spheres() -> None:
    """1.2 GBq drawn 24 h after calibration from a vial then holding 3 x 2^(-24/64.1) =
    2.3134 GBq: 1.2 / 2.3134 = 51.9 % of 44 million = 22.82 million spheres of 52.59 Bq."""
    calibration = datetime(2026, 3, 1, 18, tzinfo=NY)
    result = choose_vial(
        VialInput(
            activity_gbq=1.2,
            treatment_time=calibration + timedelta(hours=24),
            calibration_time=calibration,
            product=Product.RESIN,
        )
    )
    vial_then = 3.0 * 2 ** (-24 / 64.1)
    assert result.spheres.count == pytest.approx(44e6 * 1.2 / vial_then)
    assert result.spheres.count == pytest.approx(22.82e6, rel=1e-3)
    assert result.spheres.activity_per_sphere_bq == pytest.approx(RESIN_BQ * 2 ** (-24 / 64.1))
    assert result.spheres.per_ml_perfused is None  # no perfused volume given
    assert any(f.code is Code.SPHERES_EMBOLIC_LOAD for f in result.findings)


def test_time_since_calibration_is_bounded() -> None:
    from y90dose.errors import InputError
    from y90dose.validation import parse

    with pytest.raises(InputError, match="time_since_calibration_h"):
        parse(
            MirdPlanInput,
            {
                "target_dose_gy": 120,
                "perfused_volume_ml": 1000,
                "lsf": 0.1,
                "time_since_calibration_h": 10_000,
            },
        )
