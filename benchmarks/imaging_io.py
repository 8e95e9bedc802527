"""Speed of the imaging I/O on a clinical-size study (not a timed test).

Writes, into a temporary folder, a 512 x 512 x 200 CT (0.98 x 0.98 x 2.5 mm), a 128^3
SPECT (4.8 mm, PT series in Bq/mL) and an RTSTRUCT of a 1.5 L ellipsoidal liver and a
60 mL tumour (marching-squares contours of masks), then times reading the CT, the SPECT,
rasterising the RTSTRUCT onto both grids, resampling the SPECT onto the CT and writing
the RTDOSE. Target (issue 3): the whole voxel run fits in 30 s, reading a 200-slice CT
takes a few seconds.

Run: ``.venv/bin/python benchmarks/imaging_io.py``
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from y90dose.imaging import (
    Grid,
    Image,
    StudyInfo,
    build_rtdose,
    read_image,
    read_rtstruct,
    resample_image,
    write_ct_series,
    write_pt_series,
    write_rtstruct_from_masks,
)


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


def main() -> None:
    timings: dict[str, float] = {}
    info = StudyInfo.new(uid_prefix="benchmark")
    ct_grid = Grid(
        (200, 512, 512),
        (-250.0, -250.0, -250.0),
        (0.977, 0.977, 2.5),
        frame_of_reference_uid=info.frame_of_reference_uid,
    )
    spect_grid = Grid(
        (128, 128, 128),
        (-305.0, -305.0, -305.0),
        (4.8, 4.8, 4.8),
        frame_of_reference_uid=info.frame_of_reference_uid,
    )
    liver = _ellipsoid(ct_grid, (40.0, 0.0, 0.0), (110.0, 80.0, 41.0))  # 4/3 pi abc = 1.51 L
    tumour = _ellipsoid(ct_grid, (60.0, 10.0, 0.0), (24.3, 24.3, 24.3))  # 60 mL
    hu = np.where(liver, 60.0, 0.0).astype(np.float32)
    activity = np.where(_ellipsoid(spect_grid, (40.0, 0.0, 0.0), (110.0, 80.0, 41.0)), 1e5, 0.0)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        ct_in = Image(
            hu,
            ct_grid.origin_mm,
            ct_grid.spacing_mm,
            frame_of_reference_uid=info.frame_of_reference_uid,
        )
        write_ct_series(ct_in, folder / "ct", study=info)
        spect_in = Image(
            activity,
            spect_grid.origin_mm,
            spect_grid.spacing_mm,
            frame_of_reference_uid=info.frame_of_reference_uid,
        )
        write_pt_series(spect_in, folder / "spect", study=info)
        timings["write CT + SPECT series (setup)"] = time.perf_counter() - start

        start = time.perf_counter()
        ct = read_image(folder / "ct")
        timings["read CT 512x512x200"] = time.perf_counter() - start
        start = time.perf_counter()
        spect = read_image(folder / "spect")
        timings["read SPECT 128^3 (PT series)"] = time.perf_counter() - start

        start = time.perf_counter()
        write_rtstruct_from_masks({"liver": liver, "tumor1": tumour}, ct, folder / "rs.dcm")
        timings["write RTSTRUCT from masks (marching squares)"] = time.perf_counter() - start
        start = time.perf_counter()
        vois_ct = read_rtstruct(folder / "rs.dcm", ct)
        timings["rasterise RTSTRUCT onto CT grid"] = time.perf_counter() - start
        start = time.perf_counter()
        vois_spect = read_rtstruct(folder / "rs.dcm", spect)
        timings["rasterise RTSTRUCT onto SPECT grid"] = time.perf_counter() - start

        start = time.perf_counter()
        on_ct = resample_image(spect, ct, outside_value=0.0)
        timings["resample SPECT onto CT (linear)"] = time.perf_counter() - start
        start = time.perf_counter()
        dose = replace(on_ct, array=on_ct.array * 1e-4, units="GY")
        build_rtdose(dose, ct).save(folder / "rd.dcm")
        timings["write RTDOSE on CT grid"] = time.perf_counter() - start

    for name, seconds in timings.items():
        print(f"{name:48s} {seconds:7.2f} s")
    for name, mask in (("liver", liver), ("tumor1", tumour)):
        mask_ml = float(mask.sum()) * ct.voxel_volume_ml
        print(
            f"{name}: on CT {vois_ct.volume_ml(name):8.1f} mL, on SPECT grid "
            f"{vois_spect.volume_ml(name):8.1f} mL, source mask {mask_ml:8.1f} mL"
        )


if __name__ == "__main__":
    main()
