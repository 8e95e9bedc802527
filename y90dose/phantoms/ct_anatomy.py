"""A CT-like trunk evaluated at any physical point: registration test data with known answers.

A registration test needs two images of the same anatomy related by a *known* mapping.
Resampling one image to make the other blurs it and loses what leaves the grid; here the
anatomy is analytic, so the moving image is the same anatomy sampled through the known
mapping (``moving(q) = anatomy(mapping(q))``) and nothing is interpolated twice.

Anatomy (DICOM LPS mm, +x patient left, +y posterior, +z superior; painter's order, each
shape with a soft edge of :data:`EDGE_MM` so that sampling does not alias):

- air -1000 HU around a body (elliptic cylinder 300 x 210 mm along z) with a 12 mm
  subcutaneous fat layer (-100 HU) around soft tissue (40 HU);
- two lungs (-850 HU, ellipsoids, z 20 to 160 mm);
- a liver (90 HU, contrast phase) on the patient's right holding a hypodense tumour
  (30 HU, sphere r 18 mm);
- two kidneys (150 HU), the aorta (200 HU, a cylinder along z);
- the spine: vertebral bodies (400 HU) every 30 mm along z with 6 mm discs (80 HU).

With ``lung_detail=True`` (the CT lung-mass tests) the lungs also hold what a lung
segmentation must handle: a trachea (air, -1000 HU, r 9 mm) running up from the carina at
z 130 mm to the top of the image, two main bronchi (air, r 6 mm) from the carina into each
lung's hilum, and soft-tissue vessels (40 HU, r 3.5 mm) and a nodule (r 8 mm) inside the
lungs. :func:`lung_truth` says which points are lung (inside a lung, not in the liver or an
airway; vessels and the nodule count as lung) and :func:`lung_reference` integrates the
true lung volume and mass (through the project's HU-to-density curve).

Lungs, liver and kidneys break the body's translation invariance along z; the vertebrae
alone would allow 30 mm ambiguities. Gaussian noise (seeded) makes the intensities
realistic for mutual information.

Examples
--------
>>> import SimpleITK as sitk
>>> from y90dose.imaging import Grid
>>> grid = Grid((40, 48, 64), (-189.0, -141.0, -117.0), (6.0, 6.0, 6.0))
>>> fixed = ct_image(grid, seed=1)
>>> moving = ct_image(grid, mapping=rigid_mapping(sitk.Euler3DTransform()), seed=2)
>>> fixed.array.shape
(40, 48, 64)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import SimpleITK as sitk  # noqa: N813

from y90dose.imaging.image import Grid, Image

Points = npt.NDArray[np.float64]
Mapping = Callable[[Points], Points]
"""Physical points ``(n, 3)`` (x, y, z mm) of the image's grid -> points of the anatomy."""

EDGE_MM = 1.0
"""Width of the logistic edge of every shape (mm): smooth, so sampling does not alias."""

AIR_HU, FAT_HU, SOFT_HU, LUNG_HU = -1000.0, -100.0, 40.0, -850.0
LIVER_HU, TUMOR_HU, KIDNEY_HU, AORTA_HU = 90.0, 30.0, 150.0, 200.0
BONE_HU, DISC_HU = 400.0, 80.0

BODY_SEMI_AXES_MM = (150.0, 105.0)
FAT_LAYER_MM = 12.0
LUNGS = (((-70.0, 0.0, 90.0), (48.0, 60.0, 70.0)), ((70.0, 0.0, 90.0), (48.0, 60.0, 70.0)))
LIVER = ((-50.0, -5.0, -10.0), (80.0, 65.0, 55.0))
TUMOR = ((-70.0, -15.0, -15.0), 18.0)
KIDNEYS = (((-65.0, 45.0, -75.0), (26.0, 20.0, 45.0)), ((65.0, 45.0, -80.0), (26.0, 20.0, 45.0)))
AORTA = ((12.0, 45.0), 11.0)
SPINE = ((0.0, 78.0), 16.0)
VERTEBRA_PERIOD_MM, DISC_MM = 30.0, 6.0
AIRWAY_HU, VESSEL_HU = -1000.0, 40.0
TRACHEA = ((0.0, -5.0), 9.0, 130.0)
"""Trachea: centre (x, y) mm, radius mm, and the carina's z (it runs from there upwards)."""
BRONCHUS_RADIUS_MM = 6.0
BRONCHI = (((0.0, -5.0, 130.0), (-45.0, -2.0, 105.0)), ((0.0, -5.0, 130.0), (45.0, -2.0, 105.0)))
"""Main bronchi: carina to a point inside the right (-x) and left (+x) lung."""
VESSEL_RADIUS_MM = 3.5
LUNG_VESSELS = (
    ((-60.0, 10.0, 110.0), (-85.0, 20.0, 70.0)),
    ((-90.0, -25.0, 95.0), (-70.0, -30.0, 125.0)),
    ((60.0, 15.0, 115.0), (88.0, 25.0, 80.0)),
    ((92.0, -20.0, 100.0), (68.0, -32.0, 128.0)),
)
"""Vessel segments inside the lungs (start, end), each well inside its lung."""
NODULE = ((80.0, 20.0, 75.0), 8.0)
"""A soft-tissue nodule inside the left lung (centre, radius mm)."""


def _inside(signed_distance_mm: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """Soft membership: 1 deep inside, 0.5 on the surface, 0 outside."""
    out: npt.NDArray[np.float64] = 0.5 * (1.0 - np.tanh(signed_distance_mm / EDGE_MM))
    return out


def _ellipsoid_distance(p: Points, centre: Any, semi: Any) -> npt.NDArray[np.float64]:
    """Approximate signed distance (mm) to an ellipsoid surface (exact for a sphere)."""
    r = np.sqrt((((p - np.asarray(centre)) / np.asarray(semi)) ** 2).sum(axis=-1))
    out: npt.NDArray[np.float64] = (r - 1.0) * float(min(semi))
    return out


def _cylinder_distance(p: Points, centre_xy: Any, semi_xy: Any) -> npt.NDArray[np.float64]:
    """Approximate signed distance (mm) to an elliptic cylinder along z."""
    d = (p[:, :2] - np.asarray(centre_xy)) / np.asarray(semi_xy)
    out: npt.NDArray[np.float64] = (np.sqrt((d**2).sum(axis=-1)) - 1.0) * float(min(semi_xy))
    return out


def _segment_distance(p: Points, start: Any, end: Any, radius: float) -> npt.NDArray[np.float64]:
    """Signed distance (mm) to a tube of ``radius`` around the segment start-end (a capsule)."""
    a, b = np.asarray(start, dtype=np.float64), np.asarray(end, dtype=np.float64)
    t = np.clip(((p - a) @ (b - a)) / float((b - a) @ (b - a)), 0.0, 1.0)
    out: npt.NDArray[np.float64] = np.linalg.norm(p - (a + t[:, None] * (b - a)), axis=1) - radius
    return out


def _trachea_distance(p: Points) -> npt.NDArray[np.float64]:
    """Signed distance (mm) to the trachea: a cylinder along z from the carina up."""
    (centre, radius, carina_z) = TRACHEA
    radial = _cylinder_distance(p, centre, (radius, radius))
    out: npt.NDArray[np.float64] = np.maximum(radial, carina_z - p[:, 2])
    return out


def airway_distance(points_mm: Points) -> npt.NDArray[np.float64]:
    """Signed distance (mm) to the airways (trachea and main bronchi): < 0 inside."""
    p = np.asarray(points_mm, dtype=np.float64).reshape(-1, 3)
    distance = _trachea_distance(p)
    for start, end in BRONCHI:
        distance = np.minimum(distance, _segment_distance(p, start, end, BRONCHUS_RADIUS_MM))
    return distance


def lung_truth(points_mm: Points) -> dict[str, npt.NDArray[np.bool_]]:
    """Which points are lung (``lung``, ``left``, ``right``): inside a lung ellipsoid, not in
    the liver (painted over the lung base) nor in an airway; vessels and nodule included."""
    p = np.asarray(points_mm, dtype=np.float64).reshape(-1, 3)
    outside = (_ellipsoid_distance(p, *LIVER) < 0) | (airway_distance(p) < 0)
    right = (_ellipsoid_distance(p, *LUNGS[0]) < 0) & ~outside
    left = (_ellipsoid_distance(p, *LUNGS[1]) < 0) & ~outside
    return {"lung": right | left, "left": left, "right": right}


def anatomy_hu(points_mm: Points, *, lung_detail: bool = False) -> npt.NDArray[np.float64]:
    """CT numbers (HU) of the anatomy at physical points ``(n, 3)`` (x, y, z mm, LPS).

    ``lung_detail`` adds the trachea, main bronchi, lung vessels and nodule.
    """
    p = np.asarray(points_mm, dtype=np.float64).reshape(-1, 3)
    hu = np.full(len(p), AIR_HU)

    def paint(value: float, distance: npt.NDArray[Any]) -> None:
        w = _inside(distance)
        hu[:] = hu * (1.0 - w) + value * w

    a, b = BODY_SEMI_AXES_MM
    paint(FAT_HU, _cylinder_distance(p, (0.0, 0.0), (a, b)))
    paint(SOFT_HU, _cylinder_distance(p, (0.0, 0.0), (a - FAT_LAYER_MM, b - FAT_LAYER_MM)))
    for centre, semi in LUNGS:
        paint(LUNG_HU, _ellipsoid_distance(p, centre, semi))
    if lung_detail:
        for start, end in LUNG_VESSELS:
            paint(VESSEL_HU, _segment_distance(p, start, end, VESSEL_RADIUS_MM))
        paint(VESSEL_HU, _ellipsoid_distance(p, NODULE[0], (NODULE[1],) * 3))
        paint(AIRWAY_HU, airway_distance(p))
    paint(LIVER_HU, _ellipsoid_distance(p, *LIVER))
    paint(TUMOR_HU, _ellipsoid_distance(p, TUMOR[0], (TUMOR[1],) * 3))
    for centre, semi in KIDNEYS:
        paint(KIDNEY_HU, _ellipsoid_distance(p, centre, semi))
    paint(AORTA_HU, _cylinder_distance(p, AORTA[0], (AORTA[1], AORTA[1])))
    spine = _cylinder_distance(p, SPINE[0], (SPINE[1], SPINE[1]))
    paint(BONE_HU, spine)
    # discs: the last DISC_MM of every VERTEBRA_PERIOD_MM along z, inside the spine
    phase = np.mod(p[:, 2], VERTEBRA_PERIOD_MM)
    disc = np.maximum(spine, np.abs(phase - (VERTEBRA_PERIOD_MM - DISC_MM / 2)) - DISC_MM / 2)
    paint(DISC_HU, disc)
    return hu


def voi_masks(points_mm: Points) -> dict[str, npt.NDArray[np.bool_]]:
    """Analytic VOIs (``liver``, ``tumor``, ``body``) at points ``(n, 3)``: inside or not."""
    p = np.asarray(points_mm, dtype=np.float64).reshape(-1, 3)
    return {
        "body": _cylinder_distance(p, (0.0, 0.0), BODY_SEMI_AXES_MM) < 0,
        "liver": _ellipsoid_distance(p, *LIVER) < 0,
        "tumor": _ellipsoid_distance(p, TUMOR[0], (TUMOR[1],) * 3) < 0,
    }


def grid_points_mm(grid: Grid, k: int) -> Points:
    """Physical points ``(ny * nx, 3)`` of slice ``k`` of ``grid``, x fastest."""
    _, ny, nx = grid.shape_zyx
    j, i = np.mgrid[0:ny, 0:nx]
    ijk = np.stack([i.ravel(), j.ravel(), np.full(i.size, k)], axis=-1).astype(np.float64)
    return grid.index_to_physical_mm(ijk)


def ct_image(
    grid: Grid,
    *,
    mapping: Mapping | None = None,
    noise_hu: float = 10.0,
    seed: int = 0,
    lung_detail: bool = False,
) -> Image:
    """The anatomy sampled on ``grid`` through ``mapping`` (identity if None), float32 HU.

    Parameters
    ----------
    grid
        The image's voxel grid.
    mapping
        Maps the grid's physical points to the anatomy's: ``image(q) = anatomy(mapping(q))``.
        A moving image made with ``mapping = A`` is registered to a fixed image made with
        the identity by the fixed-to-moving transform ``A^-1``.
    noise_hu
        Standard deviation of the Gaussian noise added (HU).
    seed
        Seed of the noise.
    lung_detail
        Add the trachea, main bronchi, lung vessels and nodule (module docstring).
    """
    rng = np.random.default_rng(seed)
    nz, ny, nx = grid.shape_zyx
    array = np.empty(grid.shape_zyx, dtype=np.float32)
    for k in range(nz):
        points = grid_points_mm(grid, k)
        if mapping is not None:
            points = mapping(points)
        array[k] = anatomy_hu(points, lung_detail=lung_detail).reshape(ny, nx)
    if noise_hu > 0:
        array += rng.normal(0.0, noise_hu, size=array.shape).astype(np.float32)
    return Image(
        array,
        origin_mm=grid.origin_mm,
        spacing_mm=grid.spacing_mm,
        direction=grid.direction,
        frame_of_reference_uid=grid.frame_of_reference_uid,
        modality="CT",
        units="HU",
    )


def masks_on(grid: Grid, *, mapping: Mapping | None = None) -> dict[str, npt.NDArray[np.bool_]]:
    """:func:`voi_masks` on every voxel centre of ``grid`` (through ``mapping``), [z, y, x]."""
    nz, ny, nx = grid.shape_zyx
    out = {name: np.zeros(grid.shape_zyx, dtype=bool) for name in ("body", "liver", "tumor")}
    for k in range(nz):
        points = grid_points_mm(grid, k)
        if mapping is not None:
            points = mapping(points)
        for name, mask in voi_masks(points).items():
            out[name][k] = mask.reshape(ny, nx)
    return out


def rigid_mapping(transform: sitk.Transform) -> Mapping:
    """The points mapping of an affine SimpleITK transform (Euler3D, affine), vectorised."""
    origin = np.asarray(transform.TransformPoint((0.0, 0.0, 0.0)))
    columns = [
        np.asarray(transform.TransformPoint(tuple(np.eye(3)[a].tolist()))) - origin
        for a in range(3)
    ]
    matrix = np.stack(columns, axis=1)

    def mapping(points: Points) -> Points:
        out: Points = points @ matrix.T + origin
        return out

    return mapping


def field_mapping(transform: sitk.Transform, grid: Grid) -> Mapping:
    """The points mapping of any transform, through its displacement field on ``grid``.

    The field is sampled at the grid's voxel centres; the mapping applies to those points
    (the ones :func:`ct_image` passes), looked up by nearest voxel.
    """
    nz, ny, nx = grid.shape_zyx
    field = sitk.TransformToDisplacementField(
        transform,
        sitk.sitkVectorFloat64,
        [nx, ny, nz],
        grid.origin_mm,
        grid.spacing_mm,
        tuple(grid.direction.ravel().tolist()),
    )
    displacement = sitk.GetArrayFromImage(field).reshape(-1, 3)  # [z, y, x] order, (dx, dy, dz)

    def mapping(points: Points) -> Points:
        index = np.rint(grid.physical_mm_to_index(points)).astype(np.int64)
        flat = (index[:, 2] * ny + index[:, 1]) * nx + index[:, 0]
        out: Points = points + displacement[flat]
        return out

    return mapping


def lung_reference(step_mm: float = 1.0) -> dict[str, float]:
    """The true lung volumes (mL) and masses (kg) of the ``lung_detail`` anatomy.

    The truth (:func:`lung_truth`) is integrated on a ``step_mm`` grid over each lung's
    bounding box: volume = points inside x step^3; mass = the sum of the density of the
    noise-free CT number at each point inside (the project's curve,
    :func:`y90dose.voxel.density.hu_to_density`) x step^3.

    Returns
    -------
    dict
        ``lung_volume_ml``, ``lung_mass_kg``, ``left_volume_ml``, ``left_mass_kg``,
        ``right_volume_ml``, ``right_mass_kg``.
    """
    from y90dose.voxel.density import hu_to_density

    cell_ml = step_mm**3 / 1000.0
    out: dict[str, float] = {}
    for side, (centre, semi) in zip(("right", "left"), LUNGS, strict=True):
        axes = [
            np.arange(c - s, c + s + step_mm, step_mm) for c, s in zip(centre, semi, strict=True)
        ]
        volume_ml = mass_kg = 0.0
        for z in axes[2]:
            y, x = np.meshgrid(axes[1], axes[0], indexing="ij")
            points = np.column_stack([x.ravel(), y.ravel(), np.full(x.size, z)])
            inside = lung_truth(points)[side]
            if not inside.any():
                continue
            hu = anatomy_hu(points[inside], lung_detail=True)
            volume_ml += float(inside.sum()) * cell_ml
            mass_kg += float(hu_to_density(hu).density_g_ml.sum()) * cell_ml / 1000.0
        out[f"{side}_volume_ml"] = volume_ml
        out[f"{side}_mass_kg"] = mass_kg
    out["lung_volume_ml"] = out["left_volume_ml"] + out["right_volume_ml"]
    out["lung_mass_kg"] = out["left_mass_kg"] + out["right_mass_kg"]
    return out
