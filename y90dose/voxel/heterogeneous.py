"""A dose engine for heterogeneous media (lung, bone): density-scaled kernels per medium,
with the energy that crosses from tissue into lung carried along radiological depth.

Why a soft-tissue kernel fails in lung
--------------------------------------
The dose-voxel kernel (:mod:`y90dose.voxel.convolution`) spreads each voxel's energy with
soft-tissue ranges and divides by the target's own mass. Behind a tissue-lung interface
the beta electrons really travel about 1/rho_lung times further (4x at 0.26 g/mL): the
kernel puts the energy that crosses the interface into the first millimetres of lung and
divides it by the small lung mass (+145 % in the first 2 mm of the lung-slab phantom, -78 %
at 4-6 mm, against ompMC).

Model
-----
Straight-ray radiological scaling of the point kernel (O'Connor's theorem applied along
each ray; the model of collapsed-cone and superposition codes): the dose at r from a point
source at s is f(t) / (4 pi |r - s|^2), where f is the energy per unit radiological depth
of the water kernel and t the mass thickness (density x length) along the ray. In a
homogeneous medium of density rho it is the density-scaled kernel rho^2 D_w(rho r). For a
planar interface it gives a simple exact rule: beyond the interface, the dose at depth y
in medium N equals the dose that the source's own medium M would give at depth
y x rho_N / rho_M (the geometric 1/r^2 of every ray cancels in the plane integral). Against
ompMC in the lung slab this rule (evaluated semi-analytically) is within 4 % in every 1 mm
lung bin down to 12 mm.

Algorithm (arrays and spacings in, arrays out)
----------------------------------------------
1. Each voxel belongs to a medium by its density: lung below 0.5 g/mL
   (``constants.KERNEL_LOW_DENSITY_WARNING_G_ML``), bone from
   ``constants.BONE_MEDIUM_MIN_DENSITY_G_ML``, soft tissue between.
2. The activity of each medium is convolved (FFT, as the DVK) with that medium's kernel:
   soft tissue and bone with :func:`~y90dose.voxel.kernels.voxel_kernel` (Lanconelli 2012
   where tabulated, else the integrated Graves DPK; ``tissue="bone"`` for bone), lung with
   the water point kernel scaled to the lung's mean density (the water kernel integrated
   over voxels of spacing x rho_lung, which is the same kernel by range scaling). Each
   convolution distributes exactly C (J/GBq) per GBq, as the DVK.
3. Targets in the source's own medium receive that energy divided by their own mass (the
   DVK rule). Lung targets of tissue sources are remapped instead. The tissue sources'
   dose field (energy over the tissue kernel's mass) is computed for the kernel's half
   size beyond the grid too, and the media are taken to continue beyond the grid as at its
   edge. For a lung voxel r, the nearest tissue voxel c that the field reaches (Euclidean
   distance transform) carries the local interface: the staircase of voxels is smoothed
   (Gaussian of sigma = the largest voxel side) and, at c, gives the normal n, the signed
   distance of c to the mean surface and the mean curvature H (averaged over the
   interface). r lies at depth y behind that surface along n and receives the field at the
   compressed depth t = y rho_r / rho_M on the same normal, times ((1 + H t) / (1 + H y))^2
   (the rays' spreading over the longer path in lung: 1 for a plane, < 1 behind a convex
   liver dome), averaged over 4 depths across the voxel (log-linear interpolation).
4. Energy: the lung, inside and beyond the grid, receives exactly the energy the tissue
   kernel sent into it; the factor that ensures it is reported (``lung_energy_factor``,
   1.03 on the lung slab, 1.04 on the liver dome; a warning beyond 15 %), and the lung energy that
   lands beyond the grid is reported (``lung_energy_beyond_grid_j``) and leaves, as the
   kernel's energy beyond the grid does in the DVK. Deposited = C x activity minus what
   leaves the grid.

In a single medium (every voxel soft tissue, whatever its density in 0.5-1.45 g/mL) the
engine is the DVK to float32 rounding. Approximations, stated in the result's warnings:
energy from lung or bone sources into other media and from tissue into bone is deposited
with the source medium's ranges (as the DVK); energy is carried along the interface normal
only, so lateral spreading in lung (around a small hot spot, or out through a face of the
grid perpendicular to the interface) is not modelled; tissue beyond a thin lung layer gets
nothing through it.

References
----------
O'Connor JE. The variation of scattered x-rays with density in an irradiated body. Phys
Med Biol 1957;1:352-369 (density scaling theorem).
Ahnesjo A. Collapsed cone convolution of radiant energy for photon dose calculation in
heterogeneous media. Med Phys 1989;16:577-592 (radiological scaling along rays).
Cross WG, Freedman NO, Wong PY. Beta-ray dose distributions from point sources in an
infinite water medium. Health Phys 1992;63:160-171 (scaling of beta kernels by density).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.ndimage
from numpy.typing import ArrayLike, NDArray

from y90dose.constants import (
    BONE_MEDIUM_MIN_DENSITY_G_ML,
    ENERGY_EANM_J_PER_GBQ,
    KERNEL_LOW_DENSITY_WARNING_G_ML,
    LIVER_DENSITY_G_ML,
    LUNG_REMAP_MIN_DENSITY_G_ML,
)
from y90dose.errors import InputError
from y90dose.voxel._checks import check_density, check_spacing_zyx_mm, check_volume
from y90dose.voxel.convolution import fft_convolve_same
from y90dose.voxel.kernels import (
    MIN_VOXEL_MM,
    KernelSource,
    Tissue,
    VoxelKernel,
    dpk_voxel_kernel,
    voxel_kernel,
)
from y90dose.voxel.ldm import check_energy_constant, voxel_mass_kg
from y90dose.voxel.result import VoxelDoseMethod, VoxelDoseResult

__all__ = ["LUNG_KERNEL_DENSITY_STEP_G_ML", "heterogeneous_dose", "media_of_density"]

LUNG_KERNEL_DENSITY_STEP_G_ML = 0.02
"""The lung kernel's density is the lung sources' mean density rounded to 0.02 g/mL, so
that a handful of kernels per voxel size cover every patient (each is cached on disk); the
rounding changes the lung ranges by at most 1/(2 x 0.1 / 0.02) = 5 % at 0.1 g/mL, 2 % at
0.26 g/mL."""
STENCIL_SIGMAS = 3.0
"""Half-width of the interface stencil, in smoothing sigmas (truncation biases the
curvature by about 3 % at 3 sigma, 200 % at 2)."""
CURVATURE_SMOOTHING_SIGMAS = 2.0
"""The interface curvature is averaged over a Gaussian patch of 2 smoothing sigmas."""
REMAP_SUBSAMPLES = 4
"""Depths per lung voxel at which the tissue dose field is sampled (step 3)."""
REMAP_FACTOR_WARNING = 0.15
"""A lung energy factor further than 15 % from 1 is reported as a warning (see step 4)."""

SOFT, LUNG, BONE = 0, 1, 2
_MEDIUM_NAMES = {SOFT: "soft tissue", LUNG: "lung", BONE: "bone"}


def media_of_density(density_g_ml: NDArray[np.floating]) -> NDArray[np.int8]:
    """Medium index per voxel: 0 soft tissue, 1 lung (< 0.5 g/mL), 2 bone (>= 1.45 g/mL).

    Examples
    --------
    >>> media_of_density(np.array([0.26, 1.04, 1.85])).tolist()
    [1, 0, 2]
    """
    media = np.zeros(np.shape(density_g_ml), dtype=np.int8)
    media[density_g_ml < KERNEL_LOW_DENSITY_WARNING_G_ML.value] = LUNG
    media[density_g_ml >= BONE_MEDIUM_MIN_DENSITY_G_ML.value] = BONE
    return media


def _lung_kernel(
    spacing: tuple[float, float, float], density_g_ml: float
) -> tuple[VoxelKernel, float, list[str]]:
    """The water kernel range-scaled to ``density_g_ml`` on voxels of ``spacing``.

    Range scaling: a kernel in a medium of density rho on voxels h is the soft-tissue
    (1.04 g/mL) kernel on voxels h x rho / 1.04, with the same energy fractions.
    """
    notes: list[str] = []
    step = LUNG_KERNEL_DENSITY_STEP_G_ML
    rho = max(step, round(density_g_ml / step) * step)
    soft = Tissue.SOFT.density_g_ml
    smallest = min(spacing)
    if smallest * rho / soft < MIN_VOXEL_MM:
        rho_floor = math.ceil(MIN_VOXEL_MM * soft / smallest / step) * step
        notes.append(
            f"lung kernel: mean lung density {density_g_ml:.3g} g/mL raised to {rho_floor:.2f} "
            f"g/mL for the kernel (the scaled voxel would be below {MIN_VOXEL_MM} mm): lung "
            "ranges shortened accordingly"
        )
        rho = rho_floor
    scaled = tuple(round(h * rho / soft, 4) for h in spacing)
    kernel = dpk_voxel_kernel(scaled, Tissue.SOFT)
    return kernel, rho, notes


def _boundary_offset_mm(
    direction: NDArray[np.float64], spacing: tuple[float, float, float]
) -> NDArray[np.float64]:
    """Distance from a voxel centre to its face along unit ``direction`` (rows), mm."""
    half = np.asarray(spacing, dtype=np.float64)[:, None] / 2.0
    with np.errstate(divide="ignore"):
        per_axis = np.where(np.abs(direction) > 1e-12, half / np.abs(direction), np.inf)
    return np.asarray(per_axis.min(axis=0), dtype=np.float64)


def _take_box(
    array: NDArray[Any], lo: Sequence[int], hi: Sequence[int], *, edge: bool, fill: float = 0.0
) -> NDArray[Any]:
    """``array[lo:hi]`` for a box that may reach beyond the array: outside it the values
    are the nearest edge value (``edge``, media continued) or ``fill``."""
    inner_lo = [max(0, a) for a in lo]
    inner_hi = [min(n, b) for n, b in zip(array.shape, hi, strict=True)]
    crop = array[tuple(slice(a, b) for a, b in zip(inner_lo, inner_hi, strict=True))]
    pad = [(a - b, c - d) for a, b, c, d in zip(inner_lo, lo, hi, inner_hi, strict=True)]
    if not any(p for pair in pad for p in pair):
        return np.asarray(crop)
    if edge:
        return np.pad(crop, pad, mode="edge")
    return np.pad(crop, pad, mode="constant", constant_values=fill)


def _interface_planes(
    tissue: NDArray[np.bool_], centres: NDArray[np.int64], spacing: tuple[float, float, float]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Unit normal (into the lung), signed distance (mm, negative inside the tissue) and
    mean curvature (1/mm, positive where the tissue is convex) of the tissue-lung interface
    at the tissue voxels ``centres`` (3 x n indices).

    The voxelised interface is a staircase; its mean surface is the 0.5 level of the tissue
    indicator smoothed by a Gaussian of sigma = the largest voxel side (isotropic in mm).
    At a centre c, the smoothed indicator f, its gradient g and Hessian give the normal
    n = -g / |g|, the signed distance d(c) = -sigma Phi^-1(f(c)) (exact for a plane, where
    f = Phi(-d / sigma)) and the mean curvature H = div(n) / 2 = -(lap f - n.Hess f.n) /
    (2 |g|) (1/R on a sphere of radius R). Evaluated only at the centres, by stencil sums.
    """
    step = np.asarray(spacing, dtype=np.float64)
    sigma = float(step.max())
    half = [max(1, math.ceil(STENCIL_SIGMAS * sigma / h)) for h in spacing]
    offsets = np.stack(
        np.meshgrid(*[np.arange(-k, k + 1) for k in half], indexing="ij"), axis=0
    ).reshape(3, -1)
    delta_mm = offsets * step[:, None]
    weight = np.exp(-np.sum(delta_mm**2, axis=0) / (2.0 * sigma**2))
    weight /= weight.sum()
    padded = np.ascontiguousarray(np.pad(tissue, [(k, k) for k in half], mode="edge"))
    flat = padded.reshape(-1)
    base = np.ravel_multi_index(tuple(centres + np.asarray(half)[:, None]), padded.shape)
    shift = np.ravel_multi_index(tuple(offsets + np.asarray(half)[:, None]), padded.shape)
    shift = shift - np.ravel_multi_index(tuple(half), padded.shape)
    # moments of the stencil: f, the gradient sums and the 3 x 3 second-moment sums are one
    # matrix product of the indicator around each centre with these columns
    pairs = [(0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2)]
    columns = [weight] + [weight * delta_mm[i] for i in range(3)]
    columns += [weight * delta_mm[i] * delta_mm[j] for i, j in pairs]
    moments_matrix = np.stack(columns, axis=1).astype(np.float32)
    n = centres.shape[1]
    moments = np.zeros((n, moments_matrix.shape[1]), dtype=np.float64)
    chunk = max(1, 4_000_000 // shift.size)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        around = flat[base[start:stop, None] + shift[None, :]].astype(np.float32)
        moments[start:stop] = around @ moments_matrix
    f = moments[:, 0]
    grad = moments[:, 1:4].T.copy()
    second = np.zeros((3, 3, n), dtype=np.float64)
    for k, (i, j) in enumerate(pairs):
        second[i, j] = second[j, i] = moments[:, 4 + k]
    grad /= sigma**2
    # Hessian of the smoothed indicator: sum w I (d d^T / sigma^4 - 1 / sigma^2)
    hess = second / sigma**4 - np.eye(3)[:, :, None] * (f / sigma**2)
    norm = np.sqrt(np.sum(grad**2, axis=0))
    ok = norm > 1e-12
    normal = np.where(ok, -grad / np.where(ok, norm, 1.0), 0.0)
    laplacian = np.trace(hess)
    along = np.einsum("in,ijn,jn->n", normal, hess, normal)
    curvature = np.where(ok, -(laplacian - along) / (2.0 * np.where(ok, norm, 1.0)), 0.0)
    signed = -sigma * scipy.special.ndtri(np.clip(f, 0.02, 0.98))
    # on a staircase the pointwise curvature is noisy (5-95 % range several times 1/R):
    # average it over the interface within CURVATURE_SMOOTHING_SIGMAS x sigma
    lo = centres.min(axis=1)
    extent = tuple(int(v) for v in centres.max(axis=1) - lo + 1)
    where = tuple(centres - lo[:, None])
    summed = np.zeros(extent, dtype=np.float64)
    count = np.zeros(extent, dtype=np.float64)
    summed[where] = curvature
    count[where] = 1.0
    width = [CURVATURE_SMOOTHING_SIGMAS * sigma / h for h in spacing]
    summed = scipy.ndimage.gaussian_filter(summed, width, mode="constant", truncate=2.5)
    count = scipy.ndimage.gaussian_filter(count, width, mode="constant", truncate=2.5)
    smooth = summed[where] / np.maximum(count[where], 1e-12)
    return normal, np.asarray(signed, dtype=np.float64), np.asarray(smooth, dtype=np.float64)


def _beyond_grid(
    lung: NDArray[np.bool_],
    density: NDArray[np.float64],
    axis: int,
    rho_source: float,
    spacing: tuple[float, float, float],
    field_reach_mm: float,
    field_beyond: tuple[int, int],
) -> tuple[int, int]:
    """How far (voxels) the remap's box must reach beyond the grid's two faces on ``axis``.

    Beyond the grid the media continue as on the face (:func:`_take_box`, edge values), so
    a voxel there has the density of a face voxel: it is reachable (the test in
    :func:`_remap_into_lung`) only within (field reach + h) x rho_source / rho_face + h/2
    of the face, rho_face the lowest lung density on that face; no lung on the face, no
    lung beyond it. The box also keeps the tissue field's own margin beyond the grid
    (``field_beyond``: its nearest-feature search must see the same tissue). Bounding the
    box so gives the same dose as the box grown by the grid's lowest lung density on every
    side, which reached far outside the grid (about 20x the tissue range at 0.05 g/mL: a
    1.6 GB box for a 128^3 study whose body surface had partial-volume voxels of lung
    density).
    """
    h = spacing[axis]
    h_max = max(spacing)
    out = []
    for index, field_margin in zip((0, lung.shape[axis] - 1), field_beyond, strict=True):
        face = np.take(lung, index, axis=axis)
        if not face.any():
            out.append(max(0, field_margin))
            continue
        rho_face = float(np.take(density, index, axis=axis)[face].min())
        reach = (field_reach_mm + h_max) * rho_source / rho_face + 0.5 * h_max
        out.append(max(math.ceil(reach / h) + 1, field_margin))
    return out[0], out[1]


def _remap_into_lung(
    field_gy: NDArray[np.float32],
    field_origin: Sequence[int],
    media: NDArray[np.int8],
    density: NDArray[np.float64],
    rho_source: float,
    spacing: tuple[float, float, float],
    field_reach_mm: float,
) -> tuple[NDArray[np.int64], NDArray[np.float64], float, float]:
    """Dose in the lung from a tissue dose field by radiological depth (step 3).

    ``field_gy`` is the tissue sources' dose field (energy over the tissue kernel's mass) on
    the grid padded by ``field_origin`` voxels on each side (the kernel's half size), so that
    the energy the kernel sends beyond the grid is known. The media beyond the grid are
    taken to continue as at its edge; the lung there is scored, then dropped: it is the
    lung energy that leaves the grid.

    For a lung voxel r, the nearest tissue voxel c that the field reaches (Euclidean
    distance transform) gives the local interface plane (normal n, signed distance, from
    :func:`_interface_planes`); r lies at depth y = d(c) + n.(r - c) behind it, and
    receives the field at depth y x rho_r / rho_source on the same normal through r
    (sampled at REMAP_SUBSAMPLES depths across the voxel, log-linear interpolation).

    Returns the flat grid indices of the lung voxels inside the grid that receive dose,
    their dose (Gy, before the energy factor of step 4), the energy (J) the remap puts in
    lung beyond the grid, and the energy (J) the tissue kernel sent into lung, inside and
    beyond the grid.
    """
    empty = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64))
    pad = np.asarray(field_origin, dtype=np.int64)
    shape = np.asarray(media.shape, dtype=np.int64)
    lung_all = (media == LUNG) & (density >= LUNG_REMAP_MIN_DENSITY_G_ML.value)
    reached = field_gy > 0
    if not reached.any() or not lung_all.any():
        return (*empty, 0.0, 0.0)
    rho_min = float(density[lung_all].min())
    h_max = max(spacing)
    reach_mm = field_reach_mm * rho_source / rho_min + h_max
    # the box (grid coordinates; may reach beyond the grid): the field's support grown by
    # the lung reach
    lo, hi = [], []
    for axis, h in enumerate(spacing):
        present = np.flatnonzero(reached.any(axis=tuple(a for a in range(3) if a != axis)))
        grow = math.ceil(reach_mm / h)
        beyond_lo, beyond_hi = _beyond_grid(
            lung_all,
            density,
            axis,
            rho_source,
            spacing,
            field_reach_mm,
            field_beyond=(
                int(pad[axis]),
                field_gy.shape[axis] - int(pad[axis]) - media.shape[axis],
            ),
        )
        lo.append(max(int(present[0]) - int(pad[axis]) - grow, -beyond_lo))
        hi.append(min(int(present[-1]) + 1 - int(pad[axis]) + grow, int(shape[axis]) + beyond_hi))
    media_box = _take_box(media, lo, hi, edge=True)
    density_box = _take_box(density, lo, hi, edge=True)
    field_lo = [a + int(p) for a, p in zip(lo, pad, strict=True)]
    field_hi = [b + int(p) for b, p in zip(hi, pad, strict=True)]
    field_box = _take_box(field_gy, field_lo, field_hi, edge=False)
    tissue_box = media_box != LUNG
    features = tissue_box & (field_box > 0)
    lung_box = (media_box == LUNG) & (density_box >= LUNG_REMAP_MIN_DENSITY_G_ML.value)
    if not features.any():
        return (*empty, 0.0, 0.0)
    voxel_kg = math.prod(spacing) * 1e-6  # per g/mL of density
    sent_j = float(np.sum(field_box[lung_box], dtype=np.float64)) * rho_source * voxel_kg
    distance_box, nearest = scipy.ndimage.distance_transform_edt(
        ~features, sampling=spacing, return_distances=True, return_indices=True
    )
    # a lung voxel further than the field's reach (in radiological depth) gets nothing
    reachable = (distance_box - 0.5 * h_max) * (density_box / rho_source) < field_reach_mm + h_max
    local = np.flatnonzero(lung_box & reachable)
    del distance_box, reachable
    r = np.asarray(np.unravel_index(local, lung_box.shape), dtype=np.int64)
    c = nearest.reshape(3, -1)[:, local].astype(np.int64)
    del nearest
    step = np.asarray(spacing, dtype=np.float64)[:, None]
    ratio = density_box.reshape(-1)[local] / rho_source
    if r.shape[1] == 0:
        return (*empty, 0.0, sent_j)
    unique_c, inverse = np.unique(
        np.ravel_multi_index(tuple(c), lung_box.shape), return_inverse=True
    )
    normal_u, signed_u, curvature_u = _interface_planes(
        tissue_box, np.asarray(np.unravel_index(unique_c, lung_box.shape)), spacing
    )
    normal = normal_u[:, inverse.reshape(-1)]
    curvature = curvature_u[inverse.reshape(-1)]
    flat_normal = np.sum(normal**2, axis=0) < 0.5  # no gradient (thin tissue): nearest ray
    if flat_normal.any():
        ray = (r - c)[:, flat_normal] * step
        normal[:, flat_normal] = ray / np.sqrt(np.sum(ray**2, axis=0))
    depth = signed_u[inverse.reshape(-1)] + np.sum(normal * (r - c) * step, axis=0)
    half_chord = _boundary_offset_mm(normal, spacing)
    # the field falls about exponentially behind the interface: interpolate its logarithm
    floor = np.float32(max(float(field_box.max()), 1e-30) * 1e-9)
    log_field = np.log(field_box + floor)
    dose = np.zeros(r.shape[1], dtype=np.float64)
    for k in range(REMAP_SUBSAMPLES):
        offset = (2.0 * (k + 0.5) / REMAP_SUBSAMPLES - 1.0) * half_chord
        y = np.maximum(depth + offset, 0.0)
        # the point at depth y on the normal through r, moved to the compressed depth
        along = offset - y * (1.0 - ratio)
        coords = r + normal * along / step
        # rays from a curved interface spread (convex) or gather (concave) over the longer
        # path in lung: the field at compressed depth t = y x ratio is carried to depth y
        # over an area larger by ((1 + H y) / (1 + H t))^2
        t = y * ratio
        near = 1.0 + np.maximum(curvature * t, -0.5)
        far = 1.0 + np.maximum(curvature * y, -0.5)
        spread = (near / far) ** 2
        dose += spread * np.exp(
            scipy.ndimage.map_coordinates(
                log_field, coords, order=1, mode="constant", cval=float(np.log(floor))
            )
        )
    dose = dose / REMAP_SUBSAMPLES - float(floor)
    np.maximum(dose, 0.0, out=dose)
    grid_index = r + np.asarray(lo, dtype=np.int64)[:, None]
    inside = np.all((grid_index >= 0) & (grid_index < shape[:, None]), axis=0)
    mass_box = density_box.reshape(-1)[local] * voxel_kg
    outside_j = float(np.sum(dose[~inside] * mass_box[~inside]))
    targets = np.ravel_multi_index(tuple(grid_index[:, inside]), media.shape)
    return targets, dose[inside], outside_j, sent_j


def heterogeneous_dose(
    activity_gbq: ArrayLike,
    *,
    spacing_zyx_mm: float | Sequence[float],
    density_g_ml: float | ArrayLike = LIVER_DENSITY_G_ML.value,
    energy_j_per_gbq: float = ENERGY_EANM_J_PER_GBQ.value,
    kernel_source: KernelSource | str = KernelSource.AUTO,
    workers: int | None = None,
) -> VoxelDoseResult:
    """Voxel dose with density-scaled kernels per medium and lung remapped by depth.

    Parameters
    ----------
    activity_gbq
        Activity per voxel at implantation, GBq (3-D, axes z, y, x), >= 0.
    spacing_zyx_mm
        Voxel size (z, y, x) mm, or one number.
    density_g_ml
        One density or a density map of the image's shape (g/mL, > 0), normally from the
        CT. Media: lung < 0.5 g/mL, bone >= 1.45 g/mL, soft tissue between.
    energy_j_per_gbq
        C, J per GBq decayed to completion (default 49.67, EANM 2022): each medium's kernel
        distributes exactly C per GBq.
    kernel_source
        Soft-tissue and bone kernel: ``"auto"`` (Lanconelli 2012 where tabulated, else the
        integrated Graves DPK), ``"dpk"`` or ``"lanconelli"``. The lung kernel is always
        the range-scaled DPK.
    workers
        FFT threads (``None``: 1).

    Returns
    -------
    VoxelDoseResult
        Dose in Gy (float32), energy deposited in the grid, warnings; in ``kernel``: the
        kernels, ``lung_energy_factor`` (step 4) and ``lung_energy_beyond_grid_j`` (lung
        energy carried beyond the grid, part of what ``escaped_energy_fraction`` counts).

    Raises
    ------
    InputError
        Negative/non-finite activity, density <= 0, C <= 0, unknown kernel source.

    Examples
    --------
    In uniform soft tissue it is the DVK:

    >>> from y90dose.voxel.convolution import dvk_dose
    >>> a = np.zeros((15, 15, 15)); a[7, 7, 7] = 1.0
    >>> het = heterogeneous_dose(a, spacing_zyx_mm=3.0, density_g_ml=1.04).dose_gy
    >>> dvk = dvk_dose(a, spacing_zyx_mm=3.0, density_g_ml=1.04).dose_gy
    >>> bool(np.allclose(het, dvk, rtol=1e-6, atol=1e-6 * dvk.max()))  # float32 rounding
    True
    """
    activity = check_volume(activity_gbq, field="activity_gbq")
    spacing = check_spacing_zyx_mm(spacing_zyx_mm)
    density_checked = check_density(density_g_ml, activity.shape)
    density = np.broadcast_to(np.asarray(density_checked, dtype=np.float64), activity.shape)
    constant = check_energy_constant(energy_j_per_gbq)
    try:
        source = KernelSource(kernel_source)
    except ValueError:
        raise InputError(
            "kernel_source", kernel_source, "one of 'auto', 'dpk', 'lanconelli'"
        ) from None
    media = media_of_density(density)
    mass_kg = np.asarray(voxel_mass_kg(density, spacing), dtype=np.float64)
    voxel_ml = math.prod(spacing) / 1000.0

    energy = np.zeros(activity.shape, dtype=np.float32)
    warnings: list[str] = []
    kernels: dict[str, Any] = {}
    lung = (media == LUNG) & (density >= LUNG_REMAP_MIN_DENSITY_G_ML.value)
    lung_factor: float | None = None
    lung_escape_j = 0.0
    for medium in (SOFT, BONE, LUNG):
        inside = media == medium
        if not inside.any():
            continue
        part = np.where(inside, activity, 0.0).astype(np.float32)
        if not part.any():
            continue
        notes: list[str] = []
        if medium == LUNG:
            mean_rho = float(np.average(density[inside], weights=part[inside]))
            kernel, rho_kernel, notes = _lung_kernel(spacing, mean_rho)
        else:
            tissue = Tissue.SOFT if medium == SOFT else Tissue.BONE
            kernel = voxel_kernel(spacing, tissue, source)
            rho_kernel = kernel.density_g_ml
        warnings.extend(notes)
        kernels[_MEDIUM_NAMES[medium]] = {
            "source": kernel.source.value,
            "tissue": kernel.tissue.value,
            "voxel_size_zyx_mm": list(kernel.voxel_size_zyx_mm),
            "density_g_ml": rho_kernel,
            "reference": kernel.reference,
        }
        weights = (kernel.energy_fraction() * constant).astype(np.float32)
        remap = medium == SOFT and lung.any()
        # with lung present, the tissue field is also computed for the kernel's half size
        # beyond the grid: the lung there is where energy leaves the grid (step 4)
        margin = tuple(k // 2 for k in weights.shape) if remap else (0, 0, 0)
        padded = np.pad(part, [(m, m) for m in margin]) if remap else part
        part_energy = fft_convolve_same(padded, weights, workers=workers)
        np.maximum(part_energy, 0.0, out=part_energy)
        support = scipy.ndimage.maximum_filter(
            padded > 0, size=weights.shape, mode="constant", cval=False
        )
        part_energy[~support] = 0.0
        del support, padded
        if remap:
            field_gy = part_energy / np.float32(rho_kernel * voxel_ml / 1000.0)
            half_extent_mm = max(
                (n // 2 + 0.5) * hh for n, hh in zip(weights.shape, spacing, strict=True)
            )
            targets, lung_dose, outside_j, sent_j = _remap_into_lung(
                field_gy, margin, media, density, rho_kernel, spacing, half_extent_mm
            )
            del field_gy
            inner = tuple(slice(m, m + n) for m, n in zip(margin, activity.shape, strict=True))
            part_energy = np.ascontiguousarray(part_energy[inner])
            got_j = float(np.sum(lung_dose * mass_kg.ravel()[targets])) + outside_j
            lung_factor = sent_j / got_j if got_j > 0 else 1.0
            lung_escape_j = outside_j * lung_factor
            flat = part_energy.reshape(-1)
            flat[np.flatnonzero(lung)] = 0.0
            flat[targets] = (lung_dose * lung_factor * mass_kg.ravel()[targets]).astype(np.float32)
            if abs(lung_factor - 1.0) > REMAP_FACTOR_WARNING:
                warnings.append(
                    f"lung dose from tissue sources rescaled by {lung_factor:.3f} to conserve "
                    "energy (more than 15 %: thin lung with tissue behind it, whose share "
                    "the lung keeps, or an interface irregular at the scale of a few voxels)"
                )
        energy += part_energy
        del part_energy
    deposited_j = float(energy.sum(dtype=np.float64))
    dose = energy
    dose /= mass_kg.astype(np.float32)
    present = {_MEDIUM_NAMES[m] for m in (SOFT, LUNG, BONE) if (media == m).any()}
    if len(present) > 1:
        warnings.append(
            "heterogeneous engine: energy from lung or bone sources into other media, and "
            "from tissue into bone, is deposited with the source medium's ranges; energy "
            "from tissue into lung is carried along the interface normal (no lateral "
            "spreading in lung, none through a thin lung layer into the tissue beyond)"
        )
    info: dict[str, Any] = {
        "engine": "density-scaled kernels per medium, lung remapped by radiological depth",
        "source": str(kernels.get("soft tissue", {}).get("source", source.value)),
        "media_voxels": {
            _MEDIUM_NAMES[m]: int(np.count_nonzero(media == m)) for m in (SOFT, LUNG, BONE)
        },
        "kernels": kernels,
        "lung_energy_factor": lung_factor,
        "lung_energy_beyond_grid_j": lung_escape_j,
        "normalisation": "energy_constant",
    }
    return VoxelDoseResult(
        dose_gy=dose,
        spacing_zyx_mm=spacing,
        method=VoxelDoseMethod.HETEROGENEOUS,
        energy_j_per_gbq=constant,
        administered_in_image_gbq=float(activity.sum(dtype=np.float64)),
        deposited_energy_j=deposited_j,
        kernel=info,
        warnings=tuple(warnings),
        low_density_voxels=0,
    )
