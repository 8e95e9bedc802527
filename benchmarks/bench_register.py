"""Rigid CT-to-CT registration of a 512x512x200 pair: y90dose's defaults vs the SimpleITK recipe.

Run: ``.venv/bin/python benchmarks/bench_register.py [--size 512 512 200] [--no-baseline]``

Target (issue 12, section 5): a 512x512x200 pair registers in under 30 s on this machine.
The pair: the CT-like trunk of :mod:`y90dose.phantoms.ct_anatomy` (0.78 x 0.78 x 1.5 mm voxels,
a 400 x 400 x 300 mm field) as the fixed image, and the same anatomy seen through a known
rigid transform (rotations 4, -3, 5 degrees, translations 15, -12, 10 mm) on a grid of
another frame of reference as the moving image. Timed: :func:`register` alone (images in
memory; generation and reading are not timed). Reported: wall time and the process's CPU
time (user + system, all threads: on a machine shared with other jobs the wall time
varies with their load, the CPU time much less), iterations, and the target registration
error over the body (mean and max distance between the known and the recovered mapping of
the body voxels' physical points).

Baseline, same run and same images: the SimpleITK notebooks' registration recipe
(SimpleITK-Notebooks "60_Registration_Introduction": Mattes MI 50 bins, RANDOM 1 %
sampling at every level, gradient descent learning rate 1, 100 iterations, convergence
window 10, scales from physical shift, shrink 4, 2, 1, sigmas 2, 1, 0 voxels).
"""

from __future__ import annotations

import argparse
import math
import os
import time

import numpy as np
import SimpleITK as sitk  # noqa: N813

from y90dose.imaging.image import Grid, Image
from y90dose.imaging.registration import register
from y90dose.phantoms.ct_anatomy import ct_image, masks_on, rigid_mapping

ROTATION_DEG = (4.0, -3.0, 5.0)
TRANSLATION_MM = (15.0, -12.0, 10.0)
FRAME_SHIFT_MM = np.array([80.0, -40.0, 250.0])


def _pair(size_xyz: tuple[int, int, int]) -> tuple[Image, Image, np.ndarray, np.ndarray]:
    nx, ny, nz = size_xyz
    spacing = (400.0 / nx, 400.0 / ny, 300.0 / nz)
    ox, oy, oz = (-(n - 1) * s / 2 for n, s in zip(size_xyz, spacing, strict=True))
    fixed_grid = Grid((nz, ny, nx), (ox, oy, oz), spacing)
    mx, my, mz = np.add((ox, oy, oz), FRAME_SHIFT_MM).tolist()
    moving_grid = Grid((nz, ny, nx), (mx, my, mz), spacing)
    known = sitk.Euler3DTransform(
        (0.0, 0.0, 0.0), *(math.radians(a) for a in ROTATION_DEG), TRANSLATION_MM
    )
    to_anatomy = rigid_mapping(known)
    fixed = ct_image(fixed_grid, seed=1)
    moving = ct_image(moving_grid, mapping=lambda q: to_anatomy(q - FRAME_SHIFT_MM), seed=2)
    body = masks_on(_coarse(fixed_grid))["body"]
    points = _coarse(fixed_grid).index_to_physical_mm(np.argwhere(body)[:, ::-1].astype(float))
    truth = rigid_mapping(known.GetInverse())(points) + FRAME_SHIFT_MM
    return fixed, moving, points, truth


def _coarse(grid: Grid) -> Grid:
    """Every 4th voxel centre of ``grid`` (TRE points; the mapping is rigid, so enough)."""
    nz, ny, nx = grid.shape_zyx
    return Grid(
        ((nz + 3) // 4, (ny + 3) // 4, (nx + 3) // 4),
        grid.origin_mm,
        (4 * grid.spacing_mm[0], 4 * grid.spacing_mm[1], 4 * grid.spacing_mm[2]),
        grid.direction,
    )


def _tre(transform: sitk.Transform, points: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    distance = np.linalg.norm(rigid_mapping(transform)(points) - truth, axis=1)
    return float(distance.mean()), float(distance.max())


def _baseline(fixed: Image, moving: Image) -> tuple[sitk.Transform, list[int]]:
    f = sitk.Cast(fixed.to_sitk(), sitk.sitkFloat32)
    m = sitk.Cast(moving.to_sitk(), sitk.sitkFloat32)
    initial = sitk.CenteredTransformInitializer(
        f, m, sitk.Euler3DTransform(), sitk.CenteredTransformInitializerFilter.GEOMETRY
    )
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=50)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(0.01, 1)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsGradientDescent(
        learningRate=1.0,
        numberOfIterations=100,
        convergenceMinimumValue=1e-6,
        convergenceWindowSize=10,
    )
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel([4, 2, 1])
    method.SetSmoothingSigmasPerLevel([2, 1, 0])
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    method.SetInitialTransform(initial, inPlace=False)
    levels: list[int] = []
    method.AddCommand(sitk.sitkMultiResolutionIterationEvent, lambda: levels.append(0))

    def count() -> None:
        levels[-1] += 1

    method.AddCommand(sitk.sitkIterationEvent, count)
    return method.Execute(f, m), levels


def main() -> None:
    """Generate the pair, time both registrations, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, nargs=3, default=(512, 512, 200), metavar="N")
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()
    size = (args.size[0], args.size[1], args.size[2])
    started = time.perf_counter()
    fixed, moving, points, truth = _pair(size)
    print(
        f"pair {size[0]}x{size[1]}x{size[2]} voxels, spacing "
        f"{tuple(round(s, 3) for s in fixed.spacing_mm)} mm, generated in "
        f"{time.perf_counter() - started:.1f} s; {len(points)} TRE points in the body; "
        f"SimpleITK threads {sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()}; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    started, cpu_started = time.perf_counter(), time.process_time()
    result = register(fixed, moving)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    mean, worst = _tre(result.transform, points, truth)
    print(
        f"y90dose register (defaults): {elapsed:6.1f} s wall {cpu:6.1f} s CPU  "
        f"iterations {result.iterations['rigid']}  "
        f"TRE mean {mean:.3f} mm max {worst:.3f} mm  NMI {result.quality.nmi_initial:.3f} -> "
        f"{result.quality.nmi_final:.3f}  {'succeeded' if result.succeeded else 'FAILED'}"
    )
    if not args.no_baseline:
        started, cpu_started = time.perf_counter(), time.process_time()
        transform, levels = _baseline(fixed, moving)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        mean, worst = _tre(transform, points, truth)
        print(
            f"SimpleITK notebook recipe:   {elapsed:6.1f} s wall {cpu:6.1f} s CPU  "
            f"iterations {levels}  "
            f"TRE mean {mean:.3f} mm max {worst:.3f} mm"
        )


if __name__ == "__main__":
    main()
