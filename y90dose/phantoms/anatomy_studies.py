"""SPECT/CT studies of the CT-like trunk (:mod:`y90dose.phantoms.ct_anatomy`) in two frames of
reference related by a known rigid transform, written as DICOM: test data for ``compare``,
``plan from-images`` and the service's comparison, which register by themselves.

A study "seen through" a rigid transform A, in a frame shifted by s, samples the anatomy at
``A(q - s)`` for each point q of its grids (CT and SPECT), so that the true mapping from the
points of the reference study (A = identity, s = 0) to the other study's points is
``p -> A^-1(p) + s``: :func:`true_transform`, a rigid ITK transform in the convention of
``compare --transform`` (reference -> other points). Nothing is interpolated twice: each
image is the analytic anatomy sampled on its own grid.

- CT: 96 x 72 x 60 voxels of 4 mm (:data:`CT_GRID`), HU, written as a DICOM CT series;
- SPECT: 48 x 36 x 30 voxels of 8 mm (:data:`SPECT_GRID`), written as a PT series in
  Bq/mL: the liver at :data:`LIVER_BQ_ML`, the tumour at ``TN`` times that, 0 elsewhere,
  with soft edges (a logistic of scale :data:`SPECT_EDGE_MM`, 10-90 % over 11 mm, about a
  SPECT's resolution): a step sampled on 8 mm voxels would make a small VOI's D70 jump by
  several percent for a 1 mm shift, and the tests would measure the sampling, not the
  registration;
- VOIs: a label map on the SPECT grid (1 liver without the tumour, 2 ``tumor1``) with its
  names (``names.json``, as the service's uploads take them), and, on request, an
  RTSTRUCT on the CT (``liver``, ``tumor1``).
"""

from __future__ import annotations

import json
import math
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import SimpleITK as sitk  # noqa: N813

from y90dose.imaging.dicom_write import (
    StudyInfo,
    write_ct_series,
    write_pt_series,
    write_rtstruct_from_masks,
)
from y90dose.imaging.image import Grid, Image
from y90dose.imaging.read import read_image
from y90dose.phantoms.ct_anatomy import (
    LIVER,
    TUMOR,
    Mapping,
    ct_image,
    grid_points_mm,
    masks_on,
    rigid_mapping,
)

CT_GRID = Grid((60, 72, 96), (-190.0, -142.0, -118.0), (4.0, 4.0, 4.0))
SPECT_GRID = Grid((30, 36, 48), (-188.0, -140.0, -116.0), (8.0, 8.0, 8.0))
LIVER_BQ_ML = 1.0e5
TN = 4.0
SPECT_EDGE_MM = 5.0

KNOWN_ROTATION_DEG = (4.0, -5.0, 3.0)
KNOWN_TRANSLATION_MM = (15.0, -20.0, 12.0)
FRAME_SHIFT_MM = (100.0, -50.0, 300.0)
"""The other study's grids are the reference's moved by this (another scanner's origin)."""


@dataclass(frozen=True)
class AnatomyStudy:
    """The files of one written study."""

    folder: Path
    ct: Path
    spect: Path
    labels: Path
    rtstruct: Path | None
    frame_of_reference_uid: str


def known_rigid(
    rotation_deg: tuple[float, float, float] = KNOWN_ROTATION_DEG,
    translation_mm: tuple[float, float, float] = KNOWN_TRANSLATION_MM,
) -> sitk.Euler3DTransform:
    """A: the other study's points (less the frame shift) -> the anatomy's points."""
    return sitk.Euler3DTransform(
        (0.0, 0.0, 0.0), *(math.radians(a) for a in rotation_deg), translation_mm
    )


def true_transform(known: sitk.Euler3DTransform) -> sitk.Euler3DTransform:
    """Reference points -> other study's points: p -> A^-1(p) + s (one rigid transform)."""
    inverse = sitk.Euler3DTransform(known.GetInverse())
    inverse.SetTranslation(tuple(np.add(inverse.GetTranslation(), FRAME_SHIFT_MM).tolist()))
    return inverse


Floats = npt.NDArray[np.float64]


def _soft_inside(points: Floats, centre: tuple[float, ...], semi: tuple[float, ...]) -> Floats:
    """1 inside an ellipsoid, 0 outside, 0.5 on it, logistic over SPECT_EDGE_MM."""
    r = np.sqrt((((points - np.asarray(centre)) / np.asarray(semi)) ** 2).sum(axis=-1))
    out: Floats = 0.5 * (1.0 - np.tanh((r - 1.0) * min(semi) / SPECT_EDGE_MM))
    return out


def _activity_bq_ml(grid: Grid, mapping: Mapping | None) -> Floats:
    nz, ny, nx = grid.shape_zyx
    out = np.empty(grid.shape_zyx)
    for k in range(nz):
        points = grid_points_mm(grid, k)
        if mapping is not None:
            points = mapping(points)
        liver = _soft_inside(points, *LIVER)
        tumour = _soft_inside(points, TUMOR[0], (TUMOR[1],) * 3)
        out[k] = (LIVER_BQ_ML * liver * (1.0 + (TN - 1.0) * tumour)).reshape(ny, nx)
    return out


def _shifted(grid: Grid, frame_uid: str, shift: tuple[float, float, float]) -> Grid:
    x, y, z = np.add(grid.origin_mm, shift).tolist()
    return Grid(grid.shape_zyx, (x, y, z), grid.spacing_mm, grid.direction, frame_uid)


def write_study(
    folder: Path,
    *,
    known: sitk.Transform | None,
    uid_seed: str,
    activity_scale: float = 1.0,
    rtstruct: bool = False,
    unrelated_ct: bool = False,
) -> AnatomyStudy:
    """Write one study: the reference (``known`` None) or one seen through ``known``.

    The CT's noise is seeded by ``uid_seed`` (CRC-32): two studies have independent noise,
    as two scans do. The same noise in both, voxel for voxel, would pull a registration
    towards aligning the voxel indices.

    ``unrelated_ct`` writes uniform noise (-1000 to 1000 HU, seeded) as the CT instead of the
    anatomy: a CT unrelated to every other study, which no registration can match.
    """
    folder.mkdir(parents=True, exist_ok=True)
    info = StudyInfo.new(uid_prefix=uid_seed)
    shift = (0.0, 0.0, 0.0) if known is None else FRAME_SHIFT_MM
    mapping: Mapping | None = None
    if known is not None:
        to_anatomy = rigid_mapping(known)
        offset = np.asarray(FRAME_SHIFT_MM)

        def mapping(q: Floats) -> Floats:
            return to_anatomy(q - offset)

    ct_grid = _shifted(CT_GRID, info.frame_of_reference_uid, shift)
    spect_grid = _shifted(SPECT_GRID, info.frame_of_reference_uid, shift)
    noise_seed = zlib.crc32(uid_seed.encode())
    ct = ct_image(ct_grid, mapping=mapping, seed=noise_seed)
    if unrelated_ct:
        noise = np.random.default_rng(noise_seed).uniform(-1000.0, 1000.0, ct_grid.shape_zyx)
        ct = ct.with_array(noise.astype(np.float32))
    write_ct_series(ct, folder / "ct", study=info, uid_seed=uid_seed)
    masks = masks_on(spect_grid, mapping=mapping)
    activity = _activity_bq_ml(spect_grid, mapping) * activity_scale
    spect = Image(
        activity,
        spect_grid.origin_mm,
        spect_grid.spacing_mm,
        frame_of_reference_uid=info.frame_of_reference_uid,
        modality="PT",
        units="BQML",
        study_instance_uid=info.study_instance_uid,
        patient_study=info.patient_study,
    )
    write_pt_series(spect, folder / "spect", study=info, uid_seed=uid_seed, decay_correction="NONE")
    labels = np.where(masks["liver"], 1, 0).astype(np.uint8)
    labels[masks["tumor"]] = 2
    label_image = sitk.GetImageFromArray(labels)
    label_image.SetOrigin(spect_grid.origin_mm)
    label_image.SetSpacing(spect_grid.spacing_mm)
    sitk.WriteImage(label_image, str(folder / "labels.nii.gz"))
    (folder / "names.json").write_text(json.dumps({"1": "liver", "2": "tumor1"}))
    rtstruct_path = None
    if rtstruct:
        ct_read = read_image(folder / "ct")
        on_ct = masks_on(ct_grid, mapping=mapping)
        rtstruct_path = write_rtstruct_from_masks(
            {"liver": on_ct["liver"], "tumor1": on_ct["tumor"]},
            ct_read,
            folder / "rtstruct.dcm",
            study=info,
            uid_seed=uid_seed,
        )
    return AnatomyStudy(
        folder=folder,
        ct=folder / "ct",
        spect=folder / "spect",
        labels=folder / "labels.nii.gz",
        rtstruct=rtstruct_path,
        frame_of_reference_uid=info.frame_of_reference_uid,
    )


def body_points(grid: Grid = CT_GRID) -> Floats:
    """Physical points (n, 3) of the reference CT's body voxels (for the TRE)."""
    body = masks_on(grid)["body"]
    points: Floats = grid.index_to_physical_mm(np.argwhere(body)[:, ::-1].astype(np.float64))
    return points


def tre_mm(transform: sitk.Transform, truth: sitk.Transform, points: Floats) -> tuple[float, float]:
    """Mean and max distance between two mappings of ``points`` (mm)."""
    distance = np.linalg.norm(
        rigid_mapping(transform)(points) - rigid_mapping(truth)(points), axis=1
    )
    return float(distance.mean()), float(distance.max())
