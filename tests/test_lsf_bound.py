"""``lsf_bound``: the lung shunt fraction at which a plan's lung limit would bind
(issue 13, part 4; derivations in docs/physics.md).

L is the lung dose still allowed: min(30 Gy, 50 Gy - prior lung dose).
- plan (dose -> activity): the liver energy E is fixed, lung = E x LSF / ((1 - LSF) x M_L),
  so LSF = x / (1 + x), x = L x M_L / E;
- dose (activity -> doses): lung = C x A x (1 - R) x LSF / M_L, LSF = L x M_L / (C A (1-R));
- BSA: the activity falls by LSF bands; the first band holding the bound gives it.
"""

from __future__ import annotations

import pytest

from y90dose.models.bsa import BsaPlanInput, plan_bsa
from y90dose.models.mird import MirdDoseInput, MirdPlanInput, dose_mird, plan_mird
from y90dose.models.partition import (
    PartitionDoseInput,
    PartitionPlanInput,
    dose_partition,
    plan_partition,
)
from y90dose.settings import ClinicalSettings


def test_mird_plan_bound_is_x_over_1_plus_x() -> None:
    """120 Gy to 1000 mL at 1.0 g/mL (1 kg), lungs 1 kg: x = 30 x 1 / (120 x 1) = 0.25,
    LSF = 0.25 / 1.25 = 0.2, whatever the LSF used (here 5 %)."""
    result = plan_mird(
        MirdPlanInput(target_dose_gy=120, perfused_volume_ml=1000, density_g_ml=1.0, lsf=0.05)
    )
    assert result.lsf_bound == pytest.approx(0.2)


def test_mird_plan_at_its_bound_gives_exactly_the_lung_limit() -> None:
    """The same plan made with LSF = 0.2: A = 120 / (50 x 0.8) = 3 GBq, lung
    50 x 3 x 0.2 / 1 = 30 Gy, the limit; a lung of 1.5 kg moves the bound to
    x = 45 / 120 = 0.375, LSF = 0.375 / 1.375 = 0.27273."""
    at_bound = plan_mird(
        MirdPlanInput(target_dose_gy=120, perfused_volume_ml=1000, density_g_ml=1.0, lsf=0.2)
    )
    assert at_bound.activity_gbq == pytest.approx(3.0)
    assert at_bound.dose_gy("lung") == pytest.approx(30.0)
    heavier = plan_mird(
        MirdPlanInput(
            target_dose_gy=120,
            perfused_volume_ml=1000,
            density_g_ml=1.0,
            lsf=0.05,
            lung_mass_kg=1.5,
        )
    )
    assert heavier.lsf_bound == pytest.approx(0.375 / 1.375)


def test_residual_and_energy_constant_cancel_in_a_plan() -> None:
    """A plan fixes the liver energy D x M: neither R nor C moves the bound."""
    base = dict(target_dose_gy=120, perfused_volume_ml=1000, density_g_ml=1.0, lsf=0.05)
    with_residual = plan_mird(MirdPlanInput(**base, residual=0.3))
    resin = plan_mird(MirdPlanInput(**base, product="resin"))
    assert with_residual.lsf_bound == pytest.approx(0.2)
    assert resin.lsf_bound == pytest.approx(0.2)


def test_prior_lung_dose_makes_the_cumulative_limit_bind() -> None:
    """Prior 35 Gy leaves 50 - 35 = 15 Gy (< 30): x = 15 / 120 = 0.125, LSF = 0.11111.
    Prior 50 Gy leaves nothing: any shunt binds, bound 0."""
    base = dict(target_dose_gy=120, perfused_volume_ml=1000, density_g_ml=1.0, lsf=0.05)
    assert plan_mird(MirdPlanInput(**base, prior_lung_dose_gy=35)).lsf_bound == pytest.approx(
        0.125 / 1.125
    )
    assert plan_mird(MirdPlanInput(**base, prior_lung_dose_gy=50)).lsf_bound == 0.0


def test_site_lung_limit_moves_the_bound() -> None:
    """A site working to 30.5 Gy (physics.md): x = 30.5 / 120, LSF = 30.5 / 150.5."""
    result = plan_mird(
        MirdPlanInput(target_dose_gy=120, perfused_volume_ml=1000, density_g_ml=1.0, lsf=0.05),
        ClinicalSettings(lung_dose_limit_gy=30.5),
    )
    assert result.lsf_bound == pytest.approx(30.5 / 150.5)


def test_mird_dose_bound_is_the_activity_form() -> None:
    """3 GBq glass, residual 10 %, lungs 0.9 kg: LSF = 30 x 0.9 / (50 x 3 x 0.9) = 0.2;
    0.5 GBq would need 30 x 0.9 / (50 x 0.5 x 0.9) = 1.2 > 1: no LSF reaches it."""
    result = dose_mird(
        MirdDoseInput(
            activity_gbq=3.0, perfused_volume_ml=1000, lsf=0.05, residual=0.1, lung_mass_kg=0.9
        )
    )
    assert result.lsf_bound == pytest.approx(0.2)
    small = dose_mird(
        MirdDoseInput(
            activity_gbq=0.5, perfused_volume_ml=1000, lsf=0.05, residual=0.1, lung_mass_kg=0.9
        )
    )
    assert small.lsf_bound is None


def test_partition_plan_bound_uses_the_weighted_mass() -> None:
    """40 Gy to normal liver, tumour 200 mL at TN 3, normal 1200 mL, 1.03 g/mL: E = 40 x
    (3 x 0.206 + 1.236) = 74.16 J, x = 30 / 74.16 = 0.404531, LSF = 0.288018. At that LSF
    the lung gets 30 Gy."""
    common = dict(normal_dose_gy=40, tumor_volume_ml=[200], tn_ratio=[3], normal_volume_ml=1200)
    result = plan_partition(PartitionPlanInput(**common, lsf=0.06))
    x = 30 / 74.16
    assert result.lsf_bound == pytest.approx(x / (1 + x))
    assert result.lsf_bound == pytest.approx(0.288018, abs=1e-6)
    at_bound = plan_partition(PartitionPlanInput(**common, lsf=x / (1 + x)))
    assert at_bound.dose_gy("lung") == pytest.approx(30.0)


def test_partition_tumour_target_gives_the_same_bound() -> None:
    """A tumour target of 120 Gy at TN 3 is the normal target of 40 Gy above."""
    result = plan_partition(
        PartitionPlanInput(
            tumor_dose_gy=120, tumor_volume_ml=[200], tn_ratio=[3], normal_volume_ml=1200, lsf=0.1
        )
    )
    assert result.lsf_bound == pytest.approx(0.288018, abs=1e-6)


def test_partition_dose_bound() -> None:
    """1.8 GBq glass, lungs 1 kg: LSF = 30 / (50 x 1.8) = 1/3."""
    result = dose_partition(
        PartitionDoseInput(
            activity_gbq=1.8, tumor_volume_ml=[200], tn_ratio=[3], normal_volume_ml=1200, lsf=0.06
        )
    )
    assert result.lsf_bound == pytest.approx(1 / 3)


def _bsa(**changes: float) -> BsaPlanInput:
    """175 cm, 75 kg, 450 of 1500 mL tumour: A_0 = 2.00311 GBq (bsa.py's worked example)."""
    values: dict[str, float] = dict(
        height_cm=175, weight_kg=75, tumor_volume_ml=450, liver_volume_ml=1500, lsf=0.05
    )
    values.update(changes)
    return BsaPlanInput.model_validate(values)


def test_bsa_bound_in_the_first_band() -> None:
    """Lungs 0.1 kg: E_0 = 49.38 x 2.00311 = 98.9136 J; band 0 (no reduction):
    LSF = 30 x 0.1 / 98.9136 = 0.030330 < 0.10."""
    result = plan_bsa(_bsa(lung_mass_kg=0.1))
    assert result.lsf_bound == pytest.approx(3.0 / (49.38 * 2.0031118), rel=1e-5)
    assert result.lsf_bound == pytest.approx(0.030330, abs=1e-6)


def test_bsa_bound_in_the_reduced_band() -> None:
    """Lungs 0.35 kg: band 0 gives 10.5 / 98.9136 = 0.10615, past its 0.10 edge; band 1
    (20 % less activity) gives 10.5 / (98.9136 x 0.8) = 0.13269, inside [0.10, 0.15)."""
    result = plan_bsa(_bsa(lung_mass_kg=0.35))
    assert result.lsf_bound == pytest.approx(10.5 / (49.38 * 2.0031118 * 0.8), rel=1e-5)
    assert result.lsf_bound == pytest.approx(0.13269, abs=1e-5)
    # at that LSF the reduced activity gives the limit: 0.8 x 2.00311 x 49.38 x LSF / 0.35
    assert result.lsf_bound is not None
    at_bound = plan_bsa(_bsa(lung_mass_kg=0.35, lsf=result.lsf_bound))
    assert at_bound.dose_gy("lung") == pytest.approx(30.0)


def test_bsa_no_bound_up_to_the_resin_limit() -> None:
    """1 kg lungs: band 2 (40 % less) needs 30 / (98.9136 x 0.6) = 0.5055 > 0.20: none."""
    assert plan_bsa(_bsa()).lsf_bound is None


def test_bsa_bound_is_the_smallest_lsf_although_the_dose_drops_again() -> None:
    """Lungs 0.33 kg: band 0 gives 9.9 / 98.9136 = 0.100087, just past 0.10, so band 1:
    9.9 / 79.131 = 0.12511. Just below 10 % the lung is 98.9136 x 0.0999 / 0.33 = 29.94 Gy
    (< 30); at 10 % the 20 % cut drops it to 23.98 Gy: the bound is in band 1."""
    result = plan_bsa(_bsa(lung_mass_kg=0.33))
    assert result.lsf_bound == pytest.approx(9.9 / (49.38 * 2.0031118 * 0.8), rel=1e-5)
    below = plan_bsa(_bsa(lung_mass_kg=0.33, lsf=0.0999))
    assert below.dose_gy("lung") < 30.0
