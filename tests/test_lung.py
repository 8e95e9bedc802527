"""Lung shunt fraction from planar counts (physics.md 4.4)."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from y90dose.errors import InputError
from y90dose.lung import LsfInput, lsf_from_counts, lung_dose_gy
from y90dose.validation import parse


def test_issue_example() -> None:
    # G_lung = sqrt(12000 x 10000) = 10954.45; G_liver = sqrt(150000 x 180000) = 164316.77
    # LSF = 10954.45 / (10954.45 + 164316.77) = 0.062500
    result = lsf_from_counts(
        LsfInput(lung_ant=12000, lung_post=10000, liver_ant=150000, liver_post=180000)
    )
    assert result.lung_geometric_mean == pytest.approx(math.sqrt(12000 * 10000))
    assert result.lsf == pytest.approx(0.0625, abs=1e-5)


def test_no_lung_counts_is_no_shunt() -> None:
    assert lsf_from_counts(LsfInput(lung_ant=0, lung_post=0, liver_ant=5, liver_post=5)).lsf == 0


def test_lsf_is_not_the_arithmetic_mean_ratio() -> None:
    # asymmetric views: geometric and arithmetic means differ
    counts = LsfInput(lung_ant=100, lung_post=400, liver_ant=1000, liver_post=1000)
    arithmetic = 250 / (250 + 1000)
    assert lsf_from_counts(counts).lsf == pytest.approx(200 / 1200)
    assert lsf_from_counts(counts).lsf != pytest.approx(arithmetic)


def test_zero_liver_counts_refused() -> None:
    with pytest.raises(InputError) as info:
        parse(LsfInput, {"lung_ant": 1, "lung_post": 1, "liver_ant": 0, "liver_post": 3})
    assert info.value.field == "liver_ant"


def test_lung_dose() -> None:
    # 50 J/GBq x 3 GBq x 0.1 / 0.8 kg = 18.75 Gy
    assert lung_dose_gy(3.0, 0.1, 0.8, 50.0) == pytest.approx(18.75)


@given(
    st.floats(0, 1.7e308),
    st.floats(0, 1.7e308),
    st.floats(1e-300, 1.7e308),
    st.floats(1e-300, 1.7e308),
)
def test_lsf_is_a_fraction_for_any_finite_counts(
    lung_ant: float, lung_post: float, liver_ant: float, liver_post: float
) -> None:
    # no overflow to inf/nan, whatever the count scale; and LSF_lung + LSF_liver = 1
    result = lsf_from_counts(
        LsfInput(lung_ant=lung_ant, lung_post=lung_post, liver_ant=liver_ant, liver_post=liver_post)
    )
    assert 0.0 <= result.lsf <= 1.0
    g_lung, g_liver = result.lung_geometric_mean, result.liver_geometric_mean
    assert math.isfinite(g_lung) and math.isfinite(g_liver)
    if g_lung + g_liver < 1e300:
        assert result.lsf == pytest.approx(g_lung / (g_lung + g_liver), rel=1e-12)


def test_huge_counts_give_the_same_lsf_as_scaled_ones() -> None:
    # LSF is scale-free: 1e300 x the counts of the 10 % example is still 10 %
    result = lsf_from_counts(
        LsfInput(lung_ant=1e300, lung_post=1e300, liver_ant=9e300, liver_post=9e300)
    )
    assert result.lsf == pytest.approx(0.1)
