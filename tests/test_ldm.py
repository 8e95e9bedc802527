"""Local deposition: D = C x A / m (physics.md section 6).

Published check: 1 MBq/mL in liver (1.03 g/mL) with C = 49.67 J/GBq (EANM 2022) gives
48.2 Gy.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from y90dose.constants import ENERGY_EANM_J_PER_GBQ, ENERGY_GLASS_J_PER_GBQ
from y90dose.errors import GeometryError, InputError
from y90dose.voxel.ldm import ldm_dose


def test_published_one_mbq_per_ml_in_liver() -> None:
    # 4 mm voxels: 0.064 mL -> 0.064 MBq per voxel
    activity = np.full((3, 3, 3), 0.064e-3)
    result = ldm_dose(activity, spacing_zyx_mm=4.0)
    assert result.energy_j_per_gbq == ENERGY_EANM_J_PER_GBQ.value
    assert np.allclose(result.dose_gy, 48.2, atol=0.05)
    assert result.dose_gy[0, 0, 0] == pytest.approx(49.67 * 1e-3 / 1.03e-3)


def test_uniform_region_equals_c_a_over_m() -> None:
    # 1 GBq spread over 1000 voxels of 1 mL at 1.05 g/mL: 1.05 kg -> 50 / 1.05 Gy (glass C)
    activity = np.zeros((12, 12, 12))
    activity[1:11, 1:11, 1:11] = 1e-3
    result = ldm_dose(
        activity,
        spacing_zyx_mm=10.0,
        density_g_ml=1.05,
        energy_j_per_gbq=ENERGY_GLASS_J_PER_GBQ.value,
    )
    assert result.dose_gy[5, 5, 5] == pytest.approx(50.0 / 1.05)
    assert result.dose_gy[0, 0, 0] == 0.0
    assert result.administered_in_image_gbq == pytest.approx(1.0)
    assert result.deposited_energy_j == pytest.approx(50.0)
    assert result.escaped_energy_fraction == pytest.approx(0.0)
    assert result.kernel is None


def test_density_map_and_anisotropic_spacing() -> None:
    activity = np.full((1, 1, 2), 2e-3)
    density = np.array([[[1.0, 0.25]]])
    # voxel 2 x 4 x 5 mm = 0.04 mL
    result = ldm_dose(activity, spacing_zyx_mm=(2.0, 4.0, 5.0), density_g_ml=density)
    mass_kg = np.array([1.0, 0.25]) * 0.04 / 1000.0
    assert result.dose_gy[0, 0] == pytest.approx(49.67 * 2e-3 / mass_kg)
    # energy conservation: sum of dose x mass = C x A
    assert float((result.dose_gy[0, 0] * mass_kg).sum()) == pytest.approx(49.67 * 4e-3)


@given(
    scale=st.floats(min_value=1e-6, max_value=1e3),
    density=st.floats(min_value=0.1, max_value=3.0),
)
@settings(max_examples=50, deadline=None)
def test_ldm_linear_in_activity_and_inverse_in_density(scale: float, density: float) -> None:
    rng = np.random.default_rng(1)
    activity = rng.random((4, 5, 6))
    base = ldm_dose(activity, spacing_zyx_mm=3.0, density_g_ml=1.0).dose_gy
    scaled = ldm_dose(activity * scale, spacing_zyx_mm=3.0, density_g_ml=density).dose_gy
    assert np.allclose(scaled, base * scale / density, rtol=1e-12, atol=0)


@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        ({"activity_gbq": -np.ones((2, 2, 2))}, InputError, "activity_gbq"),
        ({"activity_gbq": np.full((2, 2, 2), np.nan)}, InputError, "activity_gbq"),
        ({"activity_gbq": np.ones((2, 2))}, InputError, "activity_gbq"),
        ({"density_g_ml": 0.0}, InputError, "density_g_ml"),
        ({"density_g_ml": np.zeros((2, 2, 2))}, InputError, "density_g_ml"),
        ({"density_g_ml": np.ones((3, 2, 2))}, GeometryError, None),
        ({"energy_j_per_gbq": 0.0}, InputError, "energy_j_per_gbq"),
        ({"spacing_zyx_mm": 0.0}, InputError, "spacing_zyx_mm"),
        ({"spacing_zyx_mm": (1.0, 2.0)}, InputError, "spacing_zyx_mm"),
    ],
)
def test_bad_input_refused(
    kwargs: dict[str, object], error: type[Exception], field: str | None
) -> None:
    arguments: dict[str, object] = {"activity_gbq": np.ones((2, 2, 2)), "spacing_zyx_mm": 4.0}
    arguments.update(kwargs)
    activity = arguments.pop("activity_gbq")
    with pytest.raises(error) as info:
        ldm_dose(activity, **arguments)  # type: ignore[arg-type]
    if field is not None:
        assert info.value.field == field  # type: ignore[attr-defined]
