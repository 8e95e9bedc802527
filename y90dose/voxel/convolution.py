"""Dose-voxel kernel (DVK) convolution by FFT.

    D = A_cumulated (*) S        (MIRD Pamphlet 17; physics.md section 6)

with S the voxel S values for the image's voxel size and, for a permanent implant,
A_cumulated = A0 x T1/2 / ln 2. The convolution is linear (not circular): the activity is
zero padded to at least N + K - 1 voxels per axis (rounded up to a fast FFT length), so
nothing wraps around; energy carried beyond the grid is lost and reported. Voxels beyond
the kernel's reach of every active voxel are set to exactly 0 (FFT round-off otherwise
leaves ~1e-7 of the peak there).

Energy normalisation (a choice the spec left open)
--------------------------------------------------
The kernel's energy total (sum of S x voxel mass, 0.930 MeV per decay for the Graves kernel,
0.934-0.936 for Lanconelli's tables) and the energy constant C (J/GBq) of the planning
models differ by up to about 1 %: C = 50 J/GBq corresponds to 0.9367 MeV per decay with
T1/2 = 64.1 h. By default (``normalisation="energy_constant"``) the kernel supplies only
the *spatial distribution* of the energy (each target's share of the kernel total, summing
to 1) and C supplies the amount: every GBq deposits exactly C joules, of which the kernel
decides where. Hence in the interior of a large uniform region the DVK dose equals the
LDM dose C x A / m exactly, and the voxel dose sums to the same energy as the planning
models. ``normalisation="kernel"`` keeps the kernel's own energy (S x A_cumulated, with
T1/2 from ``half_life_h``) for comparison with other software; its interior dose is
(kernel MeV per decay) / (C / T1/2 x ln 2) times the LDM dose.

Density
-------
The energy deposited per voxel is divided by the voxel's own mass (density map x voxel
volume): D_j = E_j / m_j. With a soft-tissue kernel this is accurate in soft tissue; the
energy spread is not rescaled for other densities, so in lung (< 0.5 g/mL) the dose is
inaccurate (the kernel's range is too short there): such voxels are counted and a warning
is attached to the result.

References
----------
Bolch WE, et al. MIRD Pamphlet No. 17. J Nucl Med 1999;40:11S-36S.
Dieudonne A, et al. Study of the impact of tissue density heterogeneities on 3-dimensional
abdominal dosimetry. J Nucl Med 2013;54:236-243 (density correction E/m).
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

import numpy as np
import scipy.fft
from numpy.typing import ArrayLike, NDArray

from y90dose.constants import (
    ENERGY_EANM_J_PER_GBQ,
    J_PER_MEV,
    KERNEL_LOW_DENSITY_WARNING_G_ML,
    LIVER_DENSITY_G_ML,
    SECONDS_PER_HOUR,
    Y90_HALF_LIFE_H,
)
from y90dose.errors import GeometryError, InputError
from y90dose.voxel._checks import check_density, check_spacing_zyx_mm, check_volume
from y90dose.voxel.kernels import KernelSource, Tissue, VoxelKernel, voxel_kernel
from y90dose.voxel.ldm import check_energy_constant, voxel_mass_kg
from y90dose.voxel.reach import box_dilate
from y90dose.voxel.result import VoxelDoseMethod, VoxelDoseResult

__all__ = [
    "DvkNormalisation",
    "clear_spectrum_cache",
    "cumulated_activity_mbq_s",
    "dvk_dose",
    "fft_convolve_nonnegative",
    "fft_convolve_same",
    "padded_shape",
]

KERNEL_SPACING_TOLERANCE_MM = 0.01
"""A kernel is used for an image whose spacing matches it within 0.01 mm per axis."""

DEFAULT_SLAB_VOXELS = 2**20
"""Images larger than this (64 x 128 x 128 voxels) are convolved in slabs along axis 0
(overlap-add) to bound the peak memory."""


class DvkNormalisation(StrEnum):
    """How much energy the kernel deposits per GBq: C (default) or the kernel's own."""

    ENERGY_CONSTANT = "energy_constant"
    KERNEL = "kernel"


def cumulated_activity_mbq_s(
    activity_mbq: float | NDArray[np.floating], half_life_h: float = Y90_HALF_LIFE_H.value
) -> float | NDArray[np.floating]:
    """Cumulated activity of a permanent implant decaying to completion, MBq s.

    A_cumulated = A0 x T1/2 / ln 2 (integral of A0 exp(-ln2 t / T1/2) over t >= 0).

    Examples
    --------
    >>> round(cumulated_activity_mbq_s(1.0) / 3600, 2)  # MBq h: 64.1 / ln 2
    92.48
    """
    if not half_life_h > 0:
        raise InputError("half_life_h", half_life_h, "a number > 0 h")
    return activity_mbq * half_life_h * SECONDS_PER_HOUR / math.log(2.0)


def _slab_plan(n0: int, k0: int, max_voxels: int, plane_voxels: int) -> int:
    """Slab thickness along axis 0 so that a slab has at most ``max_voxels`` voxels."""
    if n0 * plane_voxels <= max_voxels:
        return n0
    return max(k0, max_voxels // max(plane_voxels, 1))


def fft_convolve_same(
    image: NDArray[np.float32],
    kernel: NDArray[np.float32],
    *,
    max_slab_voxels: int = DEFAULT_SLAB_VOXELS,
    workers: int | None = None,
) -> NDArray[np.float32]:
    """Linear 3-D convolution, output the image's shape, kernel centred (odd sizes).

    Real FFTs in float32 with zero padding to ``next_fast_len(N + K - 1)`` per axis (no
    wrap-around). Large images are processed in slabs along axis 0 and the slab results
    added (overlap-add), so the peak memory is the output plus a few slab-sized buffers.

    Parameters
    ----------
    image
        3-D array (cast to float32 slab by slab).
    kernel
        3-D array with odd sizes; its centre is the zero offset.
    max_slab_voxels
        Largest slab (voxels) transformed at once.
    workers
        Threads for ``scipy.fft`` (``None``: scipy's default, 1).

    Returns
    -------
    numpy.ndarray
        float32 array of the image's shape.
    """
    if any(size % 2 == 0 for size in kernel.shape):
        raise InputError("kernel", f"shape {kernel.shape}", "odd sizes on every axis")
    n0, n1, n2 = image.shape
    k0, k1, k2 = kernel.shape
    h0, h1, h2 = k0 // 2, k1 // 2, k2 // 2
    out = np.zeros(image.shape, dtype=np.float32)
    if image.size == 0:
        return out
    slab = _slab_plan(n0, k0, max_slab_voxels, n1 * n2)
    fast = scipy.fft.next_fast_len
    shape = (fast(slab + k0 - 1, True), fast(n1 + k1 - 1, True), fast(n2 + k2 - 1, True))
    kernel_fft = scipy.fft.rfftn(kernel.astype(np.float32), s=shape, workers=workers)
    for z0 in range(0, n0, slab):
        z1 = min(n0, z0 + slab)
        part = image[z0:z1]
        if not np.any(part):
            continue
        spectrum = scipy.fft.rfftn(part.astype(np.float32, copy=False), s=shape, workers=workers)
        spectrum *= kernel_fft
        full = scipy.fft.irfftn(spectrum, s=shape, workers=workers)
        del spectrum
        # full index m along axis 0 is global "same" index z0 + m - h0
        g_start = max(0, z0 - h0)
        g_stop = min(n0, z1 + k0 - 1 - h0)
        m_start = g_start - z0 + h0
        out[g_start:g_stop] += full[
            m_start : m_start + (g_stop - g_start), h1 : h1 + n1, h2 : h2 + n2
        ]
        del full
    return out


SPECTRUM_CACHE_MAX_BYTES = 256 * 2**20
"""Kernel spectra kept in memory between calls (least recently used dropped first): 256 MiB
holds six 256^3 spectra (40 MiB each); a spectrum larger than this is not kept."""

KERNEL_SYMMETRY_TOLERANCE = 1e-9
"""A kernel whose odd part (k(x) - k(-x)) / 2 is at most this fraction of its peak is
treated as point-symmetric: its spectrum is then real, kept as float32 at half the memory.
The odd part dropped (1e-17 of the peak for the integrated DPK kernels) is far below
float32 resolution (6e-8)."""

_CHUNK_VOXELS = 2**20
"""Planes are transformed and finished in chunks of about this many voxels (4 MiB float32),
so that the temporaries stay small and in cache."""

_spectra: OrderedDict[tuple[Any, ...], NDArray[Any]] = OrderedDict()
_spectra_lock = threading.Lock()


def padded_shape(image_shape: Sequence[int], kernel_shape: Sequence[int]) -> tuple[int, int, int]:
    """FFT size per axis of :func:`fft_convolve_nonnegative`: ``next_fast_len(N + K // 2)``.

    With the kernel's centre at index 0 (its negative offsets wrapped to the end), a
    circular convolution of length P equals the linear one on the image's N voxels when
    P >= N + K // 2: no output voxel receives a wrapped contribution.
    """
    fast = scipy.fft.next_fast_len
    p0, p1, p2 = (
        fast(int(n) + int(k) // 2, True) for n, k in zip(image_shape, kernel_shape, strict=True)
    )
    return (p0, p1, p2)


def _wrap_along(
    source: NDArray[Any], axis: int, length: int, dtype: type[np.generic]
) -> NDArray[Any]:
    """``source`` zero padded to ``length`` along ``axis`` with its centre moved to index 0."""
    size = source.shape[axis]
    half = size // 2
    shape = list(source.shape)
    shape[axis] = length
    out = np.zeros(shape, dtype=dtype)
    head = [slice(None)] * source.ndim
    tail = [slice(None)] * source.ndim
    head[axis], tail[axis] = slice(0, size - half), slice(half, size)
    out[tuple(head)] = source[tuple(tail)]
    if half:
        head[axis], tail[axis] = slice(length - half, length), slice(0, half)
        out[tuple(head)] = source[tuple(tail)]
    return out


def _kernel_spectrum(
    kernel: NDArray[np.float32], shape: tuple[int, int, int], workers: int
) -> NDArray[Any]:
    """rfftn of the kernel wrapped to ``shape``, axis by axis on its non-zero rows only.

    Returned as float32 (the real part) when the kernel is point-symmetric within
    ``KERNEL_SYMMETRY_TOLERANCE``, else as complex64. Cached (content digest, shape, dtype).
    """
    key = (
        hashlib.blake2b(kernel.tobytes(), digest_size=16).hexdigest(),
        kernel.shape,
        shape,
        "float32",
    )
    with _spectra_lock:
        cached = _spectra.get(key)
        if cached is not None:
            _spectra.move_to_end(key)
            return cached
    step = scipy.fft.rfft(_wrap_along(kernel, 2, shape[2], np.float32), axis=2, workers=workers)
    step = _wrap_along(step, 1, shape[1], np.complex64)
    step = scipy.fft.fft(step, axis=1, overwrite_x=True, workers=workers)
    step = _wrap_along(step, 0, shape[0], np.complex64)
    spectrum: NDArray[Any] = scipy.fft.fft(step, axis=0, overwrite_x=True, workers=workers)
    del step
    peak = float(np.abs(kernel).max()) if kernel.size else 0.0
    odd = float(np.abs(kernel - kernel[::-1, ::-1, ::-1]).max()) / 2 if kernel.size else 0.0
    if odd <= KERNEL_SYMMETRY_TOLERANCE * peak:
        spectrum = np.ascontiguousarray(spectrum.real, dtype=np.float32)
    spectrum.flags.writeable = False
    if spectrum.nbytes <= SPECTRUM_CACHE_MAX_BYTES:
        with _spectra_lock:
            _spectra[key] = spectrum
            total = sum(value.nbytes for value in _spectra.values())
            while total > SPECTRUM_CACHE_MAX_BYTES:
                _, dropped = _spectra.popitem(last=False)
                total -= dropped.nbytes
    return spectrum


def clear_spectrum_cache() -> None:
    """Forget the kernel spectra kept by :func:`fft_convolve_nonnegative`."""
    with _spectra_lock:
        _spectra.clear()


def _resolve_workers(workers: int | None) -> int:
    """Thread count for scipy.fft: ``None`` or -1 every core, -2 all but one, n >= 1 n."""
    cores = os.cpu_count() or 1
    if workers is None:
        return cores
    if isinstance(workers, bool) or not isinstance(workers, int | np.integer) or workers == 0:
        raise InputError("workers", workers, "a thread count >= 1, or -1 for every core")
    return int(workers) if workers > 0 else max(1, cores + 1 + int(workers))


def _chunk_starts(start: int, stop: int, plane_voxels: int) -> list[tuple[int, int]]:
    """Plane ranges [z0, z1) of about ``_CHUNK_VOXELS`` voxels covering [start, stop)."""
    step = max(1, _CHUNK_VOXELS // max(1, plane_voxels))
    return [(z0, min(stop, z0 + step)) for z0 in range(start, stop, step)]


def fft_convolve_nonnegative(
    image: NDArray[np.floating],
    kernel: NDArray[np.floating],
    *,
    workers: int | None = None,
) -> NDArray[np.float32]:
    """Linear 3-D convolution of a non-negative image with a non-negative kernel, exact zeros.

    Output of the image's shape, kernel centred (odd sizes), as :func:`fft_convolve_same`,
    with four differences that make it the DVK engine's fast path:

    - the whole grid in one transform, of the smallest size with no wrap-around
      (:func:`padded_shape`), taken axis by axis over the rows that can be non-zero
      only: rows outside the active voxels' bounding box (widened by the kernel's
      half-width on the way back) are not transformed;
    - the kernel's spectrum is cached (by content digest, padded shape and dtype, at most
      ``SPECTRUM_CACHE_MAX_BYTES``), real float32 for a point-symmetric kernel;
    - every core by default;
    - FFT round-off is cleared where the exact result is known: negative values become 0,
      and so does every voxel beyond the kernel's half-width (on some axis) of every
      non-zero image voxel (:func:`y90dose.voxel.reach.box_dilate`), where the exact
      convolution is 0.

    Float32 throughout (image, spectrum, transforms): the round-off is about 1e-6 of the
    largest value.

    Parameters
    ----------
    image
        3-D array >= 0 (cast to float32 chunk by chunk).
    kernel
        3-D array >= 0 with odd sizes; its centre is the zero offset.
    workers
        FFT threads: ``None`` (default) or -1 every core, n >= 1 that many.

    Returns
    -------
    numpy.ndarray
        float32 array of the image's shape.

    Raises
    ------
    InputError
        Not 3-D, negative or non-finite values, even kernel sizes, workers 0.

    Examples
    --------
    >>> image = np.zeros((5, 5, 9), dtype=np.float32); image[2, 2, 1] = 2.0
    >>> out = fft_convolve_nonnegative(image, np.ones((3, 3, 3), dtype=np.float32))
    >>> out[2, 2, :5].round(5).tolist(), int(np.count_nonzero(out[:, :, 3:]))
    ([2.0, 2.0, 2.0, 0.0, 0.0], 0)
    """
    threads = _resolve_workers(workers)
    for name, array in (("image", image), ("kernel", kernel)):
        if np.ndim(array) != 3:
            raise InputError(name, f"array of shape {np.shape(array)}", "a 3-D array (z, y, x)")
    if any(size % 2 == 0 for size in kernel.shape):
        raise InputError("kernel", f"shape {kernel.shape}", "odd sizes on every axis")
    weights = np.ascontiguousarray(kernel, dtype=np.float32)
    for name, array in (("image", image), ("kernel", weights)):
        if array.size and not (math.isfinite(float(np.max(array))) and float(np.min(array)) >= 0.0):
            raise InputError(name, "negative, NaN or infinite values", "finite values >= 0")
    return _convolve_nonnegative(image, weights, threads)


def _convolve_nonnegative(
    image: NDArray[np.floating], weights: NDArray[np.float32], threads: int
) -> NDArray[np.float32]:
    """:func:`fft_convolve_nonnegative` on checked arguments (float32 C-ordered kernel)."""
    n0, n1, n2 = image.shape
    h0, h1, h2 = (size // 2 for size in weights.shape)
    out = np.zeros(image.shape, dtype=np.float32)
    if image.size == 0:
        return out
    active = image > 0
    nonzero_z = np.flatnonzero(np.any(active, axis=(1, 2)))
    if nonzero_z.size == 0:
        return out
    z_lo, z_hi = int(nonzero_z[0]), int(nonzero_z[-1]) + 1
    nonzero_y = np.flatnonzero(np.any(active[z_lo:z_hi], axis=(0, 2)))
    y_lo, y_hi = int(nonzero_y[0]), int(nonzero_y[-1]) + 1
    nonzero_x = np.flatnonzero(np.any(active[z_lo:z_hi, y_lo:y_hi], axis=(0, 1)))
    x_lo, x_hi = int(nonzero_x[0]), int(nonzero_x[-1]) + 1
    # output voxels within reach of the box; all others stay exactly 0
    oz_lo, oz_hi = max(0, z_lo - h0), min(n0, z_hi + h0)
    oy_lo, oy_hi = max(0, y_lo - h1), min(n1, y_hi + h1)
    ox_lo, ox_hi = max(0, x_lo - h2), min(n2, x_hi + h2)
    # and inside it the voxels within reach of an active voxel (before the FFT buffers, so
    # that the dilation's temporaries do not add to the peak memory)
    reach = box_dilate(active[oz_lo:oz_hi, oy_lo:oy_hi, ox_lo:ox_hi], (h0, h1, h2))
    del active

    p0, p1, p2 = padded_shape(image.shape, weights.shape)
    spectrum = _kernel_spectrum(weights, (p0, p1, p2), threads)
    buffer = np.zeros((p0, p1, p2 // 2 + 1), dtype=np.complex64)
    # forward: along x on the box's rows, along y on its planes, along z everywhere
    for z0, z1 in _chunk_starts(z_lo, z_hi, (y_hi - y_lo) * p2):
        rows = np.zeros((z1 - z0, y_hi - y_lo, p2), dtype=np.float32)
        rows[:, :, x_lo:x_hi] = image[z0:z1, y_lo:y_hi, x_lo:x_hi]
        buffer[z0:z1, y_lo:y_hi] = scipy.fft.rfft(rows, axis=2, overwrite_x=True, workers=threads)
    del rows
    scipy.fft.fft(buffer[z_lo:z_hi], axis=1, overwrite_x=True, workers=threads)
    scipy.fft.fft(buffer, axis=0, overwrite_x=True, workers=threads)
    np.multiply(buffer, spectrum, out=buffer)
    # back: along z everywhere, along y on the output planes, along x on the output rows,
    # where negative round-off and voxels beyond reach are set to exactly 0
    scipy.fft.ifft(buffer, axis=0, overwrite_x=True, workers=threads)
    scipy.fft.ifft(buffer[oz_lo:oz_hi], axis=1, overwrite_x=True, workers=threads)
    for z0, z1 in _chunk_starts(oz_lo, oz_hi, (oy_hi - oy_lo) * p2):
        real = scipy.fft.irfft(buffer[z0:z1, oy_lo:oy_hi], n=p2, axis=2, workers=threads)
        np.maximum(
            real[:, :, ox_lo:ox_hi],
            0.0,
            out=out[z0:z1, oy_lo:oy_hi, ox_lo:ox_hi],
            where=reach[z0 - oz_lo : z1 - oz_lo],
        )
    return out


def _joules_per_gbq_of_kernel(kernel: VoxelKernel, half_life_h: float) -> float:
    """Energy the kernel deposits per GBq decayed to completion, J/GBq."""
    decays_per_gbq = 1e9 * half_life_h * SECONDS_PER_HOUR / math.log(2.0)
    return kernel.total_energy_mev_per_decay * J_PER_MEV.value * decays_per_gbq


def _divide_by_mass(
    energy_j: NDArray[np.float32],
    density_g_ml: float | NDArray[np.floating],
    spacing_zyx_mm: tuple[float, float, float],
) -> None:
    """energy / voxel mass in place (J -> Gy); a density map chunk by chunk, in float64."""
    if not isinstance(density_g_ml, np.ndarray):
        # a Python float: divided in float32 (the mass rounded to float32, 6e-8 relative)
        np.divide(energy_j, float(voxel_mass_kg(density_g_ml, spacing_zyx_mm)), out=energy_j)
        return
    for z0, z1 in _chunk_starts(0, energy_j.shape[0], energy_j[0].size):
        mass = voxel_mass_kg(density_g_ml[z0:z1].astype(np.float64), spacing_zyx_mm)
        np.divide(energy_j[z0:z1], mass, out=energy_j[z0:z1], casting="same_kind")


def _sum_by_chunks(array: NDArray[Any]) -> float:
    """Sum of an array, pairwise in its own dtype within ~1 M-voxel chunks, added in float64.

    As exact as a float64 sum to ~1e-7 relative for float32 data, at a third of its cost
    (no conversion of every voxel to float64).
    """
    if array.ndim == 0 or array.size == 0:
        return float(array.sum())
    total = 0.0
    for z0, z1 in _chunk_starts(0, array.shape[0], array[0].size):
        total += float(array[z0:z1].sum())
    return total


def dvk_dose(
    activity_gbq: ArrayLike,
    *,
    spacing_zyx_mm: float | Sequence[float],
    density_g_ml: float | ArrayLike = LIVER_DENSITY_G_ML.value,
    energy_j_per_gbq: float = ENERGY_EANM_J_PER_GBQ.value,
    kernel: VoxelKernel | KernelSource | str = KernelSource.AUTO,
    tissue: Tissue | str = Tissue.SOFT,
    kernel_source: KernelSource | str | None = None,
    normalisation: DvkNormalisation | str = DvkNormalisation.ENERGY_CONSTANT,
    half_life_h: float = Y90_HALF_LIFE_H.value,
    workers: int | None = None,
) -> VoxelDoseResult:
    """Voxel dose by convolving the activity with a dose-voxel kernel (FFT).

    Parameters
    ----------
    activity_gbq
        Activity per voxel at implantation, GBq (3-D, axes z, y, x), >= 0.
    spacing_zyx_mm
        Voxel size (z, y, x) mm, or one number.
    density_g_ml
        One density or a map of the image's shape (g/mL, > 0): the dose in a voxel is
        the energy it receives divided by its own mass. Default 1.03 g/mL (liver).
    energy_j_per_gbq
        C, J per GBq decayed to completion (default 49.67, EANM 2022).
    kernel
        ``"auto"`` (default), ``"dpk"`` or ``"lanconelli"``: the kernel
        ``voxel_kernel(spacing_zyx_mm, tissue, kernel)`` (auto: Lanconelli 2012 at its tabulated
        sizes, else the integrated Graves DPK); or a :class:`VoxelKernel`, whose voxel size
        must match ``spacing_zyx_mm`` within 0.01 mm.
    tissue
        Kernel medium when ``kernel`` is a source name: ``"soft"`` (default) or ``"bone"``.
    kernel_source
        The source name given under this keyword instead of ``kernel`` (kept for callers
        written against the first version); giving both, differently, is refused.
    normalisation
        ``"energy_constant"`` (default): the kernel distributes exactly C per GBq;
        ``"kernel"``: the kernel's own energy per decay with ``half_life_h``. See the
        module docstring.
    half_life_h
        Y-90 half-life for ``normalisation="kernel"``, h.
    workers
        FFT threads: ``None`` (default) or -1 every core, n >= 1 that many.

    Returns
    -------
    VoxelDoseResult
        Dose in Gy (float32), energy deposited in the grid, kernel provenance, warnings.

    Raises
    ------
    InputError
        Negative/non-finite activity, density <= 0, C <= 0, unknown option.
    GeometryError
        A given kernel's voxel size does not match the image's spacing.

    Examples
    --------
    >>> a = np.zeros((21, 21, 21)); a[10, 10, 10] = 1.0
    >>> r = dvk_dose(a, spacing_zyx_mm=4.8, energy_j_per_gbq=50.0)
    >>> round(r.deposited_energy_j, 3)  # all of C x A stays in the grid (float32)
    50.0
    """
    activity = check_volume(activity_gbq, field="activity_gbq")
    spacing = check_spacing_zyx_mm(spacing_zyx_mm)
    density = check_density(density_g_ml, activity.shape, keep_dtype=True)
    constant = check_energy_constant(energy_j_per_gbq)
    try:
        mode = DvkNormalisation(normalisation)
    except ValueError:
        raise InputError(
            "normalisation", normalisation, "one of 'energy_constant', 'kernel'"
        ) from None
    if kernel_source is not None:
        if isinstance(kernel, VoxelKernel) or str(kernel) not in (
            KernelSource.AUTO.value,
            str(kernel_source),
        ):
            raise InputError(
                "kernel_source", kernel_source, "either 'kernel' or 'kernel_source', not both"
            )
        kernel = kernel_source
    if not isinstance(kernel, VoxelKernel):
        kernel = voxel_kernel(spacing, tissue, kernel)
    if any(
        abs(a - b) > KERNEL_SPACING_TOLERANCE_MM
        for a, b in zip(kernel.voxel_size_zyx_mm, spacing, strict=True)
    ):
        raise GeometryError(
            f"kernel: voxel size {kernel.voxel_size_zyx_mm} mm does not match the image "
            f"spacing_zyx_mm {spacing} (tolerance {KERNEL_SPACING_TOLERANCE_MM} mm per axis)"
        )
    kernel_j_per_gbq = _joules_per_gbq_of_kernel(kernel, half_life_h)
    deposited_j_per_gbq = constant if mode is DvkNormalisation.ENERGY_CONSTANT else kernel_j_per_gbq
    weights = (kernel.energy_fraction() * deposited_j_per_gbq).astype(np.float32)

    # every core by default; negative round-off and voxels beyond the kernel's reach of every
    # active voxel are exactly 0 (the exact convolution is 0 there)
    if float(weights.min()) < 0.0:
        raise InputError("kernel", "negative S values", "S values >= 0")
    energy_j = _convolve_nonnegative(activity, weights, _resolve_workers(workers))
    deposited_j = _sum_by_chunks(energy_j)
    _divide_by_mass(energy_j, density, spacing)
    dose = energy_j

    warnings: list[str] = []
    low_density = 0
    limit = KERNEL_LOW_DENSITY_WARNING_G_ML.value
    if isinstance(density, np.ndarray):
        low_density = int(np.count_nonzero((density < limit) & (dose > 0)))
    elif density < limit:
        low_density = int(np.count_nonzero(dose > 0))
    if low_density:
        warnings.append(
            f"{low_density} voxel(s) receiving dose have density < {limit:g} g/mL (lung or "
            f"air): the {kernel.tissue.value}-tissue kernel is inaccurate there (energy is "
            "spread with tissue ranges and divided by the small local mass, without "
            "transport correction)"
        )
    warnings.extend(kernel.notes)
    info: dict[str, Any] = {
        "source": kernel.source.value,
        "tissue": kernel.tissue.value,
        "voxel_size_zyx_mm": list(kernel.voxel_size_zyx_mm),
        "density_g_ml": kernel.density_g_ml,
        "kernel_energy_mev_per_decay": kernel.total_energy_mev_per_decay,
        "kernel_energy_j_per_gbq": kernel_j_per_gbq,
        "normalisation": mode.value,
        "kernel_scale_factor": deposited_j_per_gbq / kernel_j_per_gbq,
        "half_life_h": half_life_h,
        "reference": kernel.reference,
    }
    return VoxelDoseResult(
        dose_gy=dose,
        spacing_zyx_mm=spacing,
        method=VoxelDoseMethod.DVK,
        energy_j_per_gbq=deposited_j_per_gbq,
        administered_in_image_gbq=_sum_by_chunks(activity),
        deposited_energy_j=deposited_j,
        kernel=info,
        warnings=tuple(warnings),
        low_density_voxels=low_density,
    )
