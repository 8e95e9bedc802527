"""Y-90 voxel S values (dose-voxel kernels) for any voxel size.

Two sources:

``dpk``
    The Graves et al. 2019 dose point kernel of Y-90 in water (energy per decay deposited
    in 0.1 mm spherical shells out to 11 mm, 0.930 MeV in total) integrated over a
    uniformly filled source voxel and every target voxel. Works for any voxel size,
    anisotropic voxels included.
``lanconelli``
    The DOSXYZnrc Monte Carlo voxel S values of Lanconelli et al. 2012, tabulated for
    cubic voxels of 3, 4.8 and 6 mm in soft tissue and 4.8 mm in bone.

Method of the ``dpk`` integration
---------------------------------
For a source point uniformly distributed in the source voxel (box of sides h) and a
target voxel whose centre is displaced by o from the source centre, the energy the target
receives per decay is

    E(o) = integral of e(|d|) T(d - o) d^3d,   T(u) = prod_i max(0, 1 - |u_i| / h_i),

with e(r) the point kernel's energy per unit volume and T the overlap of two boxes (the
"triangle" density of the displacement between two uniform points, exact). Writing the
integral in spherical coordinates removes the 1/r^2 singularity of e(r):

    E(o) = integral_0^R dE/dr(r) < T(r w - o) >_w dr,

where dE/dr is the tabulated shell energy per unit radius and < >_w the mean over
directions. T(p - o) over the lattice of target centres o is exactly the trilinear
("cloud in cell") weight of the point p, so every sample (r, w) deposits its energy on the
8 target voxels around r w with trilinear weights. The radial integral uses 3
Gauss-Legendre points per 0.1 mm shell, with the shell energy spread uniformly over the
shell volume (weight proportional to r^2); the directional mean uses a spherical Fibonacci
lattice, rotated by a seeded random rotation at each radius, with enough points that
neighbouring points on the sphere are at most h_min / 5 apart; the result is averaged over
the 8 axis reflections and over the interchanges of axes of equal spacing (symmetries of
the exact kernel). Fully deterministic. The energy total of the kernel equals the point
kernel's total (0.930 MeV per decay) to rounding, because trilinear weights sum to one.

Density scaling. A point kernel in a homogeneous medium of density rho is the water kernel
with distances divided by rho (the same mass thickness, Cross et al. 1992; the scaling used
in MIRD Pamphlet 17 and by Lanconelli 2012 for the soft-tissue/bone comparison): a shell
[r1, r2] in water receives the same energy as the shell [r1/rho, r2/rho] in the medium.
The S value is the target's energy per decay divided by its mass, voxel volume x rho:

    S [mGy/(MBq s)] = E [MeV] x 1.602e-13 [J/MeV] x 1e6 [decays/(MBq s)] / m [kg] x 1e3.

Soft tissue uses rho = 1.04 g/cm3 (ICRU 44, Lanconelli's medium); bone rho = 1.85 g/cm3
(ICRU compact bone). For bone the density-scaled water kernel ignores the composition
(effective Z) difference; against Lanconelli's bone table at 4.8 mm it agrees within about
2 % for the central voxel and its face neighbours.

Accuracy. Against Lanconelli 2012 at 3, 4.8 and 6 mm soft tissue the central voxel and its
face neighbours agree within 1 %, the edge/corner neighbours within 2 % (physics.md quotes
about 3 %); far tails (<1e-3 of S000) differ more, partly because the Graves kernel stops
at 11 mm and omits bremsstrahlung, which Lanconelli's Monte Carlo includes.

Caching. A generated kernel is kept in memory and on disk (``$Y90DOSE_CACHE_DIR`` or
``~/.cache/y90dose``) under a name that carries the voxel size (rounded to 0.1 um), the
tissue, the method version and a hash of the point-kernel data file. A cache that cannot
be written is skipped (the kernel is recomputed next time), never an error.

References
----------
Graves SA, Flynn RT, Hyer DE. Dose point kernels for 2,174 radionuclides. Med Phys
2019;46(11):5284-5293.
Lanconelli N, Pacilio M, Lo Meo S, et al. A free database of radionuclide voxel S values
for the dosimetry of nonuniform activity distributions. Phys Med Biol 2012;57:517-533.
Bolch WE, et al. MIRD Pamphlet No. 17: the dosimetry of nonuniform activity distributions
-- radionuclide S values at the voxel level. J Nucl Med 1999;40:11S-36S.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
import re
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from y90dose.constants import BONE_DENSITY_G_ML, J_PER_MEV, SOFT_TISSUE_DENSITY_G_ML
from y90dose.errors import InputError
from y90dose.voxel._checks import check_spacing_zyx_mm
from y90dose.voxel.methods import KernelSource

__all__ = [
    "LANCONELLI_TABLES",
    "DosePointKernel",
    "KernelSource",
    "Tissue",
    "VoxelKernel",
    "cache_dir",
    "clear_memory_cache",
    "dpk_voxel_kernel",
    "lanconelli_kernel",
    "load_graves_dpk",
    "mev_per_decay_to_mgy_per_mbq_s",
    "voxel_kernel",
]

METHOD_VERSION = 2
"""Bump when the ``dpk`` integration changes: old cache files are then ignored."""

MIN_VOXEL_MM = 0.5
"""Smallest voxel accepted: below it the kernel grows past 45^3 voxels and the point
kernel's 0.1 mm shells are no longer fine compared with the voxel."""
MAX_VOXEL_MM = 100.0
"""Largest voxel accepted (a kernel then is the central voxel and its neighbours)."""

LANCONELLI_MATCH_TOLERANCE_MM = 0.01
"""``auto`` uses a Lanconelli table when every spacing is within 0.01 mm of its size."""

_RADIAL_POINTS_PER_SHELL = 3
_POINTS_PER_MIN_VOXEL = 5.0
_MIN_DIRECTIONS = 64
_SEED = 20190918  # fixed: the kernel is deterministic
_DATA = "y90dose.data"
_DPK_FILE = "y90_dpk_graves2019.csv"


class Tissue(StrEnum):
    """Medium of the kernel: ICRU soft tissue (1.04 g/mL) or compact bone (1.85 g/mL)."""

    SOFT = "soft"
    BONE = "bone"

    @property
    def density_g_ml(self) -> float:
        """Density of the medium, g/mL (``y90dose.constants``)."""
        if self is Tissue.SOFT:
            return SOFT_TISSUE_DENSITY_G_ML.value
        return BONE_DENSITY_G_ML.value


LANCONELLI_TABLES: dict[tuple[float, Tissue], str] = {
    (3.0, Tissue.SOFT): "90Y3mmsoft.txt",
    (4.8, Tissue.SOFT): "90Y4.8mmsoft.txt",
    (6.0, Tissue.SOFT): "90Y6mmsoft.txt",
    (4.8, Tissue.BONE): "90Y4.8mmbone.txt",
}
"""Tabulated Lanconelli 2012 Y-90 kernels: (cubic voxel size in mm, tissue) -> file."""


def mev_per_decay_to_mgy_per_mbq_s(mass_kg: float) -> float:
    """Factor turning MeV deposited per decay in a mass ``mass_kg`` into mGy/(MBq s).

    1 MBq s = 1e6 decays; 1 MeV = 1.602176634e-13 J (CODATA 2018); 1 Gy = 1 J/kg.
    """
    return J_PER_MEV.value * 1e6 / mass_kg * 1e3


@dataclass(frozen=True)
class DosePointKernel:
    """A radial dose point kernel: energy per decay deposited in spherical shells.

    Attributes
    ----------
    r_inner_mm, r_outer_mm
        Shell radii in mm, in the medium the kernel was computed for (water for Graves).
    energy_mev_per_decay
        Energy per decay deposited in each shell, MeV.
    reference
        Where the numbers come from.
    """

    r_inner_mm: NDArray[np.float64]
    r_outer_mm: NDArray[np.float64]
    energy_mev_per_decay: NDArray[np.float64]
    reference: str

    @property
    def total_energy_mev(self) -> float:
        """Energy deposited per decay out to the last shell, MeV (0.930 for Graves Y-90)."""
        return float(self.energy_mev_per_decay.sum())

    @property
    def range_mm(self) -> float:
        """Outer radius of the last shell, mm."""
        return float(self.r_outer_mm.max())

    def scaled_to_density(self, density_g_ml: float) -> DosePointKernel:
        """The same kernel in a medium of ``density_g_ml``: distances divided by the density.

        Valid for a water kernel and a water-like medium (same mass thickness).
        """
        return DosePointKernel(
            self.r_inner_mm / density_g_ml,
            self.r_outer_mm / density_g_ml,
            self.energy_mev_per_decay,
            f"{self.reference}; distances scaled by 1/{density_g_ml:g}",
        )


def _data_bytes(*parts: str) -> bytes:
    node = resources.files(_DATA)
    for part in parts:
        node = node.joinpath(part)
    return node.read_bytes()


def load_graves_dpk() -> DosePointKernel:
    """The Graves 2019 Y-90 beta dose point kernel in water (``y90dose/data``).

    Returns
    -------
    DosePointKernel
        110 shells of 0.1 mm out to 11 mm, 0.930 MeV per decay in total.

    Examples
    --------
    >>> round(load_graves_dpk().total_energy_mev, 3)
    0.93
    """
    text = _data_bytes(_DPK_FILE).decode("utf-8")
    rows = [
        line.split(",")
        for line in text.splitlines()
        if line and not line.startswith("#") and line[0].isdigit()
    ]
    table = np.array(rows, dtype=float)
    return DosePointKernel(
        table[:, 0].copy(),
        table[:, 1].copy(),
        table[:, 2].copy(),
        "Graves SA et al. Med Phys 2019;46:5284 (90Y beta DPK in water, zenodo 2564036)",
    )


@dataclass(frozen=True)
class VoxelKernel:
    """Voxel S values around a source voxel.

    Attributes
    ----------
    s_mgy_per_mbq_s
        Full kernel, odd shape (2 n_z + 1, 2 n_y + 1, 2 n_x + 1), source voxel at the centre;
        S in mGy per MBq s of cumulated activity in the source voxel. Read-only.
    voxel_size_zyx_mm
        Voxel size (z, y, x) in mm, the array's axis order.
    tissue
        Medium of the kernel.
    density_g_ml
        Density of the medium; the target masses of S are voxel volume x this density.
    source
        ``"dpk"`` or ``"lanconelli"``.
    reference
        Provenance of the numbers.
    notes
        Anything a report should say about the kernel (approximations).
    """

    s_mgy_per_mbq_s: NDArray[np.float64]
    voxel_size_zyx_mm: tuple[float, float, float]
    tissue: Tissue
    density_g_ml: float
    source: KernelSource
    reference: str
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def half_size(self) -> tuple[int, int, int]:
        """Number of neighbours on each side of the source voxel, (z, y, x)."""
        nz, ny, nx = (s // 2 for s in self.s_mgy_per_mbq_s.shape)
        return (int(nz), int(ny), int(nx))

    @property
    def voxel_volume_ml(self) -> float:
        """Voxel volume in mL (1 mL = 1000 mm^3)."""
        return math.prod(self.voxel_size_zyx_mm) / 1000.0

    @property
    def voxel_mass_kg(self) -> float:
        """Mass of one voxel of the kernel's medium, kg."""
        return self.voxel_volume_ml * self.density_g_ml / 1000.0

    @property
    def energy_mev_per_decay(self) -> NDArray[np.float64]:
        """Energy deposited per decay in each target voxel, MeV (same shape as S)."""
        factor = mev_per_decay_to_mgy_per_mbq_s(self.voxel_mass_kg)
        return np.asarray(self.s_mgy_per_mbq_s / factor, dtype=np.float64)

    @property
    def total_energy_mev_per_decay(self) -> float:
        """Sum of S x voxel mass over the kernel, MeV per decay (about 0.93 for Y-90)."""
        return float(self.energy_mev_per_decay.sum())

    def energy_fraction(self) -> NDArray[np.float64]:
        """Fraction of the kernel's deposited energy that lands in each target voxel.

        Sums to 1: the spatial part of the kernel, used by the DVK engine to distribute
        an explicit energy constant C (J/GBq).
        """
        energy = self.energy_mev_per_decay
        return np.asarray(energy / energy.sum(), dtype=np.float64)

    def octant(self) -> NDArray[np.float64]:
        """S values at offsets (i, j, k) >= 0 from the source voxel (the kernel's octant)."""
        nz, ny, nx = self.half_size
        return np.array(self.s_mgy_per_mbq_s[nz:, ny:, nx:], dtype=np.float64)


# --- cache -------------------------------------------------------------------------------

_memory_cache: dict[tuple[Any, ...], VoxelKernel] = {}
_cache_lock = threading.Lock()


def cache_dir() -> Path:
    """Directory of the on-disk kernel cache: ``$Y90DOSE_CACHE_DIR`` or ``~/.cache/y90dose``."""
    env = os.environ.get("Y90DOSE_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "y90dose"


def clear_memory_cache() -> None:
    """Forget kernels kept in memory (the disk cache is left alone)."""
    with _cache_lock:
        _memory_cache.clear()


def _dpk_data_hash() -> str:
    return hashlib.sha256(_data_bytes(_DPK_FILE)).hexdigest()[:12]


def _cache_name(voxel_size_zyx_mm: tuple[float, float, float], tissue: Tissue) -> str:
    size = "x".join(f"{v:.4f}" for v in voxel_size_zyx_mm)
    return f"y90-dpk-v{METHOD_VERSION}-{tissue.value}-{size}mm-{_dpk_data_hash()}.npy"


def _read_cached(path: Path, shape_hint: tuple[int, int, int]) -> NDArray[np.float64] | None:
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    if array.shape != shape_hint or array.dtype != np.float64 or not np.all(np.isfinite(array)):
        return None
    return np.asarray(array)


def _write_cached(path: Path, array: NDArray[np.float64]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            np.save(handle, array, allow_pickle=False)
        os.replace(tmp, path)
    except OSError:
        return


# --- DPK integration ---------------------------------------------------------------------


def _fibonacci_sphere(n: int) -> NDArray[np.float64]:
    """``n`` nearly uniform unit vectors (spherical Fibonacci lattice)."""
    index = np.arange(n, dtype=np.float64) + 0.5
    z = 1.0 - 2.0 * index / n
    phi = math.pi * (1.0 + math.sqrt(5.0)) * index
    radial = np.sqrt(np.maximum(0.0, 1.0 - z * z))
    return np.stack([z, radial * np.cos(phi), radial * np.sin(phi)], axis=1)


def _random_rotation(rng: np.random.Generator) -> NDArray[np.float64]:
    """A uniformly distributed rotation matrix (QR of a Gaussian matrix, sign-fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return np.asarray(q)


def _half_size(
    voxel_size_zyx_mm: tuple[float, float, float], range_mm: float
) -> tuple[int, int, int]:
    """Neighbours needed on each side: every point within ``range_mm`` reaches them."""
    nz, ny, nx = (math.ceil(range_mm / h - 1e-9) + 1 for h in voxel_size_zyx_mm)
    return (nz, ny, nx)


def _integrate_dpk(
    dpk: DosePointKernel, voxel_size_zyx_mm: tuple[float, float, float]
) -> NDArray[np.float64]:
    """Energy per decay (MeV) in each target voxel: see the module docstring."""
    h = np.asarray(voxel_size_zyx_mm, dtype=np.float64)
    half = np.asarray(_half_size(voxel_size_zyx_mm, dpk.range_mm))
    shape = tuple(int(v) for v in 2 * half + 1)
    accumulated = np.zeros(math.prod(shape), dtype=np.float64)
    rng = np.random.default_rng(_SEED)
    nodes, weights = np.polynomial.legendre.leggauss(_RADIAL_POINTS_PER_SHELL)
    spacing_on_sphere = float(h.min()) / _POINTS_PER_MIN_VOXEL
    corners = np.array([[(c >> 2) & 1, (c >> 1) & 1, c & 1] for c in range(8)])
    for r_in, r_out, energy in zip(
        dpk.r_inner_mm, dpk.r_outer_mm, dpk.energy_mev_per_decay, strict=True
    ):
        if energy == 0.0:
            continue
        radii = 0.5 * (r_in + r_out) + 0.5 * (r_out - r_in) * nodes
        radial_weights = weights * radii**2
        radial_weights = radial_weights / radial_weights.sum() * energy
        for radius, radial_energy in zip(radii, radial_weights, strict=True):
            area = 4.0 * math.pi * radius * radius
            n_dir = max(_MIN_DIRECTIONS, math.ceil(area / spacing_on_sphere**2))
            directions = _fibonacci_sphere(n_dir) @ _random_rotation(rng).T
            position = directions * (radius / h) + half
            base = np.floor(position).astype(np.int64)
            frac = position - base
            for corner in corners:
                weight = np.prod(np.where(corner == 1, frac, 1.0 - frac), axis=1)
                index = np.ravel_multi_index(tuple((base + corner).T), shape)
                accumulated += np.bincount(index, weights=weight, minlength=accumulated.size) * (
                    radial_energy / n_dir
                )
    kernel = accumulated.reshape(shape)
    reflected = np.zeros_like(kernel)
    for flips in range(8):
        axes = tuple(axis for axis in range(3) if (flips >> axis) & 1)
        reflected += np.flip(kernel, axis=axes) if axes else kernel
    # axes of equal spacing are interchangeable in the exact kernel: average over them too
    swaps = [
        order
        for order in itertools.permutations(range(3))
        if all(voxel_size_zyx_mm[order[axis]] == voxel_size_zyx_mm[axis] for axis in range(3))
    ]
    symmetric = sum(np.transpose(reflected, order) for order in swaps)
    return np.asarray(symmetric / (8.0 * len(swaps)), dtype=np.float64)


def _normalise_request(
    voxel_size_zyx_mm: float | Sequence[float], tissue: Tissue | str, field_name: str
) -> tuple[tuple[float, float, float], Tissue]:
    size = check_spacing_zyx_mm(
        voxel_size_zyx_mm,
        field=field_name,
        min_mm=MIN_VOXEL_MM,
        max_mm=MAX_VOXEL_MM,
        min_inclusive=True,
    )
    try:
        medium = Tissue(tissue)
    except ValueError:
        raise InputError("tissue", tissue, "one of 'soft', 'bone'") from None
    return size, medium


def dpk_voxel_kernel(
    voxel_size_zyx_mm: float | Sequence[float],
    tissue: Tissue | str = Tissue.SOFT,
    *,
    use_cache: bool = True,
) -> VoxelKernel:
    """Voxel S values from the Graves 2019 point kernel for any (also anisotropic) voxel.

    Parameters
    ----------
    voxel_size_zyx_mm
        One size (cubic voxel) or three sizes (z, y, x), each 0.5-100 mm. Rounded to
        0.1 um before use (cache key).
    tissue
        ``"soft"`` (1.04 g/mL) or ``"bone"`` (1.85 g/mL); the water kernel is scaled by
        1/density in distance.
    use_cache
        Read and write the memory and disk caches.

    Returns
    -------
    VoxelKernel
        Kernel out to the point kernel's range (11 mm / density) plus one voxel per side.

    Raises
    ------
    InputError
        Voxel size out of range or unknown tissue.

    Examples
    --------
    >>> k = dpk_voxel_kernel(4.8)
    >>> round(float(k.octant()[0, 0, 0]), 2)  # Lanconelli 2012: 0.573 mGy/(MBq s)
    0.57
    """
    size, medium = _normalise_request(voxel_size_zyx_mm, tissue, "voxel_size_zyx_mm")
    size = (round(size[0], 4), round(size[1], 4), round(size[2], 4))
    key = ("dpk", size, medium)
    if use_cache:
        with _cache_lock:
            cached = _memory_cache.get(key)
        if cached is not None:
            return cached
    density = medium.density_g_ml
    dpk = load_graves_dpk().scaled_to_density(density)
    half = _half_size(size, dpk.range_mm)
    shape = (2 * half[0] + 1, 2 * half[1] + 1, 2 * half[2] + 1)
    path = cache_dir() / _cache_name(size, medium)
    energy = _read_cached(path, shape) if use_cache else None
    if energy is None:
        energy = _integrate_dpk(dpk, size)
        if use_cache:
            _write_cached(path, energy)
    mass_kg = math.prod(size) / 1000.0 * density / 1000.0
    s_values = energy * mev_per_decay_to_mgy_per_mbq_s(mass_kg)
    s_values.setflags(write=False)
    notes: list[str] = []
    if medium is Tissue.BONE:
        notes.append("bone kernel: water point kernel scaled by density only (composition ignored)")
    kernel = VoxelKernel(
        s_mgy_per_mbq_s=s_values,
        voxel_size_zyx_mm=size,
        tissue=medium,
        density_g_ml=density,
        source=KernelSource.DPK,
        reference=f"{dpk.reference}; integrated over source and target voxels",
        notes=tuple(notes),
    )
    if use_cache:
        with _cache_lock:
            _memory_cache[key] = kernel
    return kernel


def _tabulated_text() -> str:
    return ", ".join(f"{size:g} mm {tissue.value}" for size, tissue in LANCONELLI_TABLES)


def _match_lanconelli(
    size: tuple[float, float, float], medium: Tissue
) -> tuple[float, Tissue] | None:
    for table_size, table_tissue in LANCONELLI_TABLES:
        if table_tissue is medium and all(
            abs(h - table_size) <= LANCONELLI_MATCH_TOLERANCE_MM + 1e-12 for h in size
        ):
            return (table_size, table_tissue)
    return None


def _parse_lanconelli(text: str) -> NDArray[np.float64]:
    rows = [line.split() for line in text.splitlines() if re.match(r"^\s*\d", line)]
    octant_size = max(int(value) for row in rows for value in row[:3]) + 1
    octant = np.full((octant_size,) * 3, np.nan)
    for row in rows:
        i, j, k = (int(value) for value in row[:3])
        octant[i, j, k] = float(row[3])
    if np.isnan(octant).any():
        raise InputError("lanconelli table", "incomplete octant", "all i, j, k entries present")
    return octant


def _mirror_octant(octant: NDArray[np.float64]) -> NDArray[np.float64]:
    """Full kernel from the octant (i, j, k >= 0) by reflection in each axis."""
    full = octant
    for axis in range(3):
        mirrored = np.flip(np.delete(full, 0, axis=axis), axis=axis)
        full = np.concatenate([mirrored, full], axis=axis)
    return np.asarray(full)


def lanconelli_kernel(
    voxel_size_zyx_mm: float | Sequence[float], tissue: Tissue | str = Tissue.SOFT
) -> VoxelKernel:
    """Lanconelli 2012 voxel S values (octant table mirrored to a full kernel).

    Parameters
    ----------
    voxel_size_zyx_mm
        A tabulated cubic size (3, 4.8 or 6 mm soft tissue; 4.8 mm bone), one number or
        three within 0.01 mm of it.
    tissue
        ``"soft"`` or ``"bone"``.

    Raises
    ------
    InputError
        The size/tissue is not tabulated; the message lists the tabulated ones.

    Examples
    --------
    >>> float(lanconelli_kernel(3.0).octant()[0, 0, 0])
    1.59
    """
    size, medium = _normalise_request(voxel_size_zyx_mm, tissue, "voxel_size_zyx_mm")
    match = _match_lanconelli(size, medium)
    if match is None:
        raise InputError(
            "voxel_size_zyx_mm",
            f"{' x '.join(f'{h:g}' for h in size)} mm {medium.value}",
            f"a Lanconelli 2012 tabulated cubic voxel (within {LANCONELLI_MATCH_TOLERANCE_MM} "
            f"mm): {_tabulated_text()}; use source 'dpk' for other sizes",
        )
    key = ("lanconelli", match)
    with _cache_lock:
        cached = _memory_cache.get(key)
    if cached is not None:
        return cached
    table_size, table_tissue = match
    text = _data_bytes("lanconelli2012", LANCONELLI_TABLES[match]).decode("utf-8", "replace")
    full = _mirror_octant(_parse_lanconelli(text))
    full.setflags(write=False)
    kernel = VoxelKernel(
        s_mgy_per_mbq_s=full,
        voxel_size_zyx_mm=(table_size, table_size, table_size),
        tissue=table_tissue,
        density_g_ml=table_tissue.density_g_ml,
        source=KernelSource.LANCONELLI,
        reference="Lanconelli N et al. Phys Med Biol 2012;57:517 (DOSXYZnrc voxel S values)",
        notes=(),
    )
    with _cache_lock:
        _memory_cache[key] = kernel
    return kernel


def voxel_kernel(
    voxel_size_zyx_mm: float | Sequence[float],
    tissue: Tissue | str = Tissue.SOFT,
    source: KernelSource | str = KernelSource.AUTO,
) -> VoxelKernel:
    """Voxel S values for a voxel size: Lanconelli where tabulated, else integrated DPK.

    Parameters
    ----------
    voxel_size_zyx_mm
        One size (cubic) or three (z, y, x), mm.
    tissue
        ``"soft"`` or ``"bone"``.
    source
        ``"auto"``: Lanconelli 2012 when the voxel is cubic and within 0.01 mm of a
        tabulated size for the tissue, else ``"dpk"``; ``"dpk"`` or ``"lanconelli"`` force
        one (``"lanconelli"`` at a size not tabulated raises).

    Raises
    ------
    InputError
        Unknown source or tissue, voxel size out of range, Lanconelli not tabulated.

    Examples
    --------
    >>> voxel_kernel(4.8).source.value
    'lanconelli'
    >>> voxel_kernel(4.42).source.value
    'dpk'
    """
    try:
        method = KernelSource(source)
    except ValueError:
        raise InputError("source", source, "one of 'auto', 'dpk', 'lanconelli'") from None
    size, medium = _normalise_request(voxel_size_zyx_mm, tissue, "voxel_size_zyx_mm")
    if method is KernelSource.LANCONELLI or (
        method is KernelSource.AUTO and _match_lanconelli(size, medium) is not None
    ):
        return lanconelli_kernel(size, medium)
    return dpk_voxel_kernel(size, medium)
