"""Speed and memory of the DVK engine and of kernel generation (prints figures).

Run: ``.venv/bin/python benchmarks/bench_dvk.py [--sizes 128 256] [--workers 1]``

Targets (issue 3): DVK of a 128^3 image < 0.5 s, 256^3 < 5 s on a 2-core machine; peak
memory of the call < 6 x the float32 input; FFT faster than a direct convolution.
Each DVK size is measured in a fresh subprocess so that the peak memory is its own:
``tracemalloc`` (numpy buffers) and the growth of the resident set (``ru_maxrss``, includes
the FFT library's work buffers). The kernel is generated before timing (its own figure).
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


def _child(n: int, spacing_mm: float, workers: int | None) -> dict[str, Any]:
    from y90dose.voxel.convolution import dvk_dose
    from y90dose.voxel.kernels import voxel_kernel

    kernel = voxel_kernel(spacing_mm)
    activity = _activity(n)
    input_bytes = activity.nbytes
    dvk_dose(activity[:16, :16, :16].copy(), spacing_mm=spacing_mm, kernel=kernel)  # warm up
    _reset_peak_rss()
    rss_before_kb = _status_kb("VmHWM")
    tracemalloc.start()
    start = time.perf_counter()
    result = dvk_dose(activity, spacing_mm=spacing_mm, kernel=kernel, workers=workers)
    first = time.perf_counter() - start
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_after_kb = _status_kb("VmHWM")
    del result
    times = [first]
    for _ in range(2):
        start = time.perf_counter()
        dvk_dose(activity, spacing_mm=spacing_mm, kernel=kernel, workers=workers)
        times.append(time.perf_counter() - start)
    rss_growth = max(0, rss_after_kb - rss_before_kb) * 1024
    return {
        "n": n,
        "spacing_mm": spacing_mm,
        "kernel_shape": list(kernel.s_mgy_per_mbq_s.shape),
        "best_s": min(times),
        "median_s": float(np.median(times)),
        "input_mb": input_bytes / 2**20,
        "tracemalloc_peak_mb": traced_peak / 2**20,
        "tracemalloc_peak_x_input": traced_peak / input_bytes,
        "rss_peak_growth_mb": rss_growth / 2**20,
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


def _run_child(n: int, spacing_mm: float, workers: int | None) -> dict[str, Any]:
    args = [sys.executable, __file__, "--child", str(n), str(spacing_mm)]
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
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(int(args.child[0]), float(args.child[1]), args.workers)))
        return
    os.environ.setdefault("Y90DOSE_CACHE_DIR", tempfile.mkdtemp(prefix="y90dose-bench-"))
    print(f"machine: {os.cpu_count()} CPU(s); numpy {np.__version__}; workers={args.workers}")
    print("\nDVK (dvk_dose, float32, zero padded FFT):")
    print(
        f"{'grid':>6} {'voxel':>6} {'kernel':>12} {'best s':>8} {'median s':>9} "
        f"{'input MB':>9} {'traced x':>9} {'RSS x':>7}"
    )
    for spacing in args.spacing_mm:
        for n in args.sizes:
            r = _run_child(n, spacing, args.workers)
            print(
                f"{n:>5}^3 {spacing:>6g} {'x'.join(map(str, r['kernel_shape'])):>12} "
                f"{r['best_s']:>8.3f} {r['median_s']:>9.3f} {r['input_mb']:>9.1f} "
                f"{r['tracemalloc_peak_x_input']:>9.2f} {r['rss_growth_x_input']:>7.2f}"
            )
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
