"""Peak memory of a voxel-dosimetry run per voxel of its emission image (issue 9, defect 3).

The voxel limit (``y90dose.limits.DEFAULT_MAX_VOXELS``, ``--max-voxels``,
``Y90DOSE_IMAGE_MAX_VOXELS``) bounds what a dose job can be made to allocate; this
measures how much: ``y90dose voxel`` (what a dose job runs: DVK convolution, every output
but the PNGs) on a NIfTI SPECT of N^3 voxels with a label map, each run in a fresh
process, its peak RSS (``ru_maxrss``) read at the end. Side by side, in the same run, the
baseline: a process that only imports the pipeline. The slope between the sizes is the
memory per voxel; the intercept is the interpreter and its libraries.

Run: ``.venv/bin/python benchmarks/bench_voxel_memory.py [--sizes 64 128 192]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk  # noqa: N813

CHILD = """
import resource, sys
from y90dose.cli.main import main
code = 0 if sys.argv[1] == "import" else main(sys.argv[1:])
import y90dose.pipeline  # the baseline imports what a run imports
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, code)
"""


def write_study(folder: Path, n: int, *, pngs: bool = False) -> list[str]:
    """An N^3 SPECT (4.8 mm voxels) with a liver sphere and a tumour; CLI arguments.

    The arguments ask for every output but the PNGs (all of them with ``pngs``).
    """
    k, j, i = np.ogrid[:n, :n, :n]
    centre = (n - 1) / 2
    liver = (i - centre) ** 2 + (j - centre) ** 2 + (k - centre) ** 2 <= (0.4 * n) ** 2
    tumour = (i - centre - 0.15 * n) ** 2 + (j - centre) ** 2 + (k - centre) ** 2 <= (0.1 * n) ** 2
    labels = liver.astype(np.uint8)
    labels[tumour] = 2
    counts = np.where(liver, 10.0, 0.0).astype(np.float32)
    counts[tumour] = 50.0
    for name, array in (("spect.nii.gz", counts), ("labels.nii.gz", labels)):
        image = sitk.GetImageFromArray(array)
        image.SetSpacing((4.8, 4.8, 4.8))
        sitk.WriteImage(image, str(folder / name))
    return [
        "voxel",
        "--spect",
        str(folder / "spect.nii.gz"),
        "--rois",
        str(folder / "labels.nii.gz"),
        "--roi-names",
        json.dumps({"1": "liver", "2": "tumor1"}),
        "--activity-gbq",
        "2",
        *(() if pngs else ("--no-png",)),
        "--max-voxels",
        str(n**3),
        "--out",
        str(folder / "out"),
    ]


def peak_rss_bytes(argv: list[str]) -> tuple[int, float]:
    """Peak RSS (bytes) and wall time (s) of one fresh process running ``argv``."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *argv], capture_output=True, text=True, timeout=900
    )
    elapsed = time.perf_counter() - start
    rss, code = done.stdout.split()[-2:]
    if code != "0":
        raise SystemExit(f"run failed ({code}): {done.stderr[-2000:]}")
    return int(rss), elapsed


def main() -> None:
    """Print peak RSS per size, the baseline, and the slope in bytes per voxel."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 192])
    args = parser.parse_args()
    baseline, _ = peak_rss_bytes(["import"])
    print(f"{'run':<28} {'voxels':>12} {'peak RSS MB':>12} {'minus import':>13} {'time s':>7}")
    print(f"{'import y90dose.pipeline':<28} {0:>12} {baseline / 1e6:>12.0f} {0:>13.0f} {'':>7}")
    points = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix="bench-voxel-memory-") as tmp:
            rss, elapsed = peak_rss_bytes(write_study(Path(tmp), n))
        points.append((n**3, rss))
        label = f"voxel {n}^3 (DVK, no PNG)"
        print(
            f"{label:<28} {n**3:>12} {rss / 1e6:>12.0f} {(rss - baseline) / 1e6:>13.0f} "
            f"{elapsed:>7.1f}"
        )
    voxels = np.array([v for v, _ in points], float)
    peaks = np.array([r for _, r in points], float)
    slope, intercept = np.polyfit(voxels, peaks, 1)
    print(f"slope: {slope:.1f} bytes per emission voxel; intercept {intercept / 1e6:.0f} MB")
    above = (peaks[-1] - baseline) / voxels[-1]
    print(f"above the import baseline, largest run: {above:.1f} B/voxel")


if __name__ == "__main__":
    main()
