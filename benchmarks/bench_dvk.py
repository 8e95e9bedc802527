"""Speed and memory of the DVK engine and of kernel generation (prints figures).

Run: ``.venv/bin/python benchmarks/bench_dvk.py [--sizes 128 256] [--repeats 7] [--workers 1]``

Targets (issue 10, section 3): ``dvk_dose`` within 1.3x the FFT floor at 128^3 and 256^3,
using every core; peak memory of the call at most 6x the float32 input at 256^3 (issue 3:
FFT faster than a direct convolution). The floor is stated in :func:`_child`. Each size is
timed in a fresh subprocess (DVK and floor interleaved, median of ``--repeats``) and its
memory measured in another: ``tracemalloc`` (numpy buffers) and the growth of the peak
resident set (VmHWM, includes the FFT library's work buffers). The kernel is generated
before timing (its own figure below).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from typing import Any

import numpy as np


def _activity(n: int) -> np.ndarray:
    """A liver-like ellipsoid with a hot sphere, float32 GBq per voxel."""
    z, y, x = np.ogrid[:n, :n, :n]
    c = (n - 1) / 2
    liver = ((z - c) / (0.4 * n)) ** 2 + ((y - c) / (0.35 * n)) ** 2 + ((x - c) / (0.45 * n)) ** 2
    activity = np.where(liver <= 1.0, np.float32(1e-5), np.float32(0.0))
    hot = (z - c) ** 2 + (y - 0.6 * n) ** 2 + (x - 0.4 * n) ** 2 <= (0.08 * n) ** 2
    activity[hot] = np.float32(1e-4)
    return activity.astype(np.float32)


def _floor_padded_shape(n: int, kernel_shape: tuple[int, ...]) -> tuple[int, int, int]:
    """The smallest fast real-FFT length per axis with no wrap-around: N + K // 2.

    (The engine's own padded size since issue 10; the first version padded to N + K - 1.)
    """
    import scipy.fft

    p0, p1, p2 = (scipy.fft.next_fast_len(n + k // 2, True) for k in kernel_shape)
    return (p0, p1, p2)


def _child(n: int, spacing_mm: float, workers: int | None, repeats: int) -> dict[str, Any]:
    """Times ``dvk_dose`` and the FFT floor, interleaved, in this (fresh) process.

    The floor: ``irfftn(rfftn(a, s=P) * K, s=P)`` of the float32 grid ``a`` at the padded
    size P of :func:`_floor_padded_shape`, with the kernel's spectrum K computed before
    timing, every core (``workers=-1``), no crop, no clean-up, no unit conversion.
    """
    import scipy.fft

    from y90dose.voxel.convolution import dvk_dose
    from y90dose.voxel.kernels import voxel_kernel

    kernel = voxel_kernel(spacing_mm)
    activity = _activity(n)
    weights = kernel.energy_fraction().astype(np.float32)
    shape = _floor_padded_shape(n, weights.shape)
    kernel_spectrum = scipy.fft.rfftn(weights, s=shape, workers=-1)

    def floor() -> None:
        spectrum = scipy.fft.rfftn(activity, s=shape, workers=-1)
        spectrum *= kernel_spectrum
        scipy.fft.irfftn(spectrum, s=shape, workers=-1)

    def dvk() -> None:
        dvk_dose(activity, spacing_zyx_mm=spacing_mm, kernel=kernel, workers=workers)

    start = time.perf_counter()
    dvk()  # the first call computes the kernel's spectrum (cached afterwards, issue 10)
    first = time.perf_counter() - start
    floor()
    dvk_times: list[float] = []
    floor_times: list[float] = []
    for _ in range(repeats):
        for func, times in ((floor, floor_times), (dvk, dvk_times)):
            start = time.perf_counter()
            func()
            times.append(time.perf_counter() - start)
    dvk_median = float(np.median(dvk_times))
    floor_median = float(np.median(floor_times))
    return {
        "n": n,
        "spacing_mm": spacing_mm,
        "kernel_shape": list(weights.shape),
        "padded_shape": list(shape),
        "first_s": first,
        "median_s": dvk_median,
        "floor_median_s": floor_median,
        "ratio": dvk_median / floor_median,
    }


def _memory_child(n: int, spacing_mm: float, workers: int | None) -> dict[str, Any]:
    """Peak memory of one cold ``dvk_dose`` call (kernel spectrum computed in it)."""
    from y90dose.voxel.convolution import dvk_dose
    from y90dose.voxel.kernels import voxel_kernel

    kernel = voxel_kernel(spacing_mm)
    activity = _activity(n)
    input_bytes = activity.nbytes
    _reset_peak_rss()
    rss_before_kb = _status_kb("VmHWM")
    tracemalloc.start()
    result = dvk_dose(activity, spacing_zyx_mm=spacing_mm, kernel=kernel, workers=workers)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_after_kb = _status_kb("VmHWM")
    del result
    rss_growth = max(0, rss_after_kb - rss_before_kb) * 1024
    return {
        "input_mb": input_bytes / 2**20,
        "tracemalloc_peak_x_input": traced_peak / input_bytes,
        "rss_growth_x_input": rss_growth / input_bytes,
    }


def _reset_peak_rss() -> None:
    """Reset the kernel's peak-RSS mark (Linux >= 4.0: write 5 to clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
    except OSError:
        pass


def _status_kb(field: str) -> int:
    """A ``/proc/self/status`` figure in kB (VmHWM: peak RSS since the last reset)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _run_child(
    mode: str, n: int, spacing_mm: float, workers: int | None, repeats: int
) -> dict[str, Any]:
    args = [sys.executable, __file__, "--child", mode, str(n), str(spacing_mm)]
    args += ["--repeats", str(repeats)]
    if workers is not None:
        args += ["--workers", str(workers)]
    done = subprocess.run(args, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _direct_vs_fft(n: int, spacing_mm: float) -> tuple[float, float]:
    import scipy.ndimage

    from y90dose.voxel.convolution import fft_convolve_same
    from y90dose.voxel.kernels import voxel_kernel

    weights = voxel_kernel(spacing_mm).energy_fraction().astype(np.float32)
    image = _activity(n)
    start = time.perf_counter()
    direct = scipy.ndimage.convolve(image, weights, mode="constant", cval=0.0)
    t_direct = time.perf_counter() - start
    start = time.perf_counter()
    fast = fft_convolve_same(image, weights)
    t_fft = time.perf_counter() - start
    assert np.allclose(direct, fast, rtol=1e-4, atol=1e-6 * float(direct.max()))
    return t_direct, t_fft


def _kernel_times() -> list[tuple[str, float, tuple[int, ...]]]:
    from y90dose.voxel.kernels import clear_memory_cache, dpk_voxel_kernel

    rows: list[tuple[str, float, tuple[int, ...]]] = []
    for size in (6.0, 4.42, 3.0, 2.0, 1.0, (2.0, 3.0, 4.5)):
        start = time.perf_counter()
        kernel = dpk_voxel_kernel(size, use_cache=False)
        rows.append((str(size), time.perf_counter() - start, kernel.s_mgy_per_mbq_s.shape))
    dpk_voxel_kernel(2.0)  # fills the memory and disk caches
    clear_memory_cache()
    start = time.perf_counter()
    kernel = dpk_voxel_kernel(2.0)
    rows.append(("2.0 (disk cache)", time.perf_counter() - start, kernel.s_mgy_per_mbq_s.shape))
    start = time.perf_counter()
    kernel = dpk_voxel_kernel(2.0)
    rows.append(("2.0 (memory)", time.perf_counter() - start, kernel.s_mgy_per_mbq_s.shape))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--spacing-mm", type=float, nargs="+", default=[4.42, 2.0])
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--skip-extra", action="store_true", help="DVK vs floor only")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, n, spacing = args.child[0], int(args.child[1]), float(args.child[2])
        if mode == "time":
            print(json.dumps(_child(n, spacing, args.workers, args.repeats)))
        else:
            print(json.dumps(_memory_child(n, spacing, args.workers)))
        return
    os.environ.setdefault("Y90DOSE_CACHE_DIR", tempfile.mkdtemp(prefix="y90dose-bench-"))
    print(f"machine: {os.cpu_count()} CPU(s); numpy {np.__version__}; workers={args.workers}")
    print(
        "\nDVK (dvk_dose) vs the FFT floor, side by side in one process, interleaved; "
        f"median of {args.repeats}.\nFloor: irfftn(rfftn(a, s=P) * K, s=P) of the float32 "
        "grid at the padded size P = next_fast_len(N + K // 2) per axis, kernel spectrum K "
        "precomputed, workers=-1.\nMemory: one cold dvk_dose call in a fresh process "
        "(tracemalloc peak; growth of the peak RSS), as multiples of the float32 input."
    )
    print(
        f"{'grid':>6} {'voxel':>6} {'kernel':>9} {'padded':>12} {'first s':>8} {'dvk s':>7} "
        f"{'floor s':>8} {'ratio':>6} {'input MB':>9} {'traced x':>9} {'RSS x':>6}"
    )
    for spacing in args.spacing_mm:
        for n in args.sizes:
            r = _run_child("time", n, spacing, args.workers, args.repeats)
            m = _run_child("memory", n, spacing, args.workers, args.repeats)
            print(
                f"{n:>5}^3 {spacing:>6g} {'x'.join(map(str, r['kernel_shape'])):>9} "
                f"{'x'.join(map(str, r['padded_shape'])):>12} {r['first_s']:>8.3f} "
                f"{r['median_s']:>7.3f} {r['floor_median_s']:>8.3f} {r['ratio']:>6.2f} "
                f"{m['input_mb']:>9.1f} {m['tracemalloc_peak_x_input']:>9.2f} "
                f"{m['rss_growth_x_input']:>6.2f}",
                flush=True,
            )
    if args.skip_extra:
        return
    print("\nFFT vs direct convolution (scipy.ndimage.convolve), same result:")
    for n, spacing in ((48, 4.42), (64, 4.42), (48, 2.0)):
        t_direct, t_fft = _direct_vs_fft(n, spacing)
        print(
            f"  {n}^3, {spacing:g} mm kernel: direct {t_direct:.3f} s, FFT {t_fft:.4f} s, "
            f"ratio {t_direct / t_fft:.0f}x"
        )
    print("\nKernel generation (Graves DPK integration, no cache):")
    for label, seconds, shape in _kernel_times():
        print(f"  {label:>16} mm: {seconds:.3f} s, kernel {'x'.join(map(str, shape))}")


if __name__ == "__main__":
    main()
