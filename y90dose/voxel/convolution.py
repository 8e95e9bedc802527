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

import math
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

import numpy as np
import scipy.fft
import scipy.ndimage
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
from y90dose.voxel._checks import check_density, check_spacing_mm, check_volume
from y90dose.voxel.kernels import KernelSource, Tissue, VoxelKernel, voxel_kernel
from y90dose.voxel.ldm import check_energy_constant, voxel_mass_kg
from y90dose.voxel.result import VoxelDoseMethod, VoxelDoseResult

__all__ = [
    "DvkNormalisation",
    "cumulated_activity_mbq_s",
    "dvk_dose",
    "fft_convolve_same",
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


def _joules_per_gbq_of_kernel(kernel: VoxelKernel, half_life_h: float) -> float:
    """Energy the kernel deposits per GBq decayed to completion, J/GBq."""
    decays_per_gbq = 1e9 * half_life_h * SECONDS_PER_HOUR / math.log(2.0)
    return kernel.total_energy_mev_per_decay * J_PER_MEV.value * decays_per_gbq


def dvk_dose(
    activity_gbq: ArrayLike,
    *,
    spacing_mm: float | Sequence[float],
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
    spacing_mm
        Voxel size (z, y, x) mm, or one number.
    density_g_ml
        One density or a map of the image's shape (g/mL, > 0): the dose in a voxel is
        the energy it receives divided by its own mass. Default 1.03 g/mL (liver).
    energy_j_per_gbq
        C, J per GBq decayed to completion (default 49.67, EANM 2022).
    kernel
        ``"auto"`` (default), ``"dpk"`` or ``"lanconelli"``: the kernel
        ``voxel_kernel(spacing_mm, tissue, kernel)`` (auto: Lanconelli 2012 at its tabulated
        sizes, else the integrated Graves DPK); or a :class:`VoxelKernel`, whose voxel size
        must match ``spacing_mm`` within 0.01 mm.
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
        FFT threads (``None``: 1).

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
    >>> r = dvk_dose(a, spacing_mm=4.8, energy_j_per_gbq=50.0)
    >>> round(r.deposited_energy_j, 3)  # all of C x A stays in the grid (float32)
    50.0
    """
    activity = check_volume(activity_gbq, field="activity_gbq")
    spacing = check_spacing_mm(spacing_mm)
    density = check_density(density_g_ml, activity.shape)
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
        for a, b in zip(kernel.voxel_size_mm, spacing, strict=True)
    ):
        raise GeometryError(
            f"kernel: voxel size {kernel.voxel_size_mm} mm does not match the image "
            f"spacing_mm {spacing} (tolerance {KERNEL_SPACING_TOLERANCE_MM} mm per axis)"
        )
    kernel_j_per_gbq = _joules_per_gbq_of_kernel(kernel, half_life_h)
    deposited_j_per_gbq = constant if mode is DvkNormalisation.ENERGY_CONSTANT else kernel_j_per_gbq
    weights = (kernel.energy_fraction() * deposited_j_per_gbq).astype(np.float32)

    energy_j = fft_convolve_same(activity, weights, workers=workers)
    # FFT round-off (~1e-7 of the peak) is spread over the whole grid: clear it below zero
    # and outside the kernel's reach of any active voxel, where the exact result is 0
    np.maximum(energy_j, 0.0, out=energy_j)
    outside = scipy.ndimage.maximum_filter(
        activity > 0, size=weights.shape, mode="constant", cval=False
    )
    np.logical_not(outside, out=outside)
    energy_j[outside] = 0.0
    del outside
    deposited_j = float(energy_j.sum(dtype=np.float64))
    energy_j /= np.asarray(voxel_mass_kg(density, spacing), dtype=np.float64)
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
        "voxel_size_mm": list(kernel.voxel_size_mm),
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
        spacing_mm=spacing,
        method=VoxelDoseMethod.DVK,
        energy_j_per_gbq=deposited_j_per_gbq,
        administered_in_image_gbq=float(activity.sum(dtype=np.float64)),
        deposited_energy_j=deposited_j,
        kernel=info,
        warnings=tuple(warnings),
        low_density_voxels=low_density,
    )
