"""Voxel S values: Graves 2019 DPK integration against Lanconelli 2012 and exact identities.

Published numbers used:
- Graves SA et al., Med Phys 2019;46:5284: Y-90 beta DPK in water, 0.930 MeV per decay.
- Lanconelli N et al., Phys Med Biol 2012;57:517: Y-90 voxel S values (soft tissue 3, 4.8,
  6 mm; bone 4.8 mm); S(0,0,0) = 1.59, 0.573, 0.342 mGy/(MBq s) at 3, 4.8, 6 mm;
  energy total 0.934-0.936 MeV per decay (physics.md section 6).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from y90dose.errors import InputError
from y90dose.voxel import kernels
from y90dose.voxel.kernels import (
    KernelSource,
    Tissue,
    clear_memory_cache,
    dpk_voxel_kernel,
    lanconelli_kernel,
    load_graves_dpk,
    mev_per_decay_to_mgy_per_mbq_s,
    voxel_kernel,
)

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "reference"
FACES = [(1, 0, 0), (0, 1, 0), (0, 0, 1)]


@pytest.fixture(autouse=True, scope="module")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Kernels are cached in a temporary folder, never in the user's home."""
    folder = tmp_path_factory.mktemp("kernel-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("Y90DOSE_CACHE_DIR", str(folder))
        yield folder


def test_graves_point_kernel_total_energy_is_published_value() -> None:
    dpk = load_graves_dpk()
    assert dpk.r_inner_mm.size == 110
    assert dpk.range_mm == pytest.approx(11.0)
    assert dpk.total_energy_mev == pytest.approx(0.930, abs=0.0005)
    assert np.allclose(dpk.r_outer_mm - dpk.r_inner_mm, 0.1)


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/reference not present")
def test_packaged_data_equal_shared_reference() -> None:
    package = Path(kernels.__file__).resolve().parents[1] / "data"
    assert (package / "y90_dpk_graves2019.csv").read_bytes() == (
        SHARED / "y90_dpk_graves2019.csv"
    ).read_bytes()
    for name in ("90Y3mmsoft.txt", "90Y4.8mmsoft.txt", "90Y6mmsoft.txt", "90Y4.8mmbone.txt"):
        assert (package / "lanconelli2012" / name).read_bytes() == (
            SHARED / "lanconelli2012" / name
        ).read_bytes()


def test_unit_conversion_by_hand() -> None:
    # 1 MeV per decay in 1 g: 1.602176634e-13 J x 1e6 /s per MBq / 1e-3 kg = 1.602e-4 Gy/(MBq s)
    assert mev_per_decay_to_mgy_per_mbq_s(1e-3) == pytest.approx(0.1602176634)


@pytest.mark.parametrize(
    ("size", "tissue", "s000"),
    [(3.0, "soft", 1.59), (4.8, "soft", 0.573), (6.0, "soft", 0.342), (4.8, "bone", 0.454)],
)
def test_lanconelli_tables_mirror_and_energy(size: float, tissue: str, s000: float) -> None:
    kernel = lanconelli_kernel(size, tissue)
    full = kernel.s_mgy_per_mbq_s
    assert full.shape == (11, 11, 11)
    assert full[5, 5, 5] == pytest.approx(s000)
    for axis in range(3):
        assert np.array_equal(full, np.flip(full, axis=axis))
    assert kernel.octant().shape == (6, 6, 6)
    assert kernel.octant()[0, 0, 0] == pytest.approx(s000)
    # physics.md: sum of S x voxel mass = 0.934-0.936 MeV per decay (0.933 for bone)
    assert 0.932 <= kernel.total_energy_mev_per_decay <= 0.937
    assert kernel.source is KernelSource.LANCONELLI


@pytest.mark.parametrize(
    ("size", "tissue"), [(3.0, "soft"), (4.8, "soft"), (6.0, "soft"), (4.8, "bone")]
)
def test_dpk_kernel_agrees_with_lanconelli(size: float, tissue: str) -> None:
    """Central voxel and face neighbours within 5 % (physics.md: about 3 %)."""
    dpk = dpk_voxel_kernel(size, tissue).octant()
    reference = lanconelli_kernel(size, tissue).octant()
    assert dpk[0, 0, 0] == pytest.approx(reference[0, 0, 0], rel=0.05)
    for face in FACES:
        assert dpk[face] == pytest.approx(reference[face], rel=0.05)
    if tissue == "soft":  # tighter, as measured: well inside the 5 % requirement
        assert dpk[0, 0, 0] == pytest.approx(reference[0, 0, 0], rel=0.015)
        assert dpk[1, 1, 0] == pytest.approx(reference[1, 1, 0], rel=0.03)


@pytest.mark.parametrize("size", [3.0, 4.42, (2.0, 3.0, 4.5)])
def test_dpk_kernel_energy_total_equals_point_kernel(size: float | tuple[float, ...]) -> None:
    kernel = dpk_voxel_kernel(size)
    assert kernel.total_energy_mev_per_decay == pytest.approx(
        load_graves_dpk().total_energy_mev, rel=1e-9
    )
    assert kernel.total_energy_mev_per_decay == pytest.approx(0.93, abs=0.001)
    assert np.all(kernel.s_mgy_per_mbq_s >= 0)
    assert kernel.energy_fraction().sum() == pytest.approx(1.0)


def test_anisotropic_kernel_symmetry_and_geometry() -> None:
    kernel = dpk_voxel_kernel((2.0, 3.0, 4.5))
    s = kernel.s_mgy_per_mbq_s
    # extent: 11 mm / 1.04 = 10.58 mm -> ceil(10.58 / h) + 1 neighbours per side
    assert s.shape == (2 * 7 + 1, 2 * 5 + 1, 2 * 4 + 1)
    for axis in range(3):
        assert np.allclose(s, np.flip(s, axis=axis), rtol=1e-12)
    nz, ny, nx = kernel.half_size
    centre = s[nz, ny, nx]
    # the face neighbour across the largest face (shortest axis) receives the most
    assert s[nz + 1, ny, nx] > s[nz, ny + 1, nx] > s[nz, ny, nx + 1]
    assert centre == s.max()
    # nothing beyond the point kernel's range: targets whose nearest point is > 10.58 mm +
    # one voxel diagonal away get nothing
    assert s[0, 0, 0] == 0.0


def test_isotropic_request_as_three_values_equals_single_value() -> None:
    a = dpk_voxel_kernel(4.42).s_mgy_per_mbq_s
    b = dpk_voxel_kernel((4.42, 4.42, 4.42)).s_mgy_per_mbq_s
    assert np.array_equal(a, b)


def test_coarse_kernel_is_average_of_fine_kernel() -> None:
    """Exact identity: a 6 mm voxel is 8 voxels of 3 mm. The 6 mm energy in target O is the
    mean over the 8 source sub-voxels of the sum over the 8 target sub-voxels of the 3 mm
    kernel. Checks the integration geometry independently of Lanconelli."""
    fine = dpk_voxel_kernel(3.0).energy_mev_per_decay
    coarse = dpk_voxel_kernel(6.0).energy_mev_per_decay
    n = fine.shape[0] // 2
    offsets = [(a, b, c) for a in (0, 1) for b in (0, 1) for c in (0, 1)]

    def fine_at(i: int, j: int, k: int) -> float:
        index = (i + n, j + n, k + n)
        if min(index) < 0 or max(index) >= fine.shape[0]:
            return 0.0
        return float(fine[index])

    m = coarse.shape[0] // 2
    for target in [(0, 0, 0), (1, 0, 0), (1, 1, 0), (1, 1, 1)]:
        total = 0.0
        for source in offsets:
            for sub in offsets:
                t = [2 * target[d] + sub[d] - source[d] for d in range(3)]
                total += fine_at(*t)
        expected = total / 8.0
        got = float(coarse[m + target[0], m + target[1], m + target[2]])
        assert got == pytest.approx(expected, rel=0.005, abs=1e-6)


def test_kernel_is_deterministic_without_cache() -> None:
    a = dpk_voxel_kernel(5.0, use_cache=False).s_mgy_per_mbq_s
    b = dpk_voxel_kernel(5.0, use_cache=False).s_mgy_per_mbq_s
    assert np.array_equal(a, b)


def test_density_scaling_of_the_kernel() -> None:
    """Distances scale by 1/rho: the bone kernel at h equals the soft kernel at
    h x 1.85 / 1.04 in energy per voxel (same mass thickness)."""
    bone = dpk_voxel_kernel(3.0, "bone").energy_mev_per_decay
    soft = dpk_voxel_kernel(3.0 * 1.85 / 1.04, "soft").energy_mev_per_decay
    c_b = bone.shape[0] // 2
    c_s = soft.shape[0] // 2
    for off in [(0, 0, 0), (1, 0, 0), (1, 1, 0)]:
        assert bone[c_b + off[0], c_b + off[1], c_b + off[2]] == pytest.approx(
            soft[c_s + off[0], c_s + off[1], c_s + off[2]], rel=0.005
        )


def test_disk_cache_written_and_reused(_private_cache: Path) -> None:
    clear_memory_cache()
    first = dpk_voxel_kernel(7.5)
    files = list(_private_cache.glob("y90-dpk-v*-soft-7.5000x7.5000x7.5000mm-*.npy"))
    assert len(files) == 1
    clear_memory_cache()
    again = dpk_voxel_kernel(7.5)
    assert again is not first
    assert np.array_equal(first.s_mgy_per_mbq_s, again.s_mgy_per_mbq_s)
    assert dpk_voxel_kernel(7.5) is again  # memory cache
    # a corrupted file is ignored and rewritten
    files[0].write_bytes(b"not a numpy file")
    clear_memory_cache()
    repaired = dpk_voxel_kernel(7.5)
    assert np.array_equal(first.s_mgy_per_mbq_s, repaired.s_mgy_per_mbq_s)
    assert np.load(files[0]).shape == first.s_mgy_per_mbq_s.shape


def test_kernel_arrays_are_read_only() -> None:
    kernel = dpk_voxel_kernel(4.42)
    with pytest.raises(ValueError):
        kernel.s_mgy_per_mbq_s[0, 0, 0] = 1.0


def test_auto_selection() -> None:
    assert voxel_kernel(4.8).source is KernelSource.LANCONELLI
    assert voxel_kernel(4.805).source is KernelSource.LANCONELLI  # within 0.01 mm
    assert voxel_kernel(3.0, source="auto").voxel_size_zyx_mm == (3.0, 3.0, 3.0)
    assert voxel_kernel(4.82).source is KernelSource.DPK
    assert voxel_kernel((4.8, 4.8, 4.7)).source is KernelSource.DPK  # anisotropic
    assert voxel_kernel(3.0, tissue="bone").source is KernelSource.DPK  # no 3 mm bone table
    assert voxel_kernel(4.8, tissue="bone").source is KernelSource.LANCONELLI
    assert voxel_kernel(4.8, source="dpk").source is KernelSource.DPK
    assert voxel_kernel(4.8, tissue=Tissue.BONE).density_g_ml == 1.85


def test_forced_lanconelli_at_untabulated_size_lists_sizes() -> None:
    with pytest.raises(InputError) as info:
        voxel_kernel(4.42, source="lanconelli")
    message = str(info.value)
    for text in ("3 mm soft", "4.8 mm soft", "6 mm soft", "4.8 mm bone"):
        assert text in message
    with pytest.raises(InputError):
        lanconelli_kernel(6.0, "bone")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"voxel_size_zyx_mm": 0.1}, "voxel_size_zyx_mm"),
        ({"voxel_size_zyx_mm": -3.0}, "voxel_size_zyx_mm"),
        ({"voxel_size_zyx_mm": float("nan")}, "voxel_size_zyx_mm"),
        ({"voxel_size_zyx_mm": (3.0, 3.0)}, "voxel_size_zyx_mm"),
        ({"voxel_size_zyx_mm": 3.0, "tissue": "lung"}, "tissue"),
        ({"voxel_size_zyx_mm": 3.0, "source": "magic"}, "source"),
    ],
)
def test_bad_requests_are_refused(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InputError) as info:
        voxel_kernel(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


@pytest.mark.montecarlo
def test_dpk_integration_matches_independent_monte_carlo() -> None:
    """Brute-force reference: a uniform source point, a radius drawn from the point kernel
    (shell by energy, then uniform in the shell's volume), an isotropic direction; the
    target is the voxel holding the end point. 2e6 seeded histories, anisotropic voxel."""
    size = (2.5, 3.5, 4.5)
    h = np.array(size)
    rng = np.random.default_rng(12345)
    n = 2_000_000
    dpk = load_graves_dpk().scaled_to_density(1.04)
    total = dpk.total_energy_mev
    shell = rng.choice(dpk.energy_mev_per_decay.size, size=n, p=dpk.energy_mev_per_decay / total)
    r3_in, r3_out = dpk.r_inner_mm[shell] ** 3, dpk.r_outer_mm[shell] ** 3
    radius = np.cbrt(r3_in + rng.random(n) * (r3_out - r3_in))
    direction = rng.standard_normal((n, 3))
    direction /= np.linalg.norm(direction, axis=1)[:, None]
    source = (rng.random((n, 3)) - 0.5) * h
    target = np.rint((source + radius[:, None] * direction) / h).astype(int)
    kernel = dpk_voxel_kernel(size).energy_mev_per_decay
    centre = np.array(kernel.shape) // 2
    for offset in [(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 0), (0, 1, 1), (1, 1, 1)]:
        hits = np.all(target == np.array(offset), axis=1).sum()
        reference = hits / n * total
        got = float(kernel[tuple(centre + np.array(offset))])
        sigma = np.sqrt(hits) / n * total
        assert abs(got - reference) < 4 * sigma + 0.002 * reference, (offset, got, reference)
