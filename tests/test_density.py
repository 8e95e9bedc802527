"""HU -> density calibration (Schneider et al. 1996 form).

Anchor values: air -1000 HU -> 0.0012 g/mL (ICRU dry air 0.0012 g/cm3); water 0 HU ->
1.000 g/mL (definition of the Hounsfield scale); interpolation is linear between points.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from y90dose.errors import InputError
from y90dose.voxel.density import DEFAULT_HU_DENSITY_CURVE, HuDensityCurve, hu_to_density

SHARED_CT = (
    Path(__file__).resolve().parents[1]
    / ".."
    / "shared"
    / "datasets"
    / "sts-petct"
    / "STS_001"
    / "CT"
    / "nifti"
)


def test_anchor_points_of_default_curve() -> None:
    result = hu_to_density([-1000.0, 0.0, 100.0, -500.0, 50.0])
    assert result.density_g_ml.dtype == np.float32
    expected = [0.00121, 1.0, 1.1, (0.00121 + 1.0) / 2, 1.05]
    assert np.allclose(result.density_g_ml, expected, rtol=1e-6)
    assert result.below_range_voxels == result.above_range_voxels == 0
    assert result.warnings == ()


def test_bone_slope_of_default_curve() -> None:
    # 0.6 g/mL per 1000 HU above 100 HU: 1600 HU -> 1.1 + 0.9 = 2.0
    assert float(hu_to_density([1600.0]).density_g_ml[0]) == pytest.approx(2.0, rel=1e-6)


def test_out_of_range_is_counted_or_refused() -> None:
    hu = np.array([-3024.0, -2048.0, 0.0, 4000.0])
    result = hu_to_density(hu)
    assert result.below_range_voxels == 2
    assert result.above_range_voxels == 1
    assert result.density_g_ml[0] == pytest.approx(0.00121)
    assert result.density_g_ml[3] == pytest.approx(DEFAULT_HU_DENSITY_CURVE.points[-1][1])
    assert result.warnings and "2 voxel(s) below" in result.warnings[0]
    with pytest.raises(InputError) as info:
        hu_to_density(hu, out_of_range="error")
    assert info.value.field == "hu"
    with pytest.raises(InputError):
        hu_to_density(hu, out_of_range="ignore")


def test_user_curve_from_points_and_csv(tmp_path: Path) -> None:
    curve = HuDensityCurve.from_points([(-1000, 0.001), (0, 1.0), (1000, 1.5)], source="scanner A")
    assert float(hu_to_density([500.0], curve).density_g_ml[0]) == pytest.approx(1.25)
    file = tmp_path / "curve.csv"
    file.write_text("# scanner B\nhu,density_g_ml\n-1000,0.001\n0,1.0\n2000,2.0\n")
    from_file = HuDensityCurve.from_csv(file)
    assert from_file.points == ((-1000.0, 0.001), (0.0, 1.0), (2000.0, 2.0))
    assert float(hu_to_density([1000.0], from_file).density_g_ml[0]) == pytest.approx(1.5)
    bad = tmp_path / "bad.csv"
    bad.write_text("hu,density\n0,1.0\nabc,2\n")
    with pytest.raises(InputError):
        HuDensityCurve.from_csv(bad)
    with pytest.raises(InputError):
        HuDensityCurve.from_csv(tmp_path / "missing.csv")


@pytest.mark.parametrize(
    "points",
    [
        [(0, 1.0)],  # one point
        [(0, 1.0), (0, 1.1)],  # HU not increasing
        [(100, 1.0), (0, 1.1)],  # HU decreasing
        [(0, 1.0), (100, 0.9)],  # density decreasing
        [(-1000, 0.0), (0, 1.0)],  # density not > 0
        [(-1000, float("nan")), (0, 1.0)],
        [(0, 1.0, 2.0), (100, 1.1, 2.0)],  # not pairs
    ],
)
def test_invalid_curves_are_refused(points: list[tuple[float, ...]]) -> None:
    with pytest.raises(InputError) as info:
        HuDensityCurve.from_points(points)
    assert info.value.field == "hu_density_curve"


def test_non_finite_hu_refused() -> None:
    with pytest.raises(InputError):
        hu_to_density([0.0, float("nan")])


@given(st.lists(st.floats(-1100.0, 3200.0), min_size=2, max_size=50))
@settings(max_examples=100, deadline=None)
def test_density_is_monotonic_in_hu(values: list[float]) -> None:
    hu = np.sort(np.array(values))
    density = hu_to_density(hu).density_g_ml
    assert np.all(np.diff(density) >= 0)
    assert np.all(density > 0)


@pytest.mark.skipif(not SHARED_CT.exists(), reason="../shared/datasets not present")
def test_real_ct_gives_plausible_densities() -> None:
    """TCIA soft-tissue sarcoma CT (thigh): air around the limb, muscle/fat inside."""
    sitk = pytest.importorskip("SimpleITK")
    file = SHARED_CT / "image" / "image.nii.gz"
    if not file.exists():
        pytest.skip("no CT NIfTI image in the dataset folder")
    hu = sitk.GetArrayFromImage(sitk.ReadImage(str(file))).astype(np.float64)
    result = hu_to_density(hu)
    density = result.density_g_ml
    assert density.shape == hu.shape
    # a CT of a limb: the air corners are near 0, the median voxel is soft tissue or air
    assert float(density.min()) < 0.05
    soft = density[(hu > -100) & (hu < 100)]
    assert soft.size > 0
    assert 0.9 < float(np.median(soft)) < 1.1
