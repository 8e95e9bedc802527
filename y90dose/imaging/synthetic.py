"""A tiny deterministic DICOM study with known answers, for everyone's tests.

:func:`make_sphere_study` writes, into a folder:

- ``ct/``: a CT series (HU): air (-1000 HU) around a water box (0 HU) holding a spherical
  "liver" (60 HU) with a spherical "tumor1" (40 HU) inside it;
- ``spect/``: the activity concentration (Bq/mL) as a PT series (Units BQML) on a coarser
  grid in the same frame of reference: uniform in the tumour and in the rest of the liver,
  zero elsewhere (values sampled at voxel centres, no blurring);
- ``spect_nm.dcm``: the same SPECT as one multi-frame NM file (when ``write_nm``);
- ``rtstruct.dcm``: an RTSTRUCT on the CT with *analytic* contours (regular polygons of
  ``CONTOUR_POINTS`` vertices inscribed in the circle where each CT slice cuts a sphere),
  ROIs ``liver`` and ``tumor1``.

All UIDs derive from ``uid_seed``, so two calls give identical files. The analytic
volumes (``4/3 pi r^3``) are in :class:`SyntheticStudy`.

Examples
--------
>>> study = make_sphere_study(tmp_path)  # doctest: +SKIP
>>> vois = read_rtstruct(study.rtstruct_path, read_image(study.ct_folder))  # doctest: +SKIP
>>> vois.volume_ml("tumor1") / study.tumor_volume_ml  # doctest: +SKIP
0.998
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from y90dose.imaging.dicom_write import (
    StudyInfo,
    write_ct_series,
    write_nm_multiframe,
    write_pt_series,
    write_rtstruct,
)
from y90dose.imaging.image import Grid, Image

#: Vertices of each analytic contour polygon (area within 0.03 % of the circle's).
CONTOUR_POINTS = 128

LIVER_HU = 60.0
TUMOR_HU = 40.0
WATER_HU = 0.0
AIR_HU = -1000.0


@dataclass(frozen=True)
class SyntheticStudy:
    """Paths, in-memory images and analytic truth of a :func:`make_sphere_study` study."""

    folder: Path
    ct_folder: Path
    spect_folder: Path
    nm_path: Path | None
    rtstruct_path: Path
    ct: Image
    spect: Image
    study: StudyInfo
    liver_center_mm: tuple[float, float, float]
    liver_radius_mm: float
    tumor_center_mm: tuple[float, float, float]
    tumor_radius_mm: float
    tumor_bq_per_ml: float
    normal_liver_bq_per_ml: float

    @property
    def liver_volume_ml(self) -> float:
        """Analytic volume of the liver sphere, 4/3 pi r^3, in mL."""
        return 4.0 / 3.0 * math.pi * self.liver_radius_mm**3 / 1000.0

    @property
    def tumor_volume_ml(self) -> float:
        """Analytic volume of the tumour sphere in mL."""
        return 4.0 / 3.0 * math.pi * self.tumor_radius_mm**3 / 1000.0

    @property
    def normal_liver_volume_ml(self) -> float:
        """Liver minus tumour (the tumour lies wholly inside the liver), mL."""
        return self.liver_volume_ml - self.tumor_volume_ml

    @property
    def total_activity_bq(self) -> float:
        """Analytic activity in the phantom: concentration x analytic volume, Bq."""
        return (
            self.tumor_bq_per_ml * self.tumor_volume_ml
            + self.normal_liver_bq_per_ml * self.normal_liver_volume_ml
        )


def _inside_sphere(
    grid: Grid, center_mm: tuple[float, float, float], radius_mm: float
) -> npt.NDArray[np.bool_]:
    nz, ny, nx = grid.shape_zyx
    k, j, i = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
    points = grid.index_to_physical_mm(np.stack([i, j, k], axis=-1).astype(np.float64))
    distance2 = ((points - np.asarray(center_mm)) ** 2).sum(axis=-1)
    inside: npt.NDArray[np.bool_] = distance2 <= radius_mm**2
    return inside


def sphere_contours_mm(
    grid: Grid, center_mm: tuple[float, float, float], radius_mm: float
) -> list[npt.NDArray[np.float64]]:
    """Analytic contours of a sphere on each slice of ``grid`` that cuts it (axial grid)."""
    contours = []
    angles = np.linspace(0.0, 2.0 * math.pi, CONTOUR_POINTS, endpoint=False)
    center = np.asarray(center_mm)
    normal = grid.direction[:, 2]
    row, col = grid.direction[:, 0], grid.direction[:, 1]
    for k in range(grid.shape_zyx[0]):
        plane_point = grid.index_to_physical_mm([0.0, 0.0, float(k)])
        height = float((plane_point - center) @ normal)
        if abs(height) >= radius_mm:
            continue
        r = math.sqrt(radius_mm**2 - height**2)
        ring = (
            center
            + height * normal
            + r * (np.cos(angles)[:, None] * row + np.sin(angles)[:, None] * col)
        )
        contours.append(ring)
    return contours


def make_sphere_study(
    folder: str | Path,
    *,
    ct_shape_zyx: tuple[int, int, int] = (40, 80, 80),
    ct_spacing_mm: tuple[float, float, float] = (2.0, 2.0, 2.5),
    spect_shape_zyx: tuple[int, int, int] = (26, 42, 42),
    spect_spacing_mm: tuple[float, float, float] = (4.0, 4.0, 4.0),
    liver_radius_mm: float = 40.0,
    tumor_radius_mm: float = 15.0,
    tumor_offset_mm: tuple[float, float, float] = (15.0, 0.0, 0.0),
    tumor_bq_per_ml: float = 4.0e5,
    normal_liver_bq_per_ml: float = 1.0e5,
    write_nm: bool = True,
    uid_seed: str = "y90dose-synthetic-sphere",
) -> SyntheticStudy:
    """Write the synthetic CT + SPECT + RTSTRUCT study into ``folder`` (see module doc).

    Both grids are centred on the patient-space origin (0, 0, 0), which is the liver's
    centre; the SPECT grid is shifted by a quarter voxel so that the grids do not align.

    Returns
    -------
    SyntheticStudy
        Paths, the images as written, and the analytic truth.
    """
    folder = Path(folder)
    study = StudyInfo.new(uid_prefix=uid_seed)

    def centred_grid(
        shape: tuple[int, int, int], spacing: tuple[float, float, float], shift: float
    ) -> Grid:
        nz, ny, nx = shape
        extent = np.asarray([nx - 1, ny - 1, nz - 1], dtype=np.float64) * np.asarray(spacing)
        origin = -extent / 2.0 + shift * np.asarray(spacing)
        return Grid(shape, tuple(origin.tolist()), spacing, np.eye(3), study.frame_of_reference_uid)

    ct_grid = centred_grid(ct_shape_zyx, ct_spacing_mm, 0.0)
    spect_grid = centred_grid(spect_shape_zyx, spect_spacing_mm, 0.25)
    liver_center = (0.0, 0.0, 0.0)
    tumor_center = tuple(float(v) for v in tumor_offset_mm)

    hu = np.full(ct_grid.shape_zyx, AIR_HU, dtype=np.float32)
    margin = 4  # voxels of air around the water box
    hu[:, margin:-margin, margin:-margin] = WATER_HU
    hu[_inside_sphere(ct_grid, liver_center, liver_radius_mm)] = LIVER_HU
    hu[_inside_sphere(ct_grid, tumor_center, tumor_radius_mm)] = TUMOR_HU  # type: ignore[arg-type]
    ct = Image(
        hu,
        ct_grid.origin_mm,
        ct_grid.spacing_mm,
        frame_of_reference_uid=study.frame_of_reference_uid,
        modality="CT",
        units="HU",
        study_instance_uid=study.study_instance_uid,
        patient_study=study.patient_study,
    )
    activity = np.zeros(spect_grid.shape_zyx, dtype=np.float64)
    activity[_inside_sphere(spect_grid, liver_center, liver_radius_mm)] = normal_liver_bq_per_ml
    activity[_inside_sphere(spect_grid, tumor_center, tumor_radius_mm)] = tumor_bq_per_ml  # type: ignore[arg-type]
    spect = Image(
        activity,
        spect_grid.origin_mm,
        spect_grid.spacing_mm,
        frame_of_reference_uid=study.frame_of_reference_uid,
        modality="PT",
        units="BQML",
        study_instance_uid=study.study_instance_uid,
        patient_study=study.patient_study,
    )

    ct_folder = folder / "ct"
    spect_folder = folder / "spect"
    write_ct_series(ct, ct_folder, study=study, uid_seed=uid_seed)
    write_pt_series(
        spect,
        spect_folder,
        study=study,
        uid_seed=uid_seed,
        decay_correction="NONE",
        radiopharmaceutical_start=dt.datetime(2026, 1, 1, 10, 0, 0),
    )
    nm_path = None
    if write_nm:
        nm_path = write_nm_multiframe(
            spect, folder / "spect_nm.dcm", study=study, uid_seed=uid_seed
        )

    # The RTSTRUCT references the CT slices as written (their SOPInstanceUIDs).
    from y90dose.imaging.read import read_image

    ct_read = read_image(ct_folder)
    rtstruct_path = write_rtstruct(
        {
            "liver": sphere_contours_mm(ct_grid, liver_center, liver_radius_mm),
            "tumor1": sphere_contours_mm(ct_grid, tumor_center, tumor_radius_mm),  # type: ignore[arg-type]
        },
        ct_read,
        folder / "rtstruct.dcm",
        study=study,
        uid_seed=uid_seed,
        interpreted_types={"liver": "ORGAN", "tumor1": "GTV"},
    )
    return SyntheticStudy(
        folder=folder,
        ct_folder=ct_folder,
        spect_folder=spect_folder,
        nm_path=nm_path,
        rtstruct_path=rtstruct_path,
        ct=ct_read,
        spect=spect,
        study=study,
        liver_center_mm=liver_center,
        liver_radius_mm=liver_radius_mm,
        tumor_center_mm=tumor_center,  # type: ignore[arg-type]
        tumor_radius_mm=tumor_radius_mm,
        tumor_bq_per_ml=tumor_bq_per_ml,
        normal_liver_bq_per_ml=normal_liver_bq_per_ml,
    )
