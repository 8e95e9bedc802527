"""Full ``y90dose voxel`` run on a clinical-size study (a measurement, not a timed test).

Writes, into a temporary folder (not timed): a 512 x 512 x 200 CT (0.977 x 0.977 x 2.5 mm)
with lungs (-750 HU) above a liver (60 HU) in a water-like body, a 128^3 SPECT in counts
(4.8 mm voxels, NM single-frame series) with uptake in the liver, two tumours (5x and 8x
the normal-liver concentration) and a little lung shunt, and an RTSTRUCT of 4 VOIs
(liver, tumor1, tumor2, lungs) drawn on the CT. Then times ``run_voxel_dosimetry``
(DVK with the Lanconelli 4.8 mm kernel, CT densities, every output: NIfTI and RT Dose on
both grids, BED/EQD2 maps, VOI masks, DVHs, PNGs) and prints each stage's share.

Target (issue 3): under 30 s on the project's 2-core machine.

Run: ``.venv/bin/python benchmarks/bench_voxel_run.py [--method ldm] [--repeat 2]``
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from y90dose.imaging.dicom_write import (
    StudyInfo,
    write_ct_series,
    write_pt_series,
    write_rtstruct_from_masks,
)
from y90dose.imaging.image import Grid, Image
from y90dose.pipeline import run_voxel_dosimetry


def _ellipsoid(
    grid: Grid, center_mm: tuple[float, float, float], radii_mm: tuple[float, float, float]
) -> np.ndarray:
    nz, ny, nx = grid.shape_zyx
    z = grid.origin_mm[2] + np.arange(nz) * grid.spacing_mm[2]
    y = grid.origin_mm[1] + np.arange(ny) * grid.spacing_mm[1]
    x = grid.origin_mm[0] + np.arange(nx) * grid.spacing_mm[0]
    return (
        ((z[:, None, None] - center_mm[2]) / radii_mm[2]) ** 2
        + ((y[None, :, None] - center_mm[1]) / radii_mm[1]) ** 2
        + ((x[None, None, :] - center_mm[0]) / radii_mm[0]) ** 2
    ) <= 1.0


LIVER = ((0.0, 20.0, -60.0), (110.0, 80.0, 70.0))
TUMOR1 = ((40.0, 20.0, -60.0), (22.0, 22.0, 22.0))
TUMOR2 = ((-50.0, 30.0, -40.0), (14.0, 14.0, 14.0))
LUNGS = ((0.0, 20.0, 100.0), (150.0, 90.0, 80.0))


def make_study(folder: Path) -> dict[str, Path]:
    """Write the CT, SPECT and RTSTRUCT; return their paths."""
    info = StudyInfo.new(uid_prefix="bench-voxel-run")
    frame = info.frame_of_reference_uid
    ct_grid = Grid((200, 512, 512), (-250.0, -250.0, -250.0), (0.977, 0.977, 2.5), np.eye(3), frame)
    spect_grid = Grid((128, 128, 128), (-305.0, -305.0, -305.0), (4.8, 4.8, 4.8), np.eye(3), frame)
    hu = np.full(ct_grid.shape_zyx, -1000.0, dtype=np.float32)
    hu[_ellipsoid(ct_grid, (0.0, 0.0, 0.0), (180.0, 130.0, 400.0))] = 20.0
    masks = {}
    for name, (centre, radii), value in (
        ("lungs", LUNGS, -750.0),
        ("liver", LIVER, 60.0),
        ("tumor1", TUMOR1, 40.0),
        ("tumor2", TUMOR2, 45.0),
    ):
        mask = _ellipsoid(ct_grid, centre, radii)
        hu[mask] = value
        masks[name] = mask
    ct = Image(
        hu,
        ct_grid.origin_mm,
        ct_grid.spacing_mm,
        frame_of_reference_uid=frame,
        modality="CT",
        units="HU",
        study_instance_uid=info.study_instance_uid,
        patient_study=info.patient_study,
    )
    counts = np.zeros(spect_grid.shape_zyx, dtype=np.float64)
    counts[_ellipsoid(spect_grid, *LUNGS)] = 0.3
    counts[_ellipsoid(spect_grid, *LIVER)] = 10.0
    counts[_ellipsoid(spect_grid, *TUMOR1)] = 50.0
    counts[_ellipsoid(spect_grid, *TUMOR2)] = 80.0
    rng = np.random.default_rng(1)
    counts = rng.poisson(counts * 20.0).astype(np.float64)
    spect = Image(counts, spect_grid.origin_mm, spect_grid.spacing_mm, frame_of_reference_uid=frame)
    write_ct_series(ct, folder / "ct", study=info, uid_seed="bench-ct")
    write_pt_series(
        spect, folder / "spect", study=info, modality="NM", units="CNTS", uid_seed="bench-nm"
    )
    from y90dose.imaging.read import read_image

    ct_read = read_image(folder / "ct", modality="CT")
    write_rtstruct_from_masks(masks, ct_read, folder / "rtstruct.dcm", uid_seed="bench-rs")
    return {"ct": folder / "ct", "spect": folder / "spect", "rois": folder / "rtstruct.dcm"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--method", default="dvk", choices=("auto", "dvk", "dvk_heterogeneous", "ldm")
    )
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        paths = make_study(folder)
        print(f"study written in {time.perf_counter() - started:.1f} s (not timed)")
        for attempt in range(args.repeat):
            stages: list[tuple[float, str]] = []
            t0 = time.perf_counter()

            def progress(
                fraction: float,
                stage: str,
                t0: float = t0,
                stages: list[tuple[float, str]] = stages,
            ) -> None:
                stages.append((time.perf_counter() - t0, stage))

            result = run_voxel_dosimetry(
                paths["spect"],
                paths["rois"],
                folder / f"out{attempt}",
                ct=paths["ct"],
                options={"activity_gbq": 3.1, "lsf": 0.06, "method": args.method},
                progress=progress,
            )
            total = time.perf_counter() - t0
            print(f"run {attempt + 1}: {total:.1f} s total ({args.method}, target < 30 s)")
            for (at, stage), following in zip(stages, [*stages[1:], (total, "end")], strict=True):
                print(f"  {following[0] - at:6.2f} s  {stage}")
            for name in ("liver", "tumor1", "tumor2", "normal_liver", "lungs"):
                m = result.metrics[name]
                print(
                    f"  {name:<13} {m.volume_ml:8.1f} mL  mean {m.mean_gy:7.1f} Gy  "
                    f"D70 {m.d70_gy:7.1f} Gy"
                )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"peak resident memory of the process: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
