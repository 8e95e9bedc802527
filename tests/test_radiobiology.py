"""BED, EQD2 and EUD (physics.md 7)."""

import numpy as np
import pytest

from y90dose.errors import InputError
from y90dose.radiobiology import MAX_ALPHA_PER_GY, bed_gy, eqd2_gy, eud_gy


def test_bed_hand_case() -> None:
    # 100 x (1 + 100 x 2.5 / ((2.5 + 64.1) x 2.5)) = 100 x (1 + 1.501502) = 250.150 Gy
    assert bed_gy(100.0, 2.5, 2.5) == pytest.approx(250.150, abs=1e-3)
    # EQD2 = 250.150 / (1 + 2 / 2.5) = 138.972 Gy
    assert eqd2_gy(100.0, 2.5, 2.5) == pytest.approx(138.972, abs=1e-3)


def test_bed_tends_to_dose_without_repair_time() -> None:
    assert bed_gy(80.0, 10.0, 1e-9) == pytest.approx(80.0)


def test_bed_of_a_map() -> None:
    doses = np.array([0.0, 50.0, 100.0])
    assert bed_gy(doses, 2.5, 2.5) == pytest.approx([bed_gy(d, 2.5, 2.5) for d in doses])


def test_eud_uniform_is_the_dose() -> None:
    assert eud_gy(np.full(1000, 123.0), 0.01) == pytest.approx(123.0)


def test_eud_of_two_values() -> None:
    # -(1/0.1) ln((e^-1 + e^-3) / 2) = 1.5662 Gy, below the 20 Gy mean of 10 and 30 Gy
    assert eud_gy([10.0, 30.0], 0.1) == pytest.approx(
        -10 * np.log((np.exp(-1.0) + np.exp(-3.0)) / 2)
    )


def test_eud_tends_to_minimum_for_high_alpha_and_handles_huge_doses() -> None:
    # alpha 1/Gy: -ln((e^-800 + ~0 + ~0) / 3) = 800 + ln 3 Gy
    assert eud_gy([5000.0, 800.0, 3000.0], MAX_ALPHA_PER_GY) == pytest.approx(800.0 + np.log(3))


@pytest.mark.parametrize("alpha", [0.0, -0.01, 1.5, 1e308, float("nan"), float("inf")])
def test_eud_refuses_an_implausible_alpha(alpha: float) -> None:
    with pytest.raises(InputError, match=r"alpha_per_gy: .* expected a radiosensitivity > 0"):
        eud_gy([10.0, 30.0], alpha)


def test_eud_weights() -> None:
    assert eud_gy([10.0, 30.0], 0.1, weights=[1, 1]) == pytest.approx(eud_gy([10.0, 30.0], 0.1))
    assert eud_gy([10.0, 30.0], 0.1, weights=[1, 0]) == pytest.approx(10.0)


def test_bad_alpha_beta_refused() -> None:
    with pytest.raises(InputError):
        bed_gy(10.0, 0.0, 1.5)
