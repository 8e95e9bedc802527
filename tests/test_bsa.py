"""BSA method (physics.md 4.2; SIR-Spheres IFU), including the LSF band edges."""

import pytest

from y90dose.errors import InputError
from y90dose.findings import Code, Severity
from y90dose.models.bsa import BsaPlanInput, body_surface_area_m2, lsf_reduction, plan_bsa
from y90dose.validation import parse

PATIENT = {"height_cm": 175, "weight_kg": 75, "tumor_volume_ml": 450, "liver_volume_ml": 1500}


def test_dubois_bsa() -> None:
    # 0.20247 x 1.75^0.725 x 75^0.425 = 0.20247 x 1.500385 x 6.264711 = 1.903112 m2
    assert body_surface_area_m2(175, 75) == pytest.approx(1.903112, abs=1e-6)


def test_hand_case_whole_liver() -> None:
    # A = (1.903112 - 0.2) + 450/1500 = 2.003112 GBq; LSF 5 %: no reduction
    result = plan_bsa(BsaPlanInput(lsf=0.05, **PATIENT))
    assert result.activity_gbq == pytest.approx(2.003112, abs=1e-6)
    assert result.product.value == "resin"
    assert result.constants.energy_j_per_gbq == 49.38


def test_lobar_scales_by_treated_fraction() -> None:
    # 900 of 1500 mL treated: 2.003112 x 0.6 = 1.201867 GBq
    result = plan_bsa(BsaPlanInput(lsf=0.05, treated_volume_ml=900, **PATIENT))
    assert result.activity_gbq == pytest.approx(1.201867, abs=1e-6)
    # its perfused dose is MIRD over the treated 900 mL (0.927 kg): 49.38 x 1.201867 x 0.95 / 0.927
    assert result.doses_gy["perfused"] == pytest.approx(49.38 * 1.201867 * 0.95 / 0.927, rel=1e-6)


@pytest.mark.parametrize(
    ("lsf", "reduction"),
    [
        (0.0, 0.0),
        (0.0999, 0.0),
        (0.10, 0.20),
        (0.1499, 0.20),
        (0.15, 0.40),
        (0.1999, 0.40),
        (0.20, 0.40),
        (0.2001, None),
        (0.5, None),
    ],
)
def test_lsf_band_edges(lsf: float, reduction: float | None) -> None:
    assert lsf_reduction(lsf) == reduction


def test_band_reduction_applied_to_activity() -> None:
    # LSF exactly 15 %: 40 % reduction, 2.003112 x 0.6 = 1.201867 GBq
    result = plan_bsa(BsaPlanInput(lsf=0.15, **PATIENT))
    assert result.activity_gbq == pytest.approx(1.201867, abs=1e-6)
    assert any(f.code is Code.BSA_LSF_REDUCTION for f in result.findings)


def test_lsf_above_20_percent_blocks() -> None:
    result = plan_bsa(BsaPlanInput(lsf=0.21, **PATIENT))
    assert any(
        f.severity is Severity.BLOCK and f.code is Code.LSF_OVER_RESIN_LIMIT
        for f in result.findings
    )
    assert result.details["lsf_reduction"] is None


def test_glass_is_refused() -> None:
    with pytest.raises(InputError, match="resin"):
        plan_bsa(BsaPlanInput(lsf=0.05, product="glass", **PATIENT))


def test_tumour_larger_than_liver_is_refused() -> None:
    with pytest.raises(InputError) as info:
        parse(BsaPlanInput, {**PATIENT, "lsf": 0.05, "liver_volume_ml": 400})
    assert info.value.field == "liver_volume_ml"


def test_partial_treatment_is_lobar_unless_stated() -> None:
    inferred = plan_bsa(BsaPlanInput(lsf=0.05, treated_volume_ml=900, **PATIENT))
    assert inferred.delivery.value == "lobar"
    assert inferred.details["delivery_inferred_from_treated_volume"] is True
    stated = plan_bsa(
        BsaPlanInput(lsf=0.05, treated_volume_ml=200, delivery="segmental", **PATIENT)
    )
    assert stated.delivery.value == "segmental"
    with pytest.raises(InputError) as info:
        plan_bsa(BsaPlanInput(lsf=0.05, treated_volume_ml=900, delivery="whole", **PATIENT))
    assert info.value.field == "delivery"
