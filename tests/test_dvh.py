"""Cumulative DVH and VOI dose metrics (y90dose.dvh).

Known answers: a step distribution (fractions of the VOI at known doses) has exact D_x and
V_t under the ICRU 83 definition D_x = minimum dose to the hottest x %; the EUD of a
uniform dose is that dose; BED of 100 Gy for alpha/beta 2.5 Gy, T_rep 2.5 h,
T1/2 64.1 h is 100 x (1 + 100 x 2.5 / (66.6 x 2.5)) = 250.15 Gy (Dale 1985, physics.md 7).
"""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from y90dose.dvh import (
    RadiobiologyParameters,
    bed_map_gy,
    cumulative_dvh,
    dose_at_volume_gy,
    dose_metrics,
    dvhs_to_csv,
    eqd2_map_gy,
    volume_at_dose_percent,
)
from y90dose.errors import GeometryError, InputError


def _step_dose() -> tuple[np.ndarray, np.ndarray]:
    """20 voxels: 5 at 400 Gy, 5 at 200 Gy, 10 at 100 Gy; plus 4 voxels outside the VOI."""
    dose = np.zeros((1, 4, 6))
    values = [400.0] * 5 + [200.0] * 5 + [100.0] * 10
    dose.reshape(-1)[:20] = values
    dose.reshape(-1)[20:] = 1000.0  # outside the VOI
    mask = np.zeros_like(dose, dtype=bool)
    mask.reshape(-1)[:20] = True
    return dose, mask


def test_step_distribution_metrics_are_exact() -> None:
    dose, mask = _step_dose()
    m = dose_metrics(dose, mask, spacing_zyx_mm=10.0, voi_name="tumour")
    assert m.n_voxels == 20
    assert m.volume_ml == pytest.approx(20.0)
    assert m.mass_g == pytest.approx(20.0 * 1.03)
    assert m.mean_gy == pytest.approx((5 * 400 + 5 * 200 + 10 * 100) / 20)
    assert (m.min_gy, m.max_gy) == (100.0, 400.0)
    # hottest 25 % is at 400, the next 25 % at 200, the coldest 50 % at 100
    assert m.d_gy == {
        "D2": 400.0,
        "D50": 200.0,
        "D70": 100.0,
        "D90": 100.0,
        "D95": 100.0,
        "D98": 100.0,
    }
    assert m.median_gy == 200.0
    assert m.v_percent == {
        "V100": 100.0,
        "V120": 50.0,
        "V150": 50.0,
        "V200": 50.0,
        "V205": 25.0,
        "V400": 25.0,
    }
    assert dose_at_volume_gy(dose, mask, 25.0) == 400.0  # boundary: exactly 25 % at 400
    assert dose_at_volume_gy(dose, mask, 25.1) == 200.0
    assert dose_at_volume_gy(dose, mask, 100.0) == 100.0
    assert volume_at_dose_percent(dose, mask, 400.0) == 25.0
    assert volume_at_dose_percent(dose, mask, 400.01) == 0.0
    assert volume_at_dose_percent(dose, mask, 0.0) == 100.0


def test_mass_weighting() -> None:
    dose = np.array([[[100.0, 50.0]]])
    mask = np.ones_like(dose, dtype=bool)
    density = np.array([[[1.0, 3.0]]])
    by_volume = dose_metrics(dose, mask, spacing_zyx_mm=10.0, density_g_ml=density)
    by_mass = dose_metrics(dose, mask, spacing_zyx_mm=10.0, density_g_ml=density, weighting="mass")
    assert by_volume.mean_gy == pytest.approx(75.0)
    assert by_mass.mean_gy == pytest.approx((100 * 1 + 50 * 3) / 4)
    assert by_volume.v_percent["V100"] == 50.0
    assert by_mass.v_percent["V100"] == 25.0
    assert by_mass.d_gy["D50"] == 50.0  # the hottest 25 % is at 100: D50 lies in the 50 Gy part
    assert by_volume.d_gy["D50"] == 100.0
    assert by_mass.mass_g == pytest.approx(4.0)


def test_cumulative_dvh_exact_points_and_export() -> None:
    dose, mask = _step_dose()
    dvh = cumulative_dvh(dose, mask, spacing_zyx_mm=10.0, bin_width_gy=100.0, voi_name="tumour")
    assert dvh.dose_gy.tolist() == [0.0, 100.0, 200.0, 300.0, 400.0, 500.0]
    assert dvh.volume_percent.tolist() == [100.0, 100.0, 50.0, 25.0, 25.0, 0.0]
    rows = list(csv.DictReader(io.StringIO(dvh.to_csv())))
    assert rows[2] == {
        "voi": "tumour",
        "weighting": "volume",
        "dose_gy": "200",
        "volume_percent": "50",
    }
    exported = json.loads(json.dumps(dvh.to_dict()))
    assert exported["volume_percent"] == dvh.volume_percent.tolist()
    assert exported["volume_ml"] == pytest.approx(20.0)
    both = dvhs_to_csv([dvh, dvh])
    assert both.count("\n") == 1 + 2 * 6


def test_eud_of_uniform_dose_is_the_dose() -> None:
    dose = np.full((3, 3, 3), 137.0)
    mask = np.ones_like(dose, dtype=bool)
    for alpha in (0.001, 0.01, 0.5):
        params = RadiobiologyParameters.tumor(alpha_per_gy=alpha)
        m = dose_metrics(dose, mask, spacing_zyx_mm=4.0, radiobiology=params)
        assert m.eud_gy == pytest.approx(137.0, rel=1e-12)


def test_bed_and_eqd2_published_example() -> None:
    dose = np.full((2, 2, 2), 100.0)
    mask = np.ones_like(dose, dtype=bool)
    params = RadiobiologyParameters.normal_liver()
    m = dose_metrics(dose, mask, spacing_zyx_mm=4.0, radiobiology=params)
    bed = 100.0 * (1 + 100.0 * 2.5 / ((2.5 + 64.1) * 2.5))
    assert m.bed_of_mean_gy == pytest.approx(bed)
    assert m.bed_of_mean_gy == pytest.approx(250.15, abs=0.01)
    assert m.eqd2_of_mean_gy == pytest.approx(bed / (1 + 2 / 2.5))
    assert m.mean_bed_gy == pytest.approx(bed)
    assert m.eud_gy is None  # no alpha given
    assert np.allclose(bed_map_gy(dose, params), bed)
    assert np.allclose(eqd2_map_gy(dose, params), bed / 1.8)
    assert json.loads(json.dumps(m.to_dict()))["radiobiology"]["alpha_beta_gy"] == 2.5


def test_nonuniform_dose_radiobiology_orderings() -> None:
    dose, mask = _step_dose()
    params = RadiobiologyParameters.tumor(alpha_per_gy=0.01)
    m = dose_metrics(dose, mask, spacing_zyx_mm=4.0, radiobiology=params)
    assert m.mean_bed_gy is not None and m.bed_of_mean_gy is not None
    assert m.mean_bed_gy > m.bed_of_mean_gy  # BED is convex in dose
    assert m.eud_gy is not None
    assert m.min_gy < m.eud_gy < m.mean_gy  # cold voxels dominate the EUD


def test_metrics_without_radiobiology_are_none() -> None:
    dose, mask = _step_dose()
    m = dose_metrics(dose, mask, spacing_zyx_mm=4.0)
    assert m.bed_of_mean_gy is None and m.eud_gy is None and m.radiobiology is None


def test_custom_dx_and_thresholds() -> None:
    dose, mask = _step_dose()
    m = dose_metrics(
        dose, mask, spacing_zyx_mm=4.0, dx_percent=(10, 37.5), v_thresholds_gy=(250.5,)
    )
    assert m.d_gy == {"D10": 400.0, "D37.5": 200.0}
    assert m.v_percent == {"V250.5": 25.0}


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda d, m: dose_metrics(d, np.zeros_like(m), spacing_zyx_mm=4.0), InputError),
        (lambda d, m: dose_metrics(-d, m, spacing_zyx_mm=4.0), InputError),
        (lambda d, m: dose_metrics(d, m[:, :2], spacing_zyx_mm=4.0), GeometryError),
        (lambda d, m: dose_metrics(d, m, spacing_zyx_mm=4.0, weighting="bogus"), InputError),
        (lambda d, m: dose_metrics(d, m, spacing_zyx_mm=4.0, dx_percent=(0,)), InputError),
        (lambda d, m: dose_metrics(d, m, spacing_zyx_mm=4.0, dx_percent=(101,)), InputError),
        (lambda d, m: cumulative_dvh(d, m, spacing_zyx_mm=4.0, bin_width_gy=0), InputError),
        (lambda d, m: cumulative_dvh(d, m, spacing_zyx_mm=4.0, bin_width_gy=1e-6), InputError),
    ],
)
def test_refusals(call: object, error: type[Exception]) -> None:
    dose, mask = _step_dose()
    with pytest.raises(error):
        call(dose, mask)  # type: ignore[operator]


@given(
    dose=arrays(np.float64, (3, 4, 5), elements=st.floats(0.0, 500.0)),
    x=st.floats(0.5, 99.5),
)
@settings(max_examples=60, deadline=None)
def test_dvh_properties(dose: np.ndarray, x: float) -> None:
    mask = np.ones_like(dose, dtype=bool)
    dvh = cumulative_dvh(dose, mask, spacing_zyx_mm=2.0, bin_width_gy=5.0)
    assert dvh.volume_percent[0] == 100.0
    assert dvh.volume_percent[-1] == 0.0
    assert np.all(np.diff(dvh.volume_percent) <= 1e-12)  # non-increasing
    d_x = dose_at_volume_gy(dose, mask, x)
    # D_x is the largest dose d with V(d) >= x
    assert volume_at_dose_percent(dose, mask, d_x) >= x - 1e-9
    above = dose[dose > d_x]
    if above.size:
        assert volume_at_dose_percent(dose, mask, float(above.min())) < x
    assert dose_at_volume_gy(dose, mask, min(100.0, x + 0.4)) <= d_x


def test_mean_absorbed_dose_is_energy_over_mass() -> None:
    # two 1 mL voxels: 10 Gy in 1.0 g/mL tissue, 40 Gy in 0.25 g/mL lung
    # energy = 10 Gy x 1 g + 40 Gy x 0.25 g = 20 mJ; mass 1.25 g -> 16 Gy; voxel mean 25 Gy
    dose = np.array([10.0, 40.0]).reshape(1, 1, 2)
    density = np.array([1.0, 0.25]).reshape(1, 1, 2)
    inside = np.ones_like(dose, dtype=bool)
    for weighting in ("volume", "mass"):
        m = dose_metrics(
            dose, inside, spacing_zyx_mm=10.0, density_g_ml=density, weighting=weighting
        )
        assert m.mean_absorbed_gy == pytest.approx(16.0)
        assert m.energy_j == pytest.approx(0.020)
    by_volume = dose_metrics(dose, inside, spacing_zyx_mm=10.0, density_g_ml=density)
    assert by_volume.mean_gy == pytest.approx(25.0)


def test_mean_absorbed_equals_voxel_mean_for_uniform_density() -> None:
    rng = np.random.default_rng(7)
    dose = rng.uniform(0.0, 300.0, size=(6, 7, 8))
    m = dose_metrics(dose, dose > 50.0, spacing_zyx_mm=(4.0, 4.0, 5.0), density_g_ml=1.03)
    assert m.mean_absorbed_gy == pytest.approx(m.mean_gy, rel=1e-12)
    # energy = mean dose x mass
    assert m.energy_j == pytest.approx(m.mean_gy * m.mass_g / 1000.0, rel=1e-12)


# --- one extraction and one sort per VOI (issue 10): same numbers as the first release ---


@pytest.mark.parametrize("seed", range(12))
def test_metrics_and_dvh_equal_the_first_release_on_random_data(seed: int) -> None:
    """The frozen first-release algorithm (tests/dvh_reference.py) is the oracle: D_x,
    min, max and V_t identical, sums (mean, energy, DVH) to 1e-12 relative. Doses are
    float32 (as the pipeline's) or float64, quantised so that ties and thresholds falling
    exactly on doses occur; densities one number or a map; both weightings."""
    from dvh_reference import reference_dvh, reference_metrics, reference_voi

    from y90dose.dvh import VoiDoses

    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(4, 20)), int(rng.integers(4, 20)), int(rng.integers(4, 20)))
    dtype = np.float32 if seed % 2 == 0 else np.float64
    dose = (np.round(rng.gamma(2.0, 60.0, shape) * 4) / 4).astype(dtype)  # 0.25 Gy steps
    mask = rng.random(shape) < float(rng.choice([0.02, 0.3, 1.0]))
    mask.reshape(-1)[0] = True
    density: float | np.ndarray = 1.03
    if seed % 3 == 0:
        density = rng.uniform(0.3, 1.9, shape).astype(dtype)
    weighting = "mass" if seed % 4 >= 2 else "volume"
    spacing = (2.5, 4.0, 4.0)
    thresholds = [100.0, 120.0, 150.0, float(dose[mask][0]), 100.00000001, 1e40, -1.0]
    dx = [0.5, 2.0, 33.3, 50.0, 70.0, 90.0, 100.0]

    voi = VoiDoses.from_mask(
        dose, mask, spacing_zyx_mm=spacing, density_g_ml=density, weighting=weighting
    )
    new = voi.metrics(dx_percent=dx, v_thresholds_gy=thresholds)
    old = reference_metrics(reference_voi(dose, mask, spacing, density, weighting), dx, thresholds)
    assert new.d_gy == old["d_gy"]
    assert (new.min_gy, new.max_gy, new.median_gy) == (
        old["min_gy"],
        old["max_gy"],
        old["median_gy"],
    )
    assert new.v_percent == pytest.approx(old["v_percent"], rel=1e-12, abs=1e-12)
    for name in ("mean_gy", "energy_j", "mean_absorbed_gy", "volume_ml", "mass_g"):
        assert getattr(new, name) == pytest.approx(old[name], rel=1e-12), name
    for width in (0.25, 1.0, 7.3):
        points, volume = reference_dvh(
            reference_voi(dose, mask, spacing, density, weighting), width
        )
        dvh = voi.dvh(bin_width_gy=width)
        assert np.array_equal(dvh.dose_gy, points)
        assert np.allclose(dvh.volume_percent, volume, rtol=1e-12, atol=1e-10)


def test_float32_doses_compare_with_thresholds_in_float64() -> None:
    """V_t counts a float32 dose of 100 Gy below a 100.00000001 Gy threshold (float32 would
    round the threshold to 100 and count it)."""
    dose = np.full((1, 1, 4), 100.0, dtype=np.float32)
    mask = np.ones_like(dose, dtype=bool)
    assert volume_at_dose_percent(dose, mask, 100.00000001) == 0.0
    assert volume_at_dose_percent(dose, mask, 100.0) == 100.0
    dvh = cumulative_dvh(dose, mask, spacing_zyx_mm=1.0, bin_width_gy=100.00000001)
    assert dvh.volume_percent.tolist() == [100.0, 0.0]
