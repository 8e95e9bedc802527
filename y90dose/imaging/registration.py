"""Image registration (SimpleITK): rigid CT-to-CT by mutual information, optional B-spline.

Three steps, kept apart (load, compute, write):

- :func:`register` (pure): a fixed and a moving :class:`~y90dose.imaging.image.Image` in,
  a :class:`RegistrationResult` out (transform, metric, iterations per level, stop
  condition, elapsed time, quality measures and the reasons it failed, if it did). No file.
- :func:`write_transform` and :func:`write_quality_figure`: the ``.tfm`` file and the PNG.
- :func:`carry_mask` / :func:`carry_vois` and :func:`resample_through`: VOIs and images of
  the moving study on the fixed study's grid, through the transform.

**Transform convention (ITK).** ``result.transform`` maps physical points (mm, LPS) of the
FIXED image to the corresponding points of the MOVING image: ``q = T(p)`` means the
anatomy at fixed point ``p`` is at moving point ``q``. That is the direction resampling
needs (each fixed voxel looks up its value in the moving image), and the direction ITK,
SimpleITK, 3D Slicer (as a "transform from parent") and elastix write to file. To move a
*point* of the moving image into the fixed image, use ``T.GetInverse()`` (rigid only).

**Method.** Rigid stage: 6 degrees of freedom (:class:`SimpleITK.Euler3DTransform`, 3
rotations about the fixed image's centre and 3 translations), started by
:class:`SimpleITK.CenteredTransformInitializer` in ``GEOMETRY`` mode (the two image centres
aligned, no rotation: different frames of reference may be hundreds of mm apart), Mattes
mutual information (Mattes et al., IEEE TMI 2003;22:120), regular-step gradient descent
with parameter scales from physical shift, multi-resolution pyramid (shrink factors 4, 2,
1 with Gaussian smoothing of 2, 1, 0 voxels by default). Optional B-spline stage
(``deformable=True``): a free-form deformation (Rueckert et al., IEEE TMI 1999;18:712) on
a control-point mesh of ``bspline_mesh_spacing_mm``, composed after the rigid transform,
optimised by L-BFGS-B on the same metric. The B-spline stage is meant for *carrying VOIs*
from a diagnostic CT or MR; it is not checked against known deformations beyond the
tests in ``tests/test_imaging_registration.py``.

**When a registration is reported as failed** (``result.succeeded`` is False and
``result.failures`` says why; :func:`write_transform` then refuses to write it):

- a stage stopped because it reached its iteration limit at the finest level (it did not
  converge);
- the overlap of the fixed region (mask, or whole image) with the moving image is below
  ``min_overlap_fraction`` of the smaller of the two volumes;
- the normalised mutual information after registration (Studholme et al., Pattern Recogn
  1999;32:71; 1 = independent images, 2 = identical) is below ``min_nmi``.

Examples
--------
>>> result = register(ct_planning, ct_followup)  # doctest: +SKIP
>>> result.succeeded, result.metric, result.iterations  # doctest: +SKIP
(True, -0.92, {'rigid': [41, 23, 12]})
>>> write_transform(result, "followup_to_planning.tfm")  # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import SimpleITK as sitk  # noqa: N813

from y90dose.errors import InputError, RegistrationError
from y90dose.imaging.image import Grid, Image
from y90dose.imaging.resample import resample_mask
from y90dose.imaging.vois import EmptyVoiError, Vois

BoolArray = npt.NDArray[np.bool_]

MIN_VOXELS_PER_AXIS = 8
"""Fewest voxels along each of x, y, z for an image to be registered (3-D, not a slice)."""

QUALITY_MAX_VOXELS = 1_000_000
"""Voxels of the coarse grid on which the quality measures are computed (speed only)."""

NMI_BINS = 64
"""Histogram bins per image for the normalised mutual information."""


@dataclass(frozen=True, kw_only=True)
class RegistrationOptions:
    """How :func:`register` runs and when it calls a registration failed.

    Parameters
    ----------
    deformable
        Add a B-spline stage after the rigid one (for carrying VOIs from a diagnostic CT
        or MR; dose is never resampled through a deformation by this module).
    shrink_factors, smoothing_sigmas_voxels
        The multi-resolution pyramid of the rigid stage: one shrink factor and one
        Gaussian sigma (in voxels of the level) per level, coarse to fine. Defaults 4, 2,
        1 and 2, 1, 0: the usual SimpleITK/ITK pyramid; the coarse levels find the
        capture range, the finest the last millimetre.
    histogram_bins
        Bins of the Mattes mutual information (default 50, ITK's examples and the
        SimpleITK notebooks).
    metric_samples
        Voxels of the region (fixed mask, or image) sampled at random (seeded) per level
        to evaluate the metric; all voxels of a level that has fewer. 20 000 (8 per joint
        histogram bin) recovers known transforms to < 0.5 mm mean TRE on the tests' phantom
        and the STS CT; 40 000 or 100 000 were no more accurate and 1.6 to 3 times slower
        (docs/registration.md).
    seed
        Seed of the metric sampling: the same images and options give the same result.
    max_iterations
        Iteration limit per level of the rigid stage; a finest level that reaches it has
        not converged and the registration is reported failed.
    learning_rate_mm, min_step_mm
        First and smallest step of the gradient descent, in mm of largest voxel shift
        (the parameters are scaled by physical shift): 2 mm and 0.01 mm.
    bspline_mesh_spacing_mm
        Control-point spacing of the B-spline stage (default 60 mm: organ-scale
        deformation, not voxel-scale).
    bspline_shrink_factors, bspline_smoothing_sigmas_voxels, bspline_max_iterations
        Pyramid and iteration limit of the B-spline stage: one level at half resolution
        (organ-scale deformation needs no finer; the full-resolution level tripled the
        time without improving the tests' VOI overlap), 150 L-BFGS-B iterations.
    min_overlap_fraction
        Smallest overlap (volume of the fixed region that maps inside the moving image,
        over the smaller of the fixed region's and the moving image's volumes) accepted.
        Default 0.5: below it the similarity rests on less than half of what could be
        compared.
    min_nmi
        Smallest normalised mutual information after registration accepted (1 for
        independent images). Default 1.15: two CTs of one anatomy registered to < 1 mm
        score 1.25 or more on the tests' phantom and on the STS CT, while a misregistered
        or unrelated pair scores below 1.1 (docs/registration.md).

    Raises
    ------
    InputError
        If a value is out of range (the message names the field).
    """

    deformable: bool = False
    shrink_factors: tuple[int, ...] = (4, 2, 1)
    smoothing_sigmas_voxels: tuple[float, ...] = (2.0, 1.0, 0.0)
    histogram_bins: int = 50
    metric_samples: int = 20_000
    seed: int = 20240601
    max_iterations: int = 300
    learning_rate_mm: float = 2.0
    min_step_mm: float = 0.01
    bspline_mesh_spacing_mm: float = 60.0
    bspline_shrink_factors: tuple[int, ...] = (2,)
    bspline_smoothing_sigmas_voxels: tuple[float, ...] = (1.0,)
    bspline_max_iterations: int = 150
    min_overlap_fraction: float = 0.5
    min_nmi: float = 1.15

    def __post_init__(self) -> None:
        for name, factors, sigmas in (
            ("shrink_factors", self.shrink_factors, self.smoothing_sigmas_voxels),
            (
                "bspline_shrink_factors",
                self.bspline_shrink_factors,
                self.bspline_smoothing_sigmas_voxels,
            ),
        ):
            if not factors or any(int(f) != f or f < 1 for f in factors):
                raise InputError(name, factors, "one or more integers >= 1, coarse to fine")
            sigma_name = name.replace("shrink_factors", "smoothing_sigmas_voxels")
            if len(sigmas) != len(factors) or any(not s >= 0 for s in sigmas):
                raise InputError(
                    sigma_name, sigmas, f"{len(factors)} numbers >= 0, one per shrink factor"
                )
        positive_ints = {
            "histogram_bins": (self.histogram_bins, 8),
            "metric_samples": (self.metric_samples, 1000),
            "max_iterations": (self.max_iterations, 1),
            "bspline_max_iterations": (self.bspline_max_iterations, 1),
        }
        for name, (value, low) in positive_ints.items():
            if int(value) != value or value < low:
                raise InputError(name, value, f"an integer >= {low}")
        for name, length_mm in (
            ("learning_rate_mm", self.learning_rate_mm),
            ("min_step_mm", self.min_step_mm),
            ("bspline_mesh_spacing_mm", self.bspline_mesh_spacing_mm),
        ):
            if not (math.isfinite(length_mm) and length_mm > 0):
                raise InputError(name, length_mm, "a number > 0 mm")
        if not 0.0 <= self.min_overlap_fraction <= 1.0:
            raise InputError("min_overlap_fraction", self.min_overlap_fraction, "0 to 1")
        if not 1.0 <= self.min_nmi <= 2.0:
            raise InputError("min_nmi", self.min_nmi, "a normalised mutual information, 1 to 2")


@dataclass(frozen=True, kw_only=True)
class StageResult:
    """One stage (``rigid`` or ``bspline``) of a registration."""

    name: Literal["rigid", "bspline"]
    metric: float
    """Mattes mutual information at the end (negative; lower is better)."""
    iterations: tuple[int, ...]
    """Iterations run at each level, coarse to fine."""
    max_iterations: int
    stop_condition: str
    """The optimizer's own words on why the finest level stopped."""
    elapsed_s: float

    @property
    def converged(self) -> bool:
        """False when the finest level stopped at its iteration limit."""
        return self.iterations[-1] < self.max_iterations and (
            "maximum number of iterations" not in self.stop_condition.lower()
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary."""
        return {
            "metric": self.metric,
            "iterations": list(self.iterations),
            "max_iterations": self.max_iterations,
            "converged": self.converged,
            "stop_condition": self.stop_condition,
            "elapsed_s": round(self.elapsed_s, 3),
        }


@dataclass(frozen=True, kw_only=True)
class RegistrationQuality:
    """How well the registered images agree, computed on a coarse copy of the fixed grid.

    ``nmi_*`` is Studholme's normalised mutual information (H(F) + H(M)) / H(F, M) over
    the fixed region that maps inside the moving image: 1 for independent images, 2 for
    identical ones; ``initial`` is after centring only, ``final`` after registration.
    """

    nmi_initial: float
    nmi_final: float
    overlap_fraction: float
    """Overlap volume / the smaller of the fixed region's and the moving image's volumes."""
    overlap_ml: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary."""
        return {
            "nmi_initial": round(self.nmi_initial, 4),
            "nmi_final": round(self.nmi_final, 4),
            "overlap_fraction": round(self.overlap_fraction, 4),
            "overlap_ml": round(self.overlap_ml, 1),
        }


@dataclass(frozen=True, kw_only=True)
class RegistrationResult:
    """What :func:`register` found. ``transform`` maps FIXED points to MOVING points (ITK)."""

    transform: sitk.Transform
    stages: tuple[StageResult, ...]
    quality: RegistrationQuality
    failures: tuple[str, ...]
    elapsed_s: float
    fixed_grid: Grid
    moving_grid: Grid
    options: RegistrationOptions
    used_fixed_mask: bool
    initial_transform: sitk.Transform = field(repr=False)
    """The centring transform the optimisation started from (for the quality figure)."""

    @property
    def succeeded(self) -> bool:
        """True when no failure check fired (see the module docstring)."""
        return not self.failures

    @property
    def metric(self) -> float:
        """The last stage's final Mattes mutual information (negative; lower is better)."""
        return self.stages[-1].metric

    @property
    def iterations(self) -> dict[str, list[int]]:
        """Stage name -> iterations per level."""
        return {s.name: list(s.iterations) for s in self.stages}

    @property
    def kind(self) -> str:
        """``rigid`` or ``rigid+bspline``."""
        return "+".join(s.name for s in self.stages)

    def rigid_parameters(self) -> dict[str, Any]:
        """Rotation (degrees about x, y, z) and translation (mm) of the rigid stage."""
        rigid = _rigid_part(self.transform)
        angles = rigid.GetParameters()[:3]
        return {
            "rotation_deg_xyz": [round(math.degrees(a), 4) for a in angles],
            "translation_mm_xyz": [round(t, 4) for t in rigid.GetTranslation()],
            "center_mm_xyz": [round(c, 4) for c in rigid.GetCenter()],
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (no file names: the write step adds them)."""
        return {
            "status": "succeeded" if self.succeeded else "failed",
            "failures": list(self.failures),
            "kind": self.kind,
            "convention": "maps points of the fixed image to the moving image (ITK)",
            "metric": self.metric,
            "metric_name": "Mattes mutual information (negative; lower is better)",
            "iterations": self.iterations,
            "stages": {s.name: s.to_dict() for s in self.stages},
            "stop_condition": self.stages[-1].stop_condition,
            "elapsed_s": round(self.elapsed_s, 3),
            "quality": self.quality.to_dict(),
            "rigid": self.rigid_parameters(),
            "fixed_mask": self.used_fixed_mask,
            "seed": self.options.seed,
        }


def _rigid_part(transform: sitk.Transform) -> sitk.Euler3DTransform:
    if isinstance(transform, sitk.CompositeTransform):
        return sitk.Euler3DTransform(transform.GetNthTransform(0))
    return sitk.Euler3DTransform(transform)


# --- checks -------------------------------------------------------------------------------


def _check_image(image: Image, field_name: str) -> None:
    """Refuse what mutual information cannot use: a slice, non-finite or constant values."""
    nz, ny, nx = image.shape_zyx
    if min(nx, ny, nz) < MIN_VOXELS_PER_AXIS:
        raise InputError(
            field_name,
            f"an image of {nx}x{ny}x{nz} voxels (x, y, z)",
            f"a 3-D image with at least {MIN_VOXELS_PER_AXIS} voxels along each axis "
            "(a single slice or a projection cannot be registered in 3-D)",
        )
    finite = np.isfinite(image.array)
    if not finite.all():
        raise InputError(
            field_name,
            f"an image with {int((~finite).sum())} non-finite voxels (NaN or infinity)",
            "finite values everywhere",
        )
    low, high = float(image.array.min()), float(image.array.max())
    if low == high:
        raise InputError(
            field_name,
            f"an image with the single value {low} everywhere",
            "an image with structure (mutual information needs more than one value)",
        )


def _fixed_mask(mask: Image | BoolArray | None, fixed: Image) -> BoolArray | None:
    """The fixed mask on the fixed grid (nonzero = inside), or None; refuse an empty one."""
    if mask is None:
        return None
    if isinstance(mask, Image):
        inside = mask.array != 0
        if not mask.same_geometry(fixed.grid):
            inside = resample_mask(inside, mask.grid, fixed.grid)
    else:
        inside = np.asarray(mask)
        if inside.shape != fixed.shape_zyx:
            raise InputError(
                "fixed_mask", f"shape {inside.shape}", f"the fixed image's shape {fixed.shape_zyx}"
            )
        inside = inside.astype(bool)
    count = int(inside.sum())
    if count == 0:
        raise InputError(
            "fixed_mask",
            "a mask with no voxel inside the fixed image",
            "a mask with at least one nonzero voxel over the fixed image",
        )
    return inside


# --- the registration ---------------------------------------------------------------------


def _samples_per_level(voxels: int, factors: Sequence[int], samples: int) -> list[float]:
    """Sampling fraction per level so that about ``samples`` voxels of the region (the
    fixed mask's, or the image's) are drawn: ITK draws from the whole level and drops the
    draws outside the mask."""
    return [min(1.0, samples / max(1.0, voxels / f**3)) for f in factors]


def _method(
    options: RegistrationOptions,
    region_voxels: int,
    factors: Sequence[int],
    sigmas: Sequence[float],
    mask: sitk.Image | None,
) -> sitk.ImageRegistrationMethod:
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=options.histogram_bins)
    method.SetMetricSamplingStrategy(method.RANDOM)
    percentages = _samples_per_level(region_voxels, factors, options.metric_samples)
    method.SetMetricSamplingPercentagePerLevel(percentages, options.seed)
    # gradients at the sampled points only: ITK's default computes a gradient image of
    # the whole moving image at every level (3 doubles per voxel), most of the time and
    # memory on a 512x512x200 CT when only 1e5 points are sampled
    method.SetMetricUseFixedImageGradientFilter(False)
    method.SetMetricUseMovingImageGradientFilter(False)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetShrinkFactorsPerLevel([int(f) for f in factors])
    method.SetSmoothingSigmasPerLevel([float(s) for s in sigmas])
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    if mask is not None:
        method.SetMetricFixedMask(mask)
    return method


def _run(
    method: sitk.ImageRegistrationMethod, fixed: sitk.Image, moving: sitk.Image
) -> tuple[sitk.Transform, list[int], float]:
    """Execute, counting iterations per level; SimpleITK errors become RegistrationError."""
    levels: list[int] = []

    def new_level() -> None:
        levels.append(0)

    def iteration() -> None:  # L-BFGS-B signals more than once per iteration: ask its count
        if not levels:
            levels.append(0)
        levels[-1] = max(levels[-1], int(method.GetOptimizerIteration()) + 1)

    method.AddCommand(sitk.sitkMultiResolutionIterationEvent, new_level)
    method.AddCommand(sitk.sitkIterationEvent, iteration)
    started = time.perf_counter()
    try:
        transform = method.Execute(fixed, moving)
    except RuntimeError as error:
        text = str(error).strip().splitlines()
        detail = next((line for line in reversed(text) if line.strip()), "")
        raise RegistrationError(
            "the registration could not run: the moving image does not overlap the fixed "
            "image (or its mask) enough after aligning their centres. Register images of "
            f"the same part of the body, or pass a fixed mask over what both show "
            f"(SimpleITK: {detail.strip()})"
        ) from error
    return transform, levels, time.perf_counter() - started


def register(
    fixed: Image,
    moving: Image,
    *,
    fixed_mask: Image | BoolArray | None = None,
    options: RegistrationOptions | None = None,
) -> RegistrationResult:
    """Register ``moving`` onto ``fixed``: rigid, then B-spline if ``options.deformable``.

    Parameters
    ----------
    fixed
        The reference image (e.g. the CT of the post-treatment PET/CT); the result lives on
        its grid.
    moving
        The image to align to it (e.g. the CT of the MAA SPECT/CT, a diagnostic CT or MR).
    fixed_mask
        Optional region of the fixed image the metric looks at (nonzero = inside): an
        :class:`Image` (resampled onto the fixed grid by nearest neighbour if its grid
        differs; same frame of reference required) or a boolean array on the fixed grid.
        Use it when the two images cover different parts of the body (e.g. the liver).
    options
        See :class:`RegistrationOptions` (default ``RegistrationOptions()``).

    Returns
    -------
    RegistrationResult
        ``transform`` maps FIXED points (mm) to MOVING points (ITK convention); check
        ``succeeded`` (or ``failures``) before using it.

    Raises
    ------
    InputError
        If an image has fewer than 8 voxels along an axis (a slice), non-finite or
        constant values, or the mask is empty or has the wrong shape.
    RegistrationError
        If SimpleITK cannot evaluate the metric (the images do not overlap).

    Examples
    --------
    >>> result = register(fixed_ct, moving_ct)  # doctest: +SKIP
    >>> result.transform.TransformPoint((0.0, 0.0, 0.0))  # where fixed (0, 0, 0) is in moving
    ... # doctest: +SKIP
    """
    options = options or RegistrationOptions()
    _check_image(fixed, "fixed")
    _check_image(moving, "moving")
    mask = _fixed_mask(fixed_mask, fixed)
    started = time.perf_counter()
    fixed_sitk = sitk.Cast(fixed.to_sitk(), sitk.sitkFloat32)
    moving_sitk = sitk.Cast(moving.to_sitk(), sitk.sitkFloat32)
    mask_sitk = None
    if mask is not None:
        mask_sitk = sitk.GetImageFromArray(mask.astype(np.uint8))
        mask_sitk.CopyInformation(fixed_sitk)

    initial = sitk.CenteredTransformInitializer(
        fixed_sitk,
        moving_sitk,
        sitk.Euler3DTransform(),
        sitk.CenteredTransformInitializerFilter.GEOMETRY,
    )
    region_voxels = int(mask.sum()) if mask is not None else math.prod(fixed.shape_zyx)
    rigid_method = _method(
        options, region_voxels, options.shrink_factors, options.smoothing_sigmas_voxels, mask_sitk
    )
    rigid_method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=options.learning_rate_mm,
        minStep=options.min_step_mm,
        numberOfIterations=options.max_iterations,
        relaxationFactor=0.5,
        gradientMagnitudeTolerance=1e-8,
    )
    rigid_method.SetOptimizerScalesFromPhysicalShift()
    rigid_method.SetInitialTransform(sitk.Euler3DTransform(initial), inPlace=False)
    rigid, levels, elapsed = _run(rigid_method, fixed_sitk, moving_sitk)
    rigid = sitk.Euler3DTransform(_unwrap(rigid))
    stages = [
        StageResult(
            name="rigid",
            metric=float(rigid_method.GetMetricValue()),
            iterations=tuple(levels),
            max_iterations=options.max_iterations,
            stop_condition=rigid_method.GetOptimizerStopConditionDescription(),
            elapsed_s=elapsed,
        )
    ]
    transform: sitk.Transform = rigid
    if options.deformable:
        transform, stage = _bspline_stage(
            options, fixed_sitk, moving_sitk, mask_sitk, region_voxels, rigid
        )
        stages.append(stage)

    quality = _quality(fixed, moving, mask, initial, transform)
    failures = _failures(options, stages, quality)
    return RegistrationResult(
        transform=transform,
        stages=tuple(stages),
        quality=quality,
        failures=tuple(failures),
        elapsed_s=time.perf_counter() - started,
        fixed_grid=fixed.grid,
        moving_grid=moving.grid,
        options=options,
        used_fixed_mask=mask is not None,
        initial_transform=sitk.Euler3DTransform(initial),
    )


def _unwrap(transform: sitk.Transform) -> sitk.Transform:
    """The single transform inside the composite SimpleITK returns from Execute."""
    if (
        isinstance(transform, sitk.CompositeTransform)
        or transform.GetName() == "CompositeTransform"
    ):
        composite = sitk.CompositeTransform(transform)
        if composite.GetNumberOfTransforms() == 1:
            return composite.GetNthTransform(0)
    return transform


def _bspline_stage(
    options: RegistrationOptions,
    fixed: sitk.Image,
    moving: sitk.Image,
    mask: sitk.Image | None,
    region_voxels: int,
    rigid: sitk.Euler3DTransform,
) -> tuple[sitk.Transform, StageResult]:
    """B-spline on top of ``rigid``: returns rigid o bspline (fixed -> moving) and its stage."""
    extent = [n * s for n, s in zip(fixed.GetSize(), fixed.GetSpacing(), strict=True)]
    mesh = [max(1, round(e / options.bspline_mesh_spacing_mm)) for e in extent]
    bspline = sitk.BSplineTransformInitializer(fixed, mesh, order=3)
    method = _method(
        options,
        region_voxels,
        options.bspline_shrink_factors,
        options.bspline_smoothing_sigmas_voxels,
        mask,
    )
    method.SetOptimizerAsLBFGSB(
        gradientConvergenceTolerance=1e-5,
        numberOfIterations=options.bspline_max_iterations,
        maximumNumberOfCorrections=5,
        maximumNumberOfFunctionEvaluations=4 * options.bspline_max_iterations,
        costFunctionConvergenceFactor=1e7,
    )
    method.SetMovingInitialTransform(rigid)
    method.SetInitialTransform(bspline, inPlace=True)
    _, levels, elapsed = _run(method, fixed, moving)
    # ITK composes the moving initial transform after the optimised one:
    # moving point = rigid(bspline(fixed point)); CompositeTransform applies the last
    # added transform first.
    composite = sitk.CompositeTransform([rigid, bspline])
    stage = StageResult(
        name="bspline",
        metric=float(method.GetMetricValue()),
        iterations=tuple(levels),
        max_iterations=options.bspline_max_iterations,
        stop_condition=method.GetOptimizerStopConditionDescription(),
        elapsed_s=elapsed,
    )
    return composite, stage


# --- quality ------------------------------------------------------------------------------


def _coarse_grid(grid: Grid, max_voxels: int = QUALITY_MAX_VOXELS) -> Grid:
    """The same field of view with at most ``max_voxels`` voxels (a uniform coarsening)."""
    voxels = math.prod(grid.shape_zyx)
    factor = max(1.0, (voxels / max_voxels) ** (1.0 / 3.0))
    if factor == 1.0:
        return grid
    nz, ny, nx = (max(1, int(n / factor)) for n in grid.shape_zyx)
    shape = (nz, ny, nx)
    # keep the field of view: new spacing covers the same extent, centres re-placed
    sx, sy, sz = (grid.spacing_mm[a] * grid.shape_zyx[2 - a] / shape[2 - a] for a in range(3))
    spacing_xyz = (sx, sy, sz)
    first = grid.index_to_physical_mm([-0.5, -0.5, -0.5])
    offset = np.asarray(spacing_xyz) / 2.0
    origin = first + grid.direction @ offset
    ox, oy, oz = origin.tolist()
    return Grid(shape, (ox, oy, oz), spacing_xyz, grid.direction, grid.frame_of_reference_uid)


def _sample(
    image: Image, grid: Grid, transform: sitk.Transform, outside: float
) -> npt.NDArray[np.float32]:
    result = sitk.Resample(
        sitk.Cast(image.to_sitk(), sitk.sitkFloat32),
        grid.empty_sitk(),
        transform,
        sitk.sitkLinear,
        outside,
        sitk.sitkFloat32,
    )
    out: npt.NDArray[np.float32] = sitk.GetArrayFromImage(result)
    return out


def normalised_mutual_information(
    a: npt.NDArray[Any], b: npt.NDArray[Any], *, bins: int = NMI_BINS
) -> float:
    """Studholme's NMI, (H(A) + H(B)) / H(A, B), of paired samples (1 to 2).

    Each image's range (its 0.5th to 99.5th percentile, clipped) is split into ``bins``
    equal bins.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=10000)
    >>> round(normalised_mutual_information(x, x), 3)
    2.0
    >>> 1.0 <= normalised_mutual_information(x, x[::-1]) < 1.01
    True
    """
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.size == 0:
        return float("nan")

    def quantise(x: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        low, high = np.percentile(x, [0.5, 99.5])
        if high <= low:
            return np.zeros(x.shape, dtype=np.int64)
        scaled = (np.clip(x, low, high) - low) / (high - low) * bins
        return np.minimum(scaled.astype(np.int64), bins - 1)

    joint = np.bincount(quantise(a) * bins + quantise(b), minlength=bins * bins).astype(float)
    joint /= joint.sum()

    def entropy(p: npt.NDArray[np.float64]) -> float:
        p = p[p > 0]
        return float(-(p * np.log(p)).sum())

    h_joint = entropy(joint)
    grid = joint.reshape(bins, bins)
    h_a, h_b = entropy(grid.sum(axis=1)), entropy(grid.sum(axis=0))
    return 2.0 if h_joint == 0 else (h_a + h_b) / h_joint


def _quality(
    fixed: Image,
    moving: Image,
    mask: BoolArray | None,
    initial: sitk.Transform,
    final: sitk.Transform,
) -> RegistrationQuality:
    coarse = _coarse_grid(fixed.grid)
    fixed_values = _sample(fixed, coarse, sitk.Transform(), float("nan"))
    region = np.isfinite(fixed_values)
    if mask is not None:
        region &= resample_mask(mask, fixed.grid, coarse)
    voxel_ml = coarse.voxel_volume_ml
    nmi: list[float] = []
    overlap = 0
    for transform in (initial, final):
        moving_values = _sample(moving, coarse, transform, float("nan"))
        both = region & np.isfinite(moving_values)
        overlap = int(both.sum())
        nmi.append(
            normalised_mutual_information(fixed_values[both], moving_values[both])
            if overlap
            else float("nan")
        )
    region_ml = int(region.sum()) * voxel_ml
    moving_ml = math.prod(moving.shape_zyx) * moving.voxel_volume_ml
    overlap_ml = overlap * voxel_ml
    smaller = min(region_ml, moving_ml)
    return RegistrationQuality(
        nmi_initial=nmi[0],
        nmi_final=nmi[1],
        overlap_fraction=overlap_ml / smaller if smaller > 0 else 0.0,
        overlap_ml=overlap_ml,
    )


def _failures(
    options: RegistrationOptions, stages: Sequence[StageResult], quality: RegistrationQuality
) -> list[str]:
    failures = []
    for stage in stages:
        if not stage.converged:
            failures.append(
                f"the {stage.name} stage did not converge: its finest level reached the "
                f"iteration limit ({stage.max_iterations}) ({stage.stop_condition})"
            )
    if not quality.overlap_fraction >= options.min_overlap_fraction:
        failures.append(
            f"the images overlap over {quality.overlap_fraction:.0%} of the smaller of the "
            f"fixed region and the moving image (at least {options.min_overlap_fraction:.0%} "
            "needed): they show different parts of the body or the registration drifted"
        )
    if not quality.nmi_final >= options.min_nmi:
        failures.append(
            f"poor similarity after registration: normalised mutual information "
            f"{quality.nmi_final:.3f} (at least {options.min_nmi} needed; 1 means unrelated "
            "images)"
        )
    return failures


# --- applying the transform ---------------------------------------------------------------


def resample_through(
    moving: Image,
    result_or_transform: RegistrationResult | sitk.Transform,
    target: Image | Grid,
    *,
    outside_value: float,
    interpolation: Literal["linear", "nearest"] = "linear",
) -> Image:
    """``moving`` on the grid of ``target`` through a fixed -> moving transform.

    Parameters
    ----------
    moving
        The image of the moving study (CT, SPECT, dose...).
    result_or_transform
        A :class:`RegistrationResult` or a SimpleITK transform mapping target (fixed)
        points to moving points.
    target
        The fixed image or its grid.
    outside_value
        Value of target voxels that map outside ``moving`` (e.g. -1000 for CT, 0 for
        activity, ``nan`` to mark them): no silent default.
    interpolation
        ``linear`` (continuous quantities) or ``nearest``.

    Returns
    -------
    Image
        ``moving``'s values and metadata on the target grid, in the target's frame of
        reference.

    Raises
    ------
    RegistrationError
        If given a failed :class:`RegistrationResult`.
    """
    transform = _usable_transform(result_or_transform)
    if interpolation not in ("linear", "nearest"):
        raise InputError("interpolation", interpolation, "'linear' or 'nearest'")
    grid = target.grid if isinstance(target, Image) else target
    source = moving.to_sitk()
    pixel = sitk.sitkFloat64 if moving.array.dtype == np.float64 else sitk.sitkFloat32
    resampled = sitk.Resample(
        source,
        grid.empty_sitk(),
        transform,
        sitk.sitkLinear if interpolation == "linear" else sitk.sitkNearestNeighbor,
        float(outside_value),
        pixel,
    )
    return Image(
        sitk.GetArrayFromImage(resampled),
        origin_mm=grid.origin_mm,
        spacing_mm=grid.spacing_mm,
        direction=grid.direction,
        frame_of_reference_uid=grid.frame_of_reference_uid,
        modality=moving.modality,
        units=moving.units,
        study_instance_uid=moving.study_instance_uid,
        series_instance_uid=moving.series_instance_uid,
        rescale_applied=moving.rescale_applied,
        patient_study=moving.patient_study,
        metadata={**moving.metadata, "registered_from_frame": moving.frame_of_reference_uid},
    )


def _usable_transform(result_or_transform: RegistrationResult | sitk.Transform) -> sitk.Transform:
    if isinstance(result_or_transform, RegistrationResult):
        if not result_or_transform.succeeded:
            raise RegistrationError(
                "the registration failed (" + "; ".join(result_or_transform.failures) + "): "
                "its transform is not used"
            )
        return result_or_transform.transform
    return result_or_transform


def carry_mask(
    mask: BoolArray,
    moving_grid: Grid,
    result_or_transform: RegistrationResult | sitk.Transform,
    fixed_grid: Grid,
    *,
    name: str = "mask",
) -> BoolArray:
    """A VOI mask of the moving study carried onto the fixed grid.

    The mask (0/1) is interpolated **linearly** at the moving points of the fixed voxel
    centres and thresholded at >= 0.5. Why not nearest neighbour: the 0.5 level of the
    linearly interpolated mask is the boundary the source voxels themselves define
    (halfway between an inside and an outside voxel centre), wherever the target voxel
    centres fall; nearest neighbour moves that boundary by up to half a voxel of the
    source grid in the direction of the rounding, which under a rotation or a grid of
    other spacing gives staircase edges and a volume bias. The cost: a structure one
    voxel thin may lose voxels where it crosses the target grid obliquely.

    Raises
    ------
    InputError
        If the mask's shape is not the moving grid's.
    EmptyVoiError
        If no fixed voxel is inside the carried mask (the VOI maps outside the fixed
        image).
    RegistrationError
        If given a failed :class:`RegistrationResult`.
    """
    transform = _usable_transform(result_or_transform)
    array = np.asarray(mask)
    if array.shape != moving_grid.shape_zyx:
        raise InputError(name, f"shape {array.shape}", f"the moving grid's {moving_grid.shape_zyx}")
    source = sitk.GetImageFromArray(array.astype(np.float32))
    source.SetOrigin(moving_grid.origin_mm)
    source.SetSpacing(moving_grid.spacing_mm)
    source.SetDirection(tuple(moving_grid.direction.ravel().tolist()))
    carried = sitk.Resample(
        source, fixed_grid.empty_sitk(), transform, sitk.sitkLinear, 0.0, sitk.sitkFloat32
    )
    out: BoolArray = sitk.GetArrayFromImage(carried) >= 0.5
    if not out.any():
        raise EmptyVoiError(
            f"VOI {name!r} has no voxel on the fixed image after the transform: it maps "
            "outside the fixed image's field of view"
        )
    return out


def carry_vois(
    vois: Vois,
    result_or_transform: RegistrationResult | sitk.Transform,
    fixed_grid: Grid,
) -> Vois:
    """Every VOI of the moving study on the fixed grid (see :func:`carry_mask`)."""
    return Vois(
        fixed_grid,
        {
            name: carry_mask(mask, vois.grid, result_or_transform, fixed_grid, name=name)
            for name, mask in vois.items()
        },
    )


# --- writing ------------------------------------------------------------------------------


def write_transform(result: RegistrationResult, path: str | Path) -> Path:
    """Write the transform as an ITK transform file (``.tfm``), atomically.

    The file maps FIXED points to MOVING points (ITK convention); ``compare --transform``
    and 3D Slicer read it as such.

    Raises
    ------
    RegistrationError
        If the registration failed (``result.failures``): a failed transform is not
        written where a later step could pick it up.
    InputError
        If the name does not end in ``.tfm`` or ``.txt`` (the formats ITK reads back).
    """
    transform = _usable_transform(result)
    target = Path(path)
    if target.suffix.lower() not in (".tfm", ".txt"):
        raise InputError("out", str(target), "a file name ending in .tfm (or .txt)")
    return _atomic_write(target, lambda tmp: sitk.WriteTransform(transform, str(tmp)))


def _atomic_write(target: Path, write: Any) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(
        prefix=f".{target.stem}.", suffix=target.suffix, dir=target.parent
    )
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _window(values: npt.NDArray[Any]) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 1.0
    low, high = np.percentile(finite, [1.0, 99.0])
    return float(low), float(max(high, low + 1e-6))


def _normalise(values: npt.NDArray[Any], window: tuple[float, float]) -> npt.NDArray[np.float64]:
    low, high = window
    out: npt.NDArray[np.float64] = np.clip(
        (np.nan_to_num(values, nan=low) - low) / (high - low), 0.0, 1.0
    )
    return out


def write_quality_figure(
    result: RegistrationResult,
    fixed: Image,
    moving: Image,
    path: str | Path,
    *,
    checker_squares: int = 8,
) -> Path:
    """Checkerboard and colour overlay of fixed and registered moving, in three planes (PNG).

    Top row: checkerboard (fixed and moving in alternating squares; edges should run on
    across square borders). Bottom row: fixed in magenta, moving in green (grey where they
    agree). Columns: axial, coronal, sagittal planes of the fixed grid through the centre
    of the fixed image. Written for a failed registration too (to see why), and
    atomically. Uses matplotlib's Agg canvas directly (no pyplot).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    registered = resample_through(moving, result.transform, fixed.grid, outside_value=float("nan"))
    f, m = fixed.array, registered.array
    fixed_window, moving_window = _window(f), _window(m)
    nz, ny, nx = fixed.shape_zyx
    sx, sy, sz = fixed.spacing_mm
    planes = [
        ("axial", f[nz // 2], m[nz // 2], sy / sx),
        ("coronal", f[:, ny // 2, :][::-1], m[:, ny // 2, :][::-1], sz / sx),
        ("sagittal", f[:, :, nx // 2][::-1], m[:, :, nx // 2][::-1], sz / sy),
    ]
    figure = Figure(figsize=(12, 8), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots(2, 3)
    for column, (label, fixed_plane, moving_plane, aspect) in enumerate(planes):
        a = _normalise(fixed_plane, fixed_window)
        b = _normalise(moving_plane, moving_window)
        rows, cols = a.shape
        r = (np.arange(rows) * checker_squares // rows)[:, None]
        c = (np.arange(cols) * checker_squares // cols)[None, :]
        checker = np.where((r + c) % 2 == 0, a, b)
        axes[0, column].imshow(
            checker, cmap="gray", vmin=0, vmax=1, aspect=aspect, interpolation="nearest"
        )
        overlay = np.stack([a, b, a], axis=-1)
        axes[1, column].imshow(overlay, aspect=aspect, interpolation="nearest")
        axes[0, column].set_title(f"{label}: checkerboard")
        axes[1, column].set_title(f"{label}: fixed magenta, moving green")
        for row in (0, 1):
            axes[row, column].set_axis_off()
    status = "succeeded" if result.succeeded else "FAILED"
    figure.suptitle(
        f"registration {result.kind} {status}: NMI {result.quality.nmi_initial:.3f} -> "
        f"{result.quality.nmi_final:.3f}, overlap {result.quality.overlap_fraction:.0%}, "
        f"Mattes MI {result.metric:.4f}"
    )
    target = Path(path)
    if target.suffix.lower() != ".png":
        raise InputError("figure", str(target), "a file name ending in .png")
    return _atomic_write(target, lambda tmp: figure.savefig(tmp, format="png"))


__all__ = [
    "RegistrationOptions",
    "RegistrationQuality",
    "RegistrationResult",
    "StageResult",
    "carry_mask",
    "carry_vois",
    "normalised_mutual_information",
    "register",
    "resample_through",
    "write_quality_figure",
    "write_transform",
]
