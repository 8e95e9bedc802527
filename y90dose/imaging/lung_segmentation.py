"""Lungs from a CT without a trained model: thresholds, connected components, morphology.

The steps follow the classic approach of Hu, Hoffman and Reinhardt (IEEE Trans Med Imaging
2001;20:490-498), with fixed thresholds:

1. **Body**: voxels above :data:`BODY_THRESHOLD_HU` (fat and everything denser), their
   largest 3-D connected component, with every axial slice's holes filled (the lungs and
   airways are holes of the body in each slice). Air outside the body (around the
   patient, between the arms and the table) is what is not body.
2. **Airways**: the trachea is the small air region (below :data:`AIRWAY_THRESHOLD_HU`)
   inside the body nearest the body's left-right middle in the most superior slices; the
   trachea and main bronchi are its 3-D connected component at that threshold (lung
   parenchyma, about -700 to -900 HU, stays above it), its lumen's noise holes closed, and
   one voxel of wall around it (partial-volume voxels of the airway wall fall below the
   lung threshold and would join the lungs along the bronchi). If that region grows beyond
   :data:`MAX_AIRWAY_ML` (it leaked into emphysematous or noisy lung), the threshold is
   lowered in steps of :data:`AIRWAY_THRESHOLD_STEP_HU` until it does not.
3. **Lungs**: body voxels below :data:`LUNG_THRESHOLD_HU` (halfway between lung
   parenchyma and soft tissue), less the airways; 3-D connected components (6-connected)
   of at least :data:`MIN_COMPONENT_ML` whose mean CT number is above
   :data:`GAS_MEAN_HU` (pockets of pure gas, such as bowel or stomach gas, are not lung).
4. **Vessels filled**: holes enclosed by the lungs in 3-D are filled (vessels, nodules),
   and so are holes in an axial slice smaller than :data:`MAX_SLICE_HOLE_MM2` (vessels
   that reach the lung surface in 3-D: hilar vessels); larger holes (the mediastinum, if
   the lungs meet in front and behind it) are kept out, and so are the airways.
5. **Left and right**: when the lungs are two or more components, the two largest are the
   lungs; their centroids give the left (+x, patient left in DICOM LPS) and right. Smaller
   components join the side of their centroid. Lungs that touch (one component) are not
   separated, and the result says so.

A lung mask that reaches a face of the CT volume is cut by the CT's field of view (its
mass is underestimated); the faces it reaches are reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from y90dose.errors import ImageError
from y90dose.imaging.image import Image

BoolArray = npt.NDArray[np.bool_]

BODY_THRESHOLD_HU = -500.0
"""Body: fat (-100 HU) and denser; air (-1000) and lung (-700 to -900) are below."""
LUNG_THRESHOLD_HU = -400.0
"""Lung: below the midpoint of lung parenchyma (about -850 HU) and soft tissue (40 HU)."""
AIRWAY_THRESHOLD_HU = -950.0
"""Airway lumen: air (-1000 HU), below lung parenchyma (Hu et al. 2001 grow the trachea
at a threshold near air)."""
AIRWAY_THRESHOLD_STEP_HU = 20.0
MIN_AIRWAY_THRESHOLD_HU = -1000.0
MAX_AIRWAY_ML = 300.0
"""Largest trachea-and-bronchi region accepted (adult trachea and main bronchi hold about
50-100 mL); a larger region has leaked into the lungs."""
TRACHEA_SEARCH_MM = 40.0
"""The trachea is sought in the most superior 40 mm of the CT."""
TRACHEA_AREA_MM2 = (50.0, 800.0)
"""Cross-section of a trachea in an axial slice (radius 4-16 mm)."""
MIN_COMPONENT_ML = 10.0
"""Smallest connected region kept as lung."""
GAS_MEAN_HU = -960.0
"""A region whose mean CT number is below this is gas, not lung parenchyma."""
MAX_SLICE_HOLE_MM2 = 1500.0
"""Largest hole of an axial slice filled as a vessel (about 4 cm across)."""


@dataclass(frozen=True)
class LungSegmentation:
    """The lungs of a CT (masks on the CT's grid, axes z, y, x) and how they were found."""

    lungs: BoolArray
    left: BoolArray | None
    right: BoolArray | None
    airways: BoolArray
    airway_threshold_hu: float | None
    cut_at: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def separated(self) -> bool:
        """True when left and right lungs were told apart."""
        return self.left is not None and self.right is not None

    @property
    def complete(self) -> bool:
        """False when the lungs reach a face of the CT volume (cut by its field of view)."""
        return not self.cut_at


def _superior_first(image: Image) -> list[int]:
    """Slice indices ordered from the most superior (largest patient z) down."""
    nz = image.shape_zyx[0]
    z_first = image.grid.index_to_physical_mm([0.0, 0.0, 0.0])[2]
    z_last = image.grid.index_to_physical_mm([0.0, 0.0, float(nz - 1)])[2]
    order = list(range(nz))
    return order[::-1] if z_last > z_first else order


def _body(hu: npt.NDArray[np.floating]) -> BoolArray:
    """The body (step 1), holes of each axial slice filled."""
    dense = hu > BODY_THRESHOLD_HU
    labels, count = ndimage.label(dense)
    if count == 0:
        raise ImageError("the CT holds no body (nothing above -500 HU)", field="ct")
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    body = labels == int(np.argmax(sizes))
    for k in range(body.shape[0]):
        body[k] = ndimage.binary_fill_holes(body[k])
    return body


def _trachea_seed(
    air: BoolArray, body: BoolArray, image: Image, pixel_mm2: float
) -> tuple[int, int, int] | None:
    """A voxel of the trachea (step 2), or None when no slice shows one."""
    slices = _superior_first(image)[: max(1, round(TRACHEA_SEARCH_MM / image.spacing_mm[2]))]
    low, high = TRACHEA_AREA_MM2
    for k in slices:
        if not body[k].any():
            continue
        centre_x = float(np.nonzero(body[k])[1].mean())
        labels, count = ndimage.label(air[k])
        best: tuple[float, tuple[int, int, int]] | None = None
        for label in range(1, count + 1):
            ys, xs = np.nonzero(labels == label)
            area = ys.size * pixel_mm2
            if not low <= area <= high:
                continue
            offset = abs(float(xs.mean()) - centre_x)
            if best is None or offset < best[0]:
                best = (offset, (k, int(ys[ys.size // 2]), int(xs[xs.size // 2])))
        if best is not None:
            return best[1]
    return None


def _lumen(region: BoolArray) -> BoolArray:
    """The airway region with the noise holes of its lumen closed: a closing by one voxel
    and each axial slice's holes filled (noisy lumen voxels above the threshold would
    otherwise stay behind as lung candidates connected to the lungs)."""
    closed = ndimage.binary_closing(region, iterations=1) | region
    for k in range(closed.shape[0]):
        if closed[k].any():
            closed[k] = ndimage.binary_fill_holes(closed[k])
    return np.asarray(closed, dtype=bool)


def _airways(
    hu: npt.NDArray[np.floating], body: BoolArray, image: Image
) -> tuple[BoolArray, float | None, list[str]]:
    """Trachea and main bronchi (step 2), the threshold used, and notes."""
    voxel_ml = image.grid.voxel_volume_ml
    pixel_mm2 = image.spacing_mm[0] * image.spacing_mm[1]
    threshold = AIRWAY_THRESHOLD_HU
    while threshold >= MIN_AIRWAY_THRESHOLD_HU:
        air = (hu < threshold) & body
        seed = _trachea_seed(air, body, image, pixel_mm2)
        if seed is None:
            return (
                np.zeros_like(body),
                None,
                [
                    "no trachea found in the most superior slices: no airway removed (the CT "
                    "starts below the carina, or holds no air-filled trachea)"
                ],
            )
        labels, _ = ndimage.label(air)
        region = _lumen(labels == labels[seed])
        if region.sum() * voxel_ml <= MAX_AIRWAY_ML:
            notes = []
            if threshold != AIRWAY_THRESHOLD_HU:
                notes.append(
                    f"airways grown at {threshold:g} HU (at {AIRWAY_THRESHOLD_HU:g} HU they "
                    "leaked into the lungs)"
                )
            return region, threshold, notes
        threshold -= AIRWAY_THRESHOLD_STEP_HU
    return (
        np.zeros_like(body),
        None,
        [
            f"the airways could not be separated from the lungs (above {MAX_AIRWAY_ML:g} mL at "
            f"every threshold down to {MIN_AIRWAY_THRESHOLD_HU:g} HU): trachea and bronchi are "
            "counted as lung"
        ],
    )


def _fill_vessels(lungs: BoolArray, pixel_mm2: float) -> BoolArray:
    """Step 4: 3-D enclosed holes, and small holes of each axial slice."""
    filled = ndimage.binary_fill_holes(lungs)
    max_pixels = MAX_SLICE_HOLE_MM2 / pixel_mm2
    for k in range(filled.shape[0]):
        plane = filled[k]
        holes = ndimage.binary_fill_holes(plane) & ~plane
        if not holes.any():
            continue
        labels, count = ndimage.label(holes)
        sizes = np.bincount(labels.ravel(), minlength=count + 1)
        small = np.nonzero((sizes <= max_pixels) & (np.arange(count + 1) > 0))[0]
        filled[k] |= np.isin(labels, small)
    return np.asarray(filled, dtype=bool)


def _cut_faces(mask: BoolArray) -> tuple[str, ...]:
    """The faces of the volume the mask reaches (``first z slice``...)."""
    faces = []
    for axis, name in zip(range(3), ("z", "y", "x"), strict=True):
        first = np.take(mask, 0, axis=axis)
        last = np.take(mask, mask.shape[axis] - 1, axis=axis)
        if first.any():
            faces.append(f"first {name} slice")
        if last.any():
            faces.append(f"last {name} slice")
    return tuple(faces)


def segment_lungs(ct: Image) -> LungSegmentation:
    """The lungs of ``ct`` (in HU), steps 1-5 of the module docstring.

    Raises
    ------
    ImageError
        No body, or no lung region in the CT.

    Examples
    --------
    >>> from y90dose.imaging import Grid
    >>> from y90dose.phantoms.ct_anatomy import ct_image
    >>> ct = ct_image(Grid((41, 51, 69), (-170.0, -125.0, 0.0), (5.0, 5.0, 5.0)),
    ...               lung_detail=True)
    >>> lungs = segment_lungs(ct)
    >>> lungs.separated, lungs.complete
    (True, True)
    """
    hu = np.asarray(ct.array)
    body = _body(hu)
    airways, airway_threshold, notes = _airways(hu, body, ct)
    voxel_ml = ct.grid.voxel_volume_ml
    # the airways with their partial-volume wall (one voxel): the wall voxels between air
    # and tissue fall below the lung threshold and would join the lungs along the bronchi
    walled = ndimage.binary_dilation(airways) if airways.any() else airways
    candidates = (hu < LUNG_THRESHOLD_HU) & body & ~walled
    labels, count = ndimage.label(candidates)
    if count == 0:
        raise ImageError(
            "no lung found in the CT (no air-filled region inside the body)", field="ct"
        )
    index = np.arange(1, count + 1)
    sizes = ndimage.sum_labels(candidates, labels, index) * voxel_ml
    means = ndimage.mean(hu, labels, index)
    kept = [
        int(label)
        for label, size, mean in zip(index, sizes, means, strict=True)
        if size >= MIN_COMPONENT_ML and mean > GAS_MEAN_HU
    ]
    gas = [
        f"{size:.0f} mL"
        for size, mean in zip(sizes, means, strict=True)
        if size >= MIN_COMPONENT_ML and mean <= GAS_MEAN_HU
    ]
    if gas:
        notes.append(f"gas regions left out (mean below {GAS_MEAN_HU:g} HU): {', '.join(gas)}")
    if not kept:
        raise ImageError(
            f"no lung found in the CT (no region of at least {MIN_COMPONENT_ML:g} mL below "
            f"{LUNG_THRESHOLD_HU:g} HU inside the body)",
            field="ct",
        )
    pixel_mm2 = ct.spacing_mm[0] * ct.spacing_mm[1]
    # filling must not put the airways back (a bronchus inside a lung is a hole of the
    # lung in the axial slices where it ends)
    lungs = _fill_vessels(np.isin(labels, kept), pixel_mm2) & ~walled
    left = right = None
    ordered = sorted(kept, key=lambda label: -sizes[label - 1])
    if len(ordered) >= 2:
        centroids_x = {
            label: float(
                ct.grid.index_to_physical_mm(
                    np.asarray(ndimage.center_of_mass(labels == label))[::-1]
                )[0]
            )
            for label in ordered
        }
        a, b = ordered[0], ordered[1]
        midline_x = 0.5 * (centroids_x[a] + centroids_x[b])
        left_labels = [label for label in ordered if centroids_x[label] > midline_x]
        left_region = _fill_vessels(np.isin(labels, left_labels), pixel_mm2)
        left = lungs & left_region
        right = lungs & ~left_region
    else:
        notes.append("the lungs touch (one connected region): left and right not separated")
    cut = _cut_faces(lungs)
    if cut:
        notes.append(
            f"the lungs reach the {', '.join(cut)} of the CT: they are cut by its field of "
            "view, and their volume and mass are underestimated"
        )
    return LungSegmentation(
        lungs=lungs,
        left=left,
        right=right,
        airways=airways,
        airway_threshold_hu=airway_threshold,
        cut_at=cut,
        notes=tuple(notes),
    )
