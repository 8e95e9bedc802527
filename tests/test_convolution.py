"""DVK convolution: consistency with LDM, energy conservation, point source, linearity.

Analytic limits used: in the interior of a uniform region larger than the beta range the
dose equals the LDM dose C x A / m (charged-particle equilibrium); a point source
reproduces the kernel, D = S x A_cumulated with A_cumulated = A0 x T1/2 / ln 2 (MIRD
Pamphlet 17); the energy deposited in the grid is C x A minus what crosses the border.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from y90dose.constants import (
    ENERGY_EANM_J_PER_GBQ,
    ENERGY_GLASS_J_PER_GBQ,
    ENERGY_RESIN_J_PER_GBQ,
    SOFT_TISSUE_DENSITY_G_ML,
)
from y90dose.errors import GeometryError, InputError
from y90dose.voxel import convolution
from y90dose.voxel.convolution import (
    DvkNormalisation,
    clear_spectrum_cache,
    cumulated_activity_mbq_s,
    dvk_dose,
    fft_convolve_nonnegative,
    fft_convolve_same,
    padded_shape,
)
from y90dose.voxel.kernels import dpk_voxel_kernel, lanconelli_kernel
from y90dose.voxel.ldm import ldm_dose


@pytest.fixture(autouse=True, scope="module")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("kernel-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("Y90DOSE_CACHE_DIR", str(folder))
        yield folder


def _uniform_cube(n: int, inner: int, value: float) -> np.ndarray:
    activity = np.zeros((n, n, n))
    start = (n - inner) // 2
    activity[start : start + inner, start : start + inner, start : start + inner] = value
    return activity


@pytest.mark.parametrize(
    ("spacing", "energy"),
    [
        (4.8, ENERGY_EANM_J_PER_GBQ.value),  # Lanconelli kernel
        (4.42, ENERGY_GLASS_J_PER_GBQ.value),  # DPK kernel
        ((3.0, 4.0, 5.0), ENERGY_RESIN_J_PER_GBQ.value),  # anisotropic DPK kernel
    ],
)
def test_interior_of_uniform_region_equals_ldm(
    spacing: float | tuple[float, ...], energy: float
) -> None:
    activity = _uniform_cube(32, 24, 2e-4)
    dvk = dvk_dose(activity, spacing_zyx_mm=spacing, energy_j_per_gbq=energy)
    ldm = ldm_dose(activity, spacing_zyx_mm=spacing, energy_j_per_gbq=energy)
    centre = (slice(14, 18),) * 3
    assert np.allclose(dvk.dose_gy[centre], ldm.dose_gy[centre], rtol=0.01)
    # with the energy-constant normalisation the agreement is exact up to float32
    assert np.allclose(dvk.dose_gy[centre], ldm.dose_gy[centre], rtol=1e-4)
    # the kernel blurs the border: the region's edge voxel receives less than LDM (part of
    # its energy crosses the face), the voxel just outside receives some
    assert dvk.dose_gy[16, 16, 4] < 0.95 * ldm.dose_gy[16, 16, 4]
    assert 0.0 < dvk.dose_gy[16, 16, 3] < 0.2 * ldm.dose_gy[16, 16, 4]


def test_kernel_normalisation_scales_by_kernel_energy() -> None:
    activity = _uniform_cube(30, 24, 2e-4)
    constant = ENERGY_GLASS_J_PER_GBQ.value
    own = dvk_dose(activity, spacing_zyx_mm=4.8, energy_j_per_gbq=constant, normalisation="kernel")
    ldm = ldm_dose(activity, spacing_zyx_mm=4.8, energy_j_per_gbq=constant)
    kernel = lanconelli_kernel(4.8)
    # kernel energy per GBq: 0.9354 MeV x 1.602e-13 J/MeV x 1e9 x 64.1 h x 3600 / ln 2
    kernel_j_per_gbq = (
        kernel.total_energy_mev_per_decay * 1.602176634e-13 * 1e9 * 64.1 * 3600 / math.log(2)
    )
    assert own.kernel is not None
    assert own.kernel["kernel_energy_j_per_gbq"] == pytest.approx(kernel_j_per_gbq)
    assert own.dose_gy[15, 15, 15] == pytest.approx(
        ldm.dose_gy[15, 15, 15] * kernel_j_per_gbq / constant, rel=1e-4
    )
    # the two conventions differ by less than 1 % (physics.md: 0.930-0.936 vs 0.9367 MeV)
    assert abs(kernel_j_per_gbq / constant - 1) < 0.01


def test_energy_conserved_for_central_source() -> None:
    activity = np.zeros((25, 25, 25))
    activity[12, 12, 12] = 1.5
    result = dvk_dose(activity, spacing_zyx_mm=4.42, energy_j_per_gbq=50.0, density_g_ml=1.2)
    assert result.deposited_energy_j == pytest.approx(75.0, rel=1e-5)
    mass_kg = 1.2 * 4.42**3 / 1e6
    assert float(result.dose_gy.sum(dtype=np.float64)) * mass_kg == pytest.approx(75.0, rel=1e-5)
    assert result.escaped_energy_fraction == pytest.approx(0.0, abs=1e-5)


def test_energy_lost_at_the_edge_equals_kernel_outside_grid() -> None:
    """Source in a corner voxel: only the kernel's non-negative octant stays in the grid."""
    activity = np.zeros((20, 20, 20))
    activity[0, 0, 0] = 1.0
    result = dvk_dose(activity, spacing_zyx_mm=4.42, energy_j_per_gbq=50.0)
    fraction = dpk_voxel_kernel(4.42).energy_fraction()
    n = fraction.shape[0] // 2
    expected = 50.0 * float(fraction[n:, n:, n:].sum())
    assert result.deposited_energy_j == pytest.approx(expected, rel=1e-5)
    assert 0.125 < result.deposited_energy_j / 50.0 < 0.9
    assert result.escaped_energy_fraction == pytest.approx(1 - expected / 50.0, rel=1e-4)


def test_no_wrap_around() -> None:
    activity = np.zeros((16, 16, 16))
    activity[:, :, 0] = 1.0  # a slab at one face
    result = dvk_dose(activity, spacing_zyx_mm=4.8)
    peak = float(result.dose_gy.max())
    # beyond the kernel (5 voxels x 4.8 mm > range) nothing arrives, exactly; a wrap-around
    # would put ~10 % of the peak on the opposite face
    assert np.all(result.dose_gy[:, :, 6:] == 0.0)
    assert np.all(result.dose_gy[:, :, 1] > 0.01 * peak)


def test_point_source_reproduces_kernel() -> None:
    """D = S x A_cumulated at the kernel's own density, kernel normalisation."""
    a0_mbq = 2000.0
    activity = np.zeros((15, 15, 15))
    activity[7, 7, 7] = a0_mbq / 1000.0
    kernel = lanconelli_kernel(6.0)
    result = dvk_dose(
        activity,
        spacing_zyx_mm=6.0,
        density_g_ml=SOFT_TISSUE_DENSITY_G_ML.value,
        normalisation=DvkNormalisation.KERNEL,
    )
    cumulated = a0_mbq * 64.1 * 3600 / math.log(2)  # MBq s
    expected = kernel.s_mgy_per_mbq_s * cumulated / 1000.0  # Gy
    window = result.dose_gy[2:13, 2:13, 2:13]
    assert np.allclose(window, expected, rtol=1e-4, atol=1e-6 * expected.max())
    assert window[5, 5, 5] == pytest.approx(0.342 * cumulated / 1000.0, rel=1e-4)


def test_cumulated_activity() -> None:
    assert cumulated_activity_mbq_s(1.0) == pytest.approx(64.1 * 3600 / math.log(2))
    with pytest.raises(InputError):
        cumulated_activity_mbq_s(1.0, half_life_h=0.0)


def test_density_divides_local_energy() -> None:
    activity = _uniform_cube(30, 26, 1e-4)
    density = np.full(activity.shape, 1.03)
    density[15:, :, :] = 2.06
    result = dvk_dose(activity, spacing_zyx_mm=4.8, density_g_ml=density)
    ldm = ldm_dose(activity, spacing_zyx_mm=4.8, density_g_ml=1.03)
    # far from the density interface and from the border: half the dose where twice the mass
    assert result.dose_gy[8, 15, 15] == pytest.approx(ldm.dose_gy[8, 15, 15], rel=1e-4)
    assert result.dose_gy[22, 15, 15] == pytest.approx(ldm.dose_gy[22, 15, 15] / 2, rel=1e-4)
    assert result.warnings == ()


def test_low_density_is_flagged() -> None:
    activity = _uniform_cube(20, 10, 1e-4)
    density = np.full(activity.shape, 1.03)
    density[:, :, :8] = 0.3  # lung
    result = dvk_dose(activity, spacing_zyx_mm=4.8, density_g_ml=density)
    assert result.low_density_voxels > 0
    assert any("0.5 g/mL" in w and "inaccurate" in w for w in result.warnings)
    uniform_lung = dvk_dose(activity, spacing_zyx_mm=4.8, density_g_ml=0.26)
    assert uniform_lung.low_density_voxels == int(np.count_nonzero(uniform_lung.dose_gy > 0))


def test_bone_kernel_note_is_reported() -> None:
    activity = _uniform_cube(12, 4, 1e-4)
    result = dvk_dose(activity, spacing_zyx_mm=5.0, tissue="bone", density_g_ml=1.85)
    assert any("composition" in w for w in result.warnings)


def test_kernel_spacing_mismatch_is_refused() -> None:
    with pytest.raises(GeometryError):
        dvk_dose(np.ones((5, 5, 5)), spacing_zyx_mm=4.42, kernel=lanconelli_kernel(4.8))


def test_kernel_choice_by_name() -> None:
    activity = _uniform_cube(20, 4, 1e-4)  # 8 voxels from the border: nothing escapes
    forced = dvk_dose(activity, spacing_zyx_mm=4.8, kernel="dpk")
    assert forced.kernel is not None and forced.kernel["source"] == "dpk"
    auto = dvk_dose(activity, spacing_zyx_mm=4.8)
    assert auto.kernel is not None and auto.kernel["source"] == "lanconelli"
    # both deposit C per GBq: the same energy in the grid
    assert forced.deposited_energy_j == pytest.approx(auto.deposited_energy_j, rel=1e-5)
    with pytest.raises(InputError) as info:
        dvk_dose(activity, spacing_zyx_mm=4.42, kernel="lanconelli")
    assert info.value.field == "voxel_size_zyx_mm"
    # the same choice under the keyword kernel_source
    by_keyword = dvk_dose(activity, spacing_zyx_mm=4.8, kernel_source="dpk")
    assert by_keyword.kernel is not None and by_keyword.kernel["source"] == "dpk"
    with pytest.raises(InputError) as info:
        dvk_dose(activity, spacing_zyx_mm=4.8, kernel="lanconelli", kernel_source="dpk")
    assert info.value.field == "kernel_source"


def test_bad_options_refused() -> None:
    with pytest.raises(InputError) as info:
        dvk_dose(np.ones((5, 5, 5)), spacing_zyx_mm=4.8, normalisation="other")
    assert info.value.field == "normalisation"
    with pytest.raises(InputError):
        dvk_dose(-np.ones((5, 5, 5)), spacing_zyx_mm=4.8)


@pytest.mark.parametrize("slab", [10**9, 200, 37])
def test_fft_convolution_equals_direct_convolution(slab: int) -> None:
    rng = np.random.default_rng(3)
    image = rng.random((13, 11, 9)).astype(np.float32)
    kernel = rng.random((5, 7, 3)).astype(np.float32)
    fast = fft_convolve_same(image, kernel, max_slab_voxels=slab)
    direct = scipy.ndimage.convolve(
        image.astype(np.float64), kernel.astype(np.float64), mode="constant", cval=0.0
    )
    assert np.allclose(fast, direct, rtol=1e-5, atol=1e-5)


def test_slabs_give_the_same_dose() -> None:
    rng = np.random.default_rng(5)
    image = rng.random((24, 10, 10)).astype(np.float32)
    kernel = lanconelli_kernel(3.0).energy_fraction().astype(np.float32)
    whole = fft_convolve_same(image, kernel, max_slab_voxels=10**9)
    slabs = fft_convolve_same(image, kernel, max_slab_voxels=11 * 100)
    assert np.allclose(whole, slabs, rtol=1e-5, atol=1e-7)


@given(
    a=arrays(np.float64, (6, 7, 5), elements=st.floats(0.0, 1.0)),
    b=arrays(np.float64, (6, 7, 5), elements=st.floats(0.0, 1.0)),
    alpha=st.floats(0.0, 10.0),
    beta=st.floats(0.0, 10.0),
)
@settings(max_examples=25, deadline=None)
def test_dvk_is_linear_in_activity(a: np.ndarray, b: np.ndarray, alpha: float, beta: float) -> None:
    combined = dvk_dose(alpha * a + beta * b, spacing_zyx_mm=4.8).dose_gy.astype(np.float64)
    separate = alpha * dvk_dose(a, spacing_zyx_mm=4.8).dose_gy.astype(np.float64) + beta * dvk_dose(
        b, spacing_zyx_mm=4.8
    ).dose_gy.astype(np.float64)
    scale = max(1.0, float(np.abs(separate).max()))
    assert np.allclose(combined, separate, rtol=1e-4, atol=1e-5 * scale)


@given(
    core=arrays(np.float64, (4, 3, 5), elements=st.floats(0.0, 1.0)),
    constant=st.floats(40.0, 60.0),
    density=st.floats(0.8, 2.0),
)
@settings(max_examples=25, deadline=None)
def test_dvk_conserves_energy_away_from_the_border(
    core: np.ndarray, constant: float, density: float
) -> None:
    """With a margin wider than the kernel, all of C x A is deposited: sum(D x m) = C x A."""
    activity = np.zeros((16, 15, 17))
    activity[6:10, 6:9, 6:11] = core
    result = dvk_dose(activity, spacing_zyx_mm=4.8, energy_j_per_gbq=constant, density_g_ml=density)
    released = constant * float(core.sum())
    mass_kg = density * 4.8**3 / 1e6
    assert result.deposited_energy_j == pytest.approx(released, rel=1e-5, abs=1e-9)
    assert float(result.dose_gy.sum(dtype=np.float64)) * mass_kg == pytest.approx(
        released, rel=1e-5, abs=1e-9
    )


# --- the fast path (issue 10): whole grid, minimal padding, cached spectrum, exact zeros ---


def _sparse_image(rng: np.random.Generator, shape: tuple[int, int, int]) -> np.ndarray:
    image = rng.random(shape).astype(np.float32)
    image[rng.random(shape) < 0.7] = 0.0
    return image


@pytest.mark.parametrize(
    ("shape", "kernel_shape", "symmetric"),
    [
        ((13, 11, 9), (5, 7, 3), False),  # complex spectrum
        ((13, 11, 9), (5, 7, 3), True),  # real spectrum
        ((3, 4, 5), (9, 9, 9), True),  # kernel larger than the image
        ((20, 1, 70), (3, 1, 5), False),
        ((1, 1, 1), (3, 3, 3), True),
    ],
)
def test_nonnegative_convolution_equals_direct_convolution(
    shape: tuple[int, int, int], kernel_shape: tuple[int, int, int], symmetric: bool
) -> None:
    rng = np.random.default_rng(11)
    image = _sparse_image(rng, shape)
    image.reshape(-1)[0] = 1.0
    kernel = rng.random(kernel_shape)
    if symmetric:
        kernel = kernel + kernel[::-1, ::-1, ::-1]
    fast = fft_convolve_nonnegative(image, kernel, workers=2)
    direct = scipy.ndimage.convolve(image.astype(np.float64), kernel, mode="constant", cval=0.0)
    assert fast.dtype == np.float32
    assert np.allclose(fast, direct, rtol=1e-5, atol=1e-6 * float(direct.max()))
    assert float(fast.min()) >= 0.0


def test_beyond_the_kernels_reach_is_exactly_zero() -> None:
    """The guarantee the support mask gave before issue 10: voxels farther than the kernel's
    half-width (on some axis) from every active voxel are exactly 0; those within reach of
    a voxel of a non-zero kernel with positive weights are > 0."""
    rng = np.random.default_rng(2)
    image = np.zeros((40, 30, 90), dtype=np.float32)
    image[rng.random(image.shape) < 0.002] = 1.0
    kernel = lanconelli_kernel(3.0).energy_fraction()  # 11^3, every weight > 0
    out = fft_convolve_nonnegative(image, kernel)
    reach = scipy.ndimage.maximum_filter(image > 0, size=kernel.shape, mode="constant")
    assert np.all(out[~reach] == 0.0)
    assert np.all(out[reach] > 0.0)


def test_nonnegative_convolution_matches_the_slab_convolution_on_a_dvk_kernel() -> None:
    rng = np.random.default_rng(4)
    image = _sparse_image(rng, (30, 25, 20))
    kernel = dpk_voxel_kernel(4.42).energy_fraction().astype(np.float32)
    slabs = fft_convolve_same(image, kernel, max_slab_voxels=25 * 20 * 10)
    fast = fft_convolve_nonnegative(image, kernel)
    assert np.allclose(fast, np.maximum(slabs, 0.0), rtol=1e-5, atol=1e-6 * float(slabs.max()))


def test_padded_shape_is_the_smallest_without_wrap_around() -> None:
    # N + K // 2 rounded up to a 2-3-5 length: 128 + 7 = 135 = 3^3 x 5; 256 + 7 -> 270
    assert padded_shape((128, 256, 1), (15, 15, 1)) == (135, 270, 1)


def test_spectrum_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_spectrum_cache()
    image = np.ones((8, 8, 8), dtype=np.float32)
    kernel = np.ones((3, 3, 3), dtype=np.float32)
    one_spectrum = 10 * 10 * 6 * 4  # padded (10, 10, 10) -> (10, 10, 6) float32 values
    monkeypatch.setattr(convolution, "SPECTRUM_CACHE_MAX_BYTES", 2 * one_spectrum)
    first = fft_convolve_nonnegative(image, kernel)
    assert len(convolution._spectra) == 1
    for scale in (2.0, 3.0, 4.0):  # other kernels: the oldest spectrum is dropped
        fft_convolve_nonnegative(image, kernel * scale)
    assert len(convolution._spectra) == 2
    assert sum(s.nbytes for s in convolution._spectra.values()) <= 2 * one_spectrum
    again = fft_convolve_nonnegative(image, kernel)  # recomputed: same result
    assert np.array_equal(first, again)
    clear_spectrum_cache()


@pytest.mark.parametrize("workers", [0, True, 1.5])
def test_bad_workers_are_refused(workers: object) -> None:
    with pytest.raises(InputError, match="workers"):
        fft_convolve_nonnegative(np.ones((3, 3, 3)), np.ones((1, 1, 1)), workers=workers)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("image", "kernel", "field"),
    [
        (-np.ones((3, 3, 3)), np.ones((1, 1, 1)), "image"),
        (np.ones((3, 3, 3)), -np.ones((1, 1, 1)), "kernel"),
        (np.full((3, 3, 3), np.nan), np.ones((1, 1, 1)), "image"),
        (np.ones((3, 3, 3)), np.ones((2, 1, 1)), "kernel"),
        (np.ones((3, 3)), np.ones((1, 1, 1)), "image"),
    ],
)
def test_bad_convolution_arguments_are_refused(
    image: np.ndarray, kernel: np.ndarray, field: str
) -> None:
    with pytest.raises(InputError, match=field):
        fft_convolve_nonnegative(image, kernel)


def test_dvk_with_a_float32_density_map_matches_float64() -> None:
    activity = _uniform_cube(12, 4, 1e-3)
    density = np.full(activity.shape, 1.1)
    density[:6] = 0.9
    as64 = dvk_dose(activity, spacing_zyx_mm=4.8, density_g_ml=density)
    as32 = dvk_dose(activity, spacing_zyx_mm=4.8, density_g_ml=density.astype(np.float32))
    assert np.allclose(as32.dose_gy, as64.dose_gy, rtol=1e-6, atol=0.0)
    assert as32.deposited_energy_j == pytest.approx(as64.deposited_energy_j, rel=1e-12)
