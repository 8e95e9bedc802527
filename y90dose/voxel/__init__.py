"""Voxel dosimetry: kernels, local deposition, DVK convolution, densities, activity maps.

Arrays are plain numpy arrays in (z, y, x) axis order with ``spacing_zyx_mm`` in the same
order; the imaging module turns images into such arrays.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from y90dose._lazy import lazy_exports

if TYPE_CHECKING:  # imported on first use (see lazy_exports)
    from y90dose.voxel.activity import (
        ActivityMap,
        ActivityMethod,
        activity_from_concentration,
        activity_from_counts,
        activity_predictive_from_maa,
    )
    from y90dose.voxel.convolution import (
        DvkNormalisation,
        cumulated_activity_mbq_s,
        dvk_dose,
        fft_convolve_nonnegative,
        fft_convolve_same,
    )
    from y90dose.voxel.density import (
        DEFAULT_HU_DENSITY_CURVE,
        DensityMap,
        HuDensityCurve,
        hu_to_density,
    )
    from y90dose.voxel.heterogeneous import heterogeneous_dose, media_of_density
    from y90dose.voxel.kernels import (
        LANCONELLI_TABLES,
        KernelSource,
        Tissue,
        VoxelKernel,
        cache_dir,
        clear_memory_cache,
        dpk_voxel_kernel,
        lanconelli_kernel,
        load_graves_dpk,
        voxel_kernel,
    )
    from y90dose.voxel.ldm import ldm_dose
    from y90dose.voxel.result import VoxelDoseMethod, VoxelDoseResult

_EXPORTS: dict[str, tuple[str, ...]] = {
    "activity": (
        "ActivityMap",
        "ActivityMethod",
        "activity_from_concentration",
        "activity_from_counts",
        "activity_predictive_from_maa",
    ),
    "convolution": (
        "DvkNormalisation",
        "cumulated_activity_mbq_s",
        "dvk_dose",
        "fft_convolve_nonnegative",
        "fft_convolve_same",
    ),
    "density": (
        "DEFAULT_HU_DENSITY_CURVE",
        "DensityMap",
        "HuDensityCurve",
        "hu_to_density",
    ),
    "heterogeneous": (
        "heterogeneous_dose",
        "media_of_density",
    ),
    "kernels": (
        "LANCONELLI_TABLES",
        "KernelSource",
        "Tissue",
        "VoxelKernel",
        "cache_dir",
        "clear_memory_cache",
        "dpk_voxel_kernel",
        "lanconelli_kernel",
        "load_graves_dpk",
        "voxel_kernel",
    ),
    "ldm": ("ldm_dose",),
    "result": (
        "VoxelDoseMethod",
        "VoxelDoseResult",
    ),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "DEFAULT_HU_DENSITY_CURVE",
    "LANCONELLI_TABLES",
    "ActivityMap",
    "ActivityMethod",
    "DensityMap",
    "DvkNormalisation",
    "HuDensityCurve",
    "KernelSource",
    "Tissue",
    "VoxelDoseMethod",
    "VoxelDoseResult",
    "VoxelKernel",
    "activity_from_concentration",
    "activity_from_counts",
    "activity_predictive_from_maa",
    "cache_dir",
    "clear_memory_cache",
    "cumulated_activity_mbq_s",
    "dpk_voxel_kernel",
    "dvk_dose",
    "fft_convolve_nonnegative",
    "fft_convolve_same",
    "heterogeneous_dose",
    "hu_to_density",
    "lanconelli_kernel",
    "ldm_dose",
    "load_graves_dpk",
    "media_of_density",
    "voxel_kernel",
]
