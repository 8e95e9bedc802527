"""``y90dose batch`` on Dask: scaling with 1 and 2 workers, and the engine's overhead per
study against calling ``voxel_dose`` in a loop in one process (issue 14).

Writes N synthetic 128^3 studies (the sphere study of ``y90dose.imaging.synthetic``: a
128^3 SPECT of 4 mm voxels, liver and tumour in an RTSTRUCT; no CT), then, in one run
and in this order:

- ``loop``: ``y90dose.voxel_dose(...).write(out/<id>)`` for each study in this process
  (the baseline: the same work, no engine);
- ``batch-1``: ``run_batch`` on a local cluster of 1 worker (cluster start included);
- ``batch-2``: the same with 2 workers;
- ``cluster-start-N``: starting and closing an empty local cluster of N workers (the
  fixed cost of a batch, reported apart).

Every run is DVK, PNGs off (the same outputs on both sides). The overhead per study is
``(batch-1 - loop) / N``, and as a share of the loop's time per study (target <= 10 %).
Scaling is ``batch-1 / batch-2`` (at most 2 on a 2-core machine; the FFT of one study
already uses both cores, so less is expected).

Run: ``.venv/bin/python benchmarks/bench_batch.py [--studies 24] [--size 128] [--json]``
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import y90dose
from y90dose.batch.engine import dask_client, run_batch
from y90dose.batch.manifest import read_manifest
from y90dose.imaging.synthetic import make_sphere_study


def _studies(folder: Path, count: int, size: int) -> Path:
    """``count`` manifest rows over 2 written studies (the inputs' content does not change
    the cost; distinct ids and outputs do)."""
    for i in range(2):
        make_sphere_study(
            folder / f"s{i}",
            write_nm=False,
            spect_shape_zyx=(size, size, size),
            spect_spacing_mm=(4.0, 4.0, 4.0),
            ct_shape_zyx=(8, 8, 8),
            uid_seed=f"bench-batch-{i}",
        )
    lines = ["id,spect,rois,activity_gbq,product,method"]
    lines += [f"p{i:03d},s{i % 2}/spect,s{i % 2}/rtstruct.dcm,2.0,glass,dvk" for i in range(count)]
    manifest = folder / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=24)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        manifest = read_manifest(_studies(root, args.studies, args.size))
        started = time.perf_counter()
        for study in manifest.studies:
            run = y90dose.voxel_dose(study.spect, study.rois, options=study.options)
            run.write(root / "loop" / study.id, write_pngs=False)
        loop_s = time.perf_counter() - started
        timings = {"loop": loop_s}
        for workers in (1, 2):
            begun = time.perf_counter()
            with dask_client(None, workers) as client:
                client.wait_for_workers(workers)
            timings[f"cluster-start-{workers}"] = time.perf_counter() - begun
            result = run_batch(
                manifest, root / f"batch-{workers}", workers=workers, write_pngs=False
            )
            assert result.computed == args.studies, result.failures
            timings[f"batch-{workers}"] = result.elapsed_s
    per_study = loop_s / args.studies
    overhead = (timings["batch-1"] - loop_s) / args.studies
    start = timings["cluster-start-1"]
    overhead_running = (timings["batch-1"] - start - loop_s) / args.studies
    figures = {
        "studies": args.studies,
        "size": args.size,
        "seconds": {k: round(v, 2) for k, v in timings.items()},
        "loop_s_per_study": round(per_study, 3),
        "overhead_s_per_study": round(overhead, 3),
        "overhead_percent": round(100 * overhead / per_study, 1),
        "overhead_without_cluster_start_percent": round(100 * overhead_running / per_study, 1),
        "scaling_2_vs_1_workers": round(timings["batch-1"] / timings["batch-2"], 2),
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"{args.studies} studies of {args.size}^3, DVK, no PNGs")
    for name, seconds in timings.items():
        print(f"  {name:<8} {seconds:8.1f} s  ({seconds / args.studies:.2f} s per study)")
    print(
        f"overhead of the engine: {overhead:+.3f} s per study "
        f"({figures['overhead_percent']:+.1f} % of the loop's {per_study:.2f} s; target <= 10 %)"
    )
    print(
        f"  without the cluster's start ({start:.1f} s, once per batch): "
        f"{overhead_running:+.3f} s per study "
        f"({figures['overhead_without_cluster_start_percent']:+.1f} %)"
    )
    print(f"scaling, 2 workers vs 1: {figures['scaling_2_vs_1_workers']:.2f}x")


if __name__ == "__main__":
    main()
