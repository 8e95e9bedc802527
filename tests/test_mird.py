"""MIRD single-compartment model (physics.md 4.1; TheraSphere IFU), with hand arithmetic."""

import pytest

from y90dose.devices import Product
from y90dose.findings import Code, Severity
from y90dose.models.mird import MirdDoseInput, MirdPlanInput, dose_mird, plan_mird
from y90dose.settings import ClinicalSettings


def codes(result: object) -> set[str]:
    return {f.code.value for f in result.findings}  # type: ignore[attr-defined]


def test_hand_case_glass() -> None:
    # M = 1165 mL x 1.03 g/mL = 1.19995 kg
    # A = 120 Gy x 1.19995 kg / (50 J/GBq x (1 - 0.08)) = 143.994 / 46 = 3.130304 GBq
    # lung = 50 x 3.130304 x 0.08 / 1 kg = 12.5212 Gy
    result = plan_mird(MirdPlanInput(target_dose_gy=120, perfused_volume_ml=1165, lsf=0.08))
    assert result.activity_gbq == pytest.approx(3.130304, abs=1e-6)
    assert result.doses_gy["perfused"] == pytest.approx(120.0)
    assert result.doses_gy["lung"] == pytest.approx(12.5212, abs=1e-4)
    assert result.masses_kg["perfused"] == pytest.approx(1.19995)
    assert result.constants.energy_j_per_gbq == 50.0
    assert result.constants.half_life_h == 64.1
    assert result.constants.density_g_ml == 1.03


def test_known_wrong_variant_would_fail() -> None:
    # A shipped calculator multiplied by (1 - LSF): 120 x 1.19995 x 0.92 / 50 = 2.6495 GBq.
    result = plan_mird(MirdPlanInput(target_dose_gy=120, perfused_volume_ml=1165, lsf=0.08))
    wrong = 120 * 1.19995 * (1 - 0.08) / 50
    assert result.activity_gbq != pytest.approx(wrong, rel=0.01)
    assert result.activity_gbq > wrong


def test_residual_divides_too() -> None:
    # A = 3.130304 / (1 - 0.1) = 3.478116 GBq; what leaves the vial is 3.130304 GBq.
    result = plan_mird(
        MirdPlanInput(target_dose_gy=120, perfused_volume_ml=1165, lsf=0.08, residual=0.1)
    )
    assert result.activity_gbq == pytest.approx(3.478116, abs=1e-6)
    assert result.delivered_activity_gbq == pytest.approx(3.130304, abs=1e-6)


def test_sirtex_rule_one_gbq_per_kg_is_about_50_gy() -> None:
    # 1 GBq in 1 kg (1000/1.03 mL) with no shunt: resin C = 49.38 Gy, within 2 % of 50 Gy.
    result = dose_mird(
        MirdDoseInput(activity_gbq=1.0, perfused_volume_ml=1000 / 1.03, lsf=0.0, product="resin")
    )
    assert result.doses_gy["perfused"] == pytest.approx(49.38)
    assert result.doses_gy["perfused"] == pytest.approx(50.0, rel=0.02)


def test_eanm_constant_is_selectable() -> None:
    result = dose_mird(
        MirdDoseInput(
            activity_gbq=1.0, perfused_volume_ml=1000 / 1.03, lsf=0.0, energy_j_per_gbq=49.67
        )
    )
    assert result.doses_gy["perfused"] == pytest.approx(49.67)
    assert result.constants.energy_j_per_gbq == 49.67
    assert Code.ENERGY_CONSTANT_NON_DEFAULT.value in codes(result)


def test_energy_is_conserved_between_liver_and_lung() -> None:
    # perfused dose x perfused mass + lung dose x lung mass = C x A x (1 - R)
    result = dose_mird(
        MirdDoseInput(
            activity_gbq=2.5, perfused_volume_ml=800, lsf=0.12, residual=0.05, lung_mass_kg=0.8
        )
    )
    energy_j = result.dose_gy("perfused") * result.mass_kg("perfused") + result.dose_gy(
        "lung"
    ) * result.mass_kg("lung")
    assert energy_j == pytest.approx(50.0 * 2.5 * 0.95)


def test_lung_dose_over_limit_blocks() -> None:
    # lung = 50 x 4 x 0.16 / 1 = 32 Gy > 30 Gy
    result = dose_mird(MirdDoseInput(activity_gbq=4.0, perfused_volume_ml=1500, lsf=0.16))
    assert result.doses_gy["lung"] == pytest.approx(32.0)
    blocks = [f for f in result.findings if f.severity is Severity.BLOCK]
    assert [f.code for f in blocks] == [Code.LUNG_DOSE_OVER_LIMIT]


def test_lung_dose_exactly_at_limit_does_not_block() -> None:
    # lung = 50 x 3 x 0.2 = 30 Gy exactly: at the limit, not over it; warned as near.
    result = dose_mird(MirdDoseInput(activity_gbq=3.0, perfused_volume_ml=1500, lsf=0.2))
    assert result.doses_gy["lung"] == pytest.approx(30.0)
    assert Code.LUNG_DOSE_OVER_LIMIT.value not in codes(result)
    assert Code.LUNG_DOSE_NEAR_LIMIT.value in codes(result)


def test_cumulative_lung_dose_blocks() -> None:
    # this treatment 50 x 2 x 0.26 = 26 Gy (< 30) + prior 25 Gy = 51 Gy > 50 Gy
    result = dose_mird(
        MirdDoseInput(activity_gbq=2.0, perfused_volume_ml=1500, lsf=0.26, prior_lung_dose_gy=25)
    )
    assert result.doses_gy["lung_cumulative"] == pytest.approx(51.0)
    assert codes(result) >= {Code.LUNG_DOSE_CUMULATIVE_OVER_LIMIT.value}
    assert Code.LUNG_DOSE_OVER_LIMIT.value not in codes(result)


def test_site_can_override_a_limit() -> None:
    strict = ClinicalSettings(lung_dose_limit_gy=20.0)
    inputs = MirdDoseInput(activity_gbq=2.0, perfused_volume_ml=1500, lsf=0.22)  # 22 Gy
    assert Code.LUNG_DOSE_OVER_LIMIT.value not in codes(dose_mird(inputs))
    assert Code.LUNG_DOSE_OVER_LIMIT.value in codes(dose_mird(inputs, strict))


def test_resin_lsf_over_20_percent_blocks() -> None:
    at_limit = dose_mird(
        MirdDoseInput(activity_gbq=1.0, perfused_volume_ml=1500, lsf=0.20, product="resin")
    )
    over = dose_mird(
        MirdDoseInput(activity_gbq=1.0, perfused_volume_ml=1500, lsf=0.21, product="resin")
    )
    assert Code.LSF_OVER_RESIN_LIMIT.value not in codes(at_limit)
    assert Code.LSF_OVER_RESIN_LIMIT.value in codes(over)
    glass = dose_mird(MirdDoseInput(activity_gbq=1.0, perfused_volume_ml=1500, lsf=0.21))
    assert Code.LSF_OVER_RESIN_LIMIT.value not in codes(glass)


@pytest.mark.parametrize(
    ("dose_gy", "code"),
    [(70, Code.PERFUSED_DOSE_BELOW_RANGE), (120, None), (160, Code.PERFUSED_DOSE_ABOVE_RANGE)],
)
def test_glass_lobar_perfused_range(dose_gy: float, code: Code | None) -> None:
    result = plan_mird(
        MirdPlanInput(target_dose_gy=dose_gy, perfused_volume_ml=900, lsf=0.05, delivery="lobar")
    )
    range_codes = codes(result) & {
        Code.PERFUSED_DOSE_BELOW_RANGE.value,
        Code.PERFUSED_DOSE_ABOVE_RANGE.value,
    }
    assert range_codes == ({code.value} if code else set())


def test_activity_above_largest_vial_is_flagged() -> None:
    result = plan_mird(
        MirdPlanInput(target_dose_gy=120, perfused_volume_ml=1200, lsf=0.05, product=Product.RESIN)
    )
    # 120 x 1.236 / (49.38 x 0.95) = 3.16 GBq > one 3 GBq resin vial
    assert result.activity_gbq == pytest.approx(120 * 1.236 / (49.38 * 0.95))
    assert Code.ACTIVITY_ABOVE_LARGEST_VIAL.value in codes(result)


def test_therasphere_0_61_gbq_lung_figure_is_blocked_by_the_30_gy_limit() -> None:
    # The glass IFU's single-administration lung figure, 0.61 GBq to the lung, is
    # 50 x 0.61 / 1 kg = 30.5 Gy > 30 Gy: y90dose checks the dose (physics.md, lung limits).
    # 6.1 GBq with LSF 10 % shunts exactly 0.61 GBq.
    result = dose_mird(MirdDoseInput(activity_gbq=6.1, perfused_volume_ml=1500, lsf=0.10))
    assert result.dose_gy("lung") == pytest.approx(30.5, rel=1e-12)
    assert Code.LUNG_DOSE_OVER_LIMIT.value in codes(result)
