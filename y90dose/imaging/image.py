"""The image type: a voxel array plus the exact geometry and provenance needed for dosimetry.

Conventions (the same as SimpleITK's and DICOM's, so nothing is reordered at the boundary):

- ``Image.array`` is indexed ``[k, j, i]`` = ``[z, y, x]`` (slice, row, column): the layout
  of ``SimpleITK.GetArrayFromImage`` and of a stack of DICOM frames.
- ``origin_mm``, ``spacing_mm`` and every *index* triple passed to or returned by the
  transforms below are in ``(i, j, k)`` = ``(x, y, z)`` order, as in SimpleITK.
- ``direction`` is a 3x3 matrix whose *columns* are the patient-space (DICOM LPS) unit
  vectors along i, j and k: column 0 is the DICOM row direction (ImageOrientationPatient
  [0:3]), column 1 the column direction ([3:6]), column 2 the slice direction.
- A physical point (mm, LPS) of the continuous index ``(i, j, k)`` is
  ``p = origin_mm + direction @ (spacing_mm * (i, j, k))`` (DICOM PS3.3 C.7.6.2.1.1,
  extended to the third axis by the slice direction). Index ``(0, 0, 0)`` is the centre of
  the first voxel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import SimpleITK as sitk  # noqa: N813

from y90dose.errors import GeometryError, ImageError, InputError

FloatArray = npt.NDArray[np.floating[Any]]

#: Relative tolerance on spacing/origin/direction when two grids are compared.
GEOMETRY_TOLERANCE_MM = 1e-3
DIRECTION_TOLERANCE = 1e-5

MM3_PER_ML = 1000.0  # 1 mL = 1 cm^3 = 1000 mm^3 (definition)


def _triple(name: str, value: Sequence[float]) -> tuple[float, float, float]:
    values = tuple(float(v) for v in value)
    if len(values) != 3 or not all(np.isfinite(values)):
        raise InputError(name, value, "three finite numbers in (x, y, z) order")
    return values[0], values[1], values[2]


def _direction_matrix(value: Any) -> npt.NDArray[np.float64]:
    matrix = np.asarray(value, dtype=np.float64)
    if matrix.size != 9:
        raise InputError("direction", value, "a 3x3 matrix (or 9 numbers, row-major)")
    matrix = matrix.reshape(3, 3).copy()
    if not np.allclose(matrix.T @ matrix, np.eye(3), atol=1e-4):
        raise InputError("direction", matrix.tolist(), "an orthonormal 3x3 matrix")
    matrix.setflags(write=False)
    return matrix


@dataclass(frozen=True, eq=False)
class Grid:
    """The geometry of a voxel grid, without values.

    Parameters
    ----------
    shape_zyx
        Number of voxels along (k, j, i) = (z, y, x), the array's shape.
    origin_mm
        Centre of voxel (0, 0, 0) in patient coordinates (DICOM LPS), mm, (x, y, z).
    spacing_mm
        Voxel size along i, j, k in mm.
    direction
        3x3 matrix whose columns are the unit vectors of i, j, k in patient space.
    frame_of_reference_uid
        DICOM FrameOfReferenceUID, or ``None`` when unknown (NIfTI, NRRD).
    """

    shape_zyx: tuple[int, int, int]
    origin_mm: tuple[float, float, float]
    spacing_mm: tuple[float, float, float]
    direction: npt.NDArray[np.float64] = field(default_factory=lambda: np.eye(3))
    frame_of_reference_uid: str | None = None

    def __post_init__(self) -> None:
        shape = tuple(int(n) for n in self.shape_zyx)
        if len(shape) != 3 or min(shape) < 1:
            raise InputError("shape_zyx", self.shape_zyx, "three positive integers (z, y, x)")
        object.__setattr__(self, "shape_zyx", shape)
        object.__setattr__(self, "origin_mm", _triple("origin_mm", self.origin_mm))
        spacing = _triple("spacing_mm", self.spacing_mm)
        if min(spacing) <= 0:
            raise InputError("spacing_mm", spacing, "three numbers > 0 mm")
        object.__setattr__(self, "spacing_mm", spacing)
        object.__setattr__(self, "direction", _direction_matrix(self.direction))

    @property
    def voxel_volume_ml(self) -> float:
        """Volume of one voxel in mL (spacing product in mm^3 / 1000)."""
        return float(np.prod(self.spacing_mm)) / MM3_PER_ML

    @property
    def index_to_physical_matrix(self) -> npt.NDArray[np.float64]:
        """3x3 matrix ``M`` with ``p = origin_mm + M @ (i, j, k)``."""
        return self.direction @ np.diag(self.spacing_mm)

    def index_to_physical_mm(self, index_ijk: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Physical points (mm, LPS) of continuous indices ``(..., 3)`` in (i, j, k) order.

        Examples
        --------
        >>> g = Grid((2, 2, 2), (10.0, 0.0, 0.0), (2.0, 2.0, 3.0))
        >>> g.index_to_physical_mm([1, 0, 1]).tolist()
        [12.0, 0.0, 3.0]
        """
        ijk = np.asarray(index_ijk, dtype=np.float64)
        return ijk @ self.index_to_physical_matrix.T + np.asarray(self.origin_mm)

    def physical_mm_to_index(self, points_mm: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Continuous (i, j, k) indices of physical points ``(..., 3)`` in mm (LPS)."""
        points = np.asarray(points_mm, dtype=np.float64) - np.asarray(self.origin_mm)
        inverse = np.linalg.inv(self.index_to_physical_matrix)
        result: npt.NDArray[np.float64] = points @ inverse.T
        return result

    def same_geometry(self, other: Grid, *, tolerance_mm: float = GEOMETRY_TOLERANCE_MM) -> bool:
        """True when both grids have the same shape, origin, spacing and direction.

        Frames of reference are compared too when both are known.
        """
        if self.shape_zyx != other.shape_zyx:
            return False
        if (
            self.frame_of_reference_uid is not None
            and other.frame_of_reference_uid is not None
            and self.frame_of_reference_uid != other.frame_of_reference_uid
        ):
            return False
        return bool(
            np.allclose(self.origin_mm, other.origin_mm, atol=tolerance_mm, rtol=0)
            and np.allclose(self.spacing_mm, other.spacing_mm, atol=tolerance_mm, rtol=0)
            and np.allclose(self.direction, other.direction, atol=DIRECTION_TOLERANCE, rtol=0)
        )

    def require_same_geometry(self, other: Grid, *, what: str = "images") -> None:
        """Raise :class:`GeometryError` describing the difference if the grids differ."""
        if self.same_geometry(other):
            return
        raise GeometryError(
            f"{what} do not share one voxel grid: shape {self.shape_zyx} vs {other.shape_zyx}, "
            f"origin_mm {self.origin_mm} vs {other.origin_mm}, spacing_mm {self.spacing_mm} "
            f"vs {other.spacing_mm}, direction {self.direction.ravel().tolist()} vs "
            f"{other.direction.ravel().tolist()}, FrameOfReferenceUID "
            f"{self.frame_of_reference_uid} vs {other.frame_of_reference_uid}; resample one "
            "onto the other first"
        )

    def empty_sitk(self) -> sitk.Image:
        """A SimpleITK float image with this geometry (used as a resampling reference)."""
        z, y, x = self.shape_zyx
        image = sitk.Image([x, y, z], sitk.sitkFloat32)
        image.SetOrigin(self.origin_mm)
        image.SetSpacing(self.spacing_mm)
        image.SetDirection(tuple(self.direction.ravel().tolist()))
        return image


def require_same_frame(a: str | None, b: str | None, *, what_a: str, what_b: str) -> None:
    """Raise :class:`GeometryError` naming both UIDs if both are known and differ."""
    if a is not None and b is not None and a != b:
        raise GeometryError(
            f"FrameOfReferenceUID of {what_a} ({a}) differs from that of {what_b} ({b}): "
            "their coordinates are not comparable without a registration"
        )


@dataclass(frozen=True, eq=False)
class Image:
    """A 3-D image: float voxel values with exact geometry, units and DICOM provenance.

    Parameters
    ----------
    array
        Voxel values indexed ``[z, y, x]`` (float32 or float64), already rescaled to
        ``units`` (``rescale_applied`` says whether a DICOM rescale was applied).
    origin_mm, spacing_mm, direction, frame_of_reference_uid
        Geometry, see :class:`Grid`.
    modality
        DICOM modality (``"CT"``, ``"PT"``, ``"NM"``, ``"RTDOSE"``) or ``None``.
    units
        Units of the values: ``"HU"``, ``"BQML"`` (Bq/mL), ``"CNTS"``, ``"GY"``, or the
        DICOM Units string as found; ``None`` when unknown.
    study_instance_uid, series_instance_uid
        DICOM UIDs of the source, ``None`` when unknown.
    rescale_applied
        True when stored values were converted with RescaleSlope/Intercept (or
        DoseGridScaling) on reading.
    sop_instance_uids
        SOPInstanceUID of each slice ``k`` (single-frame series) or of the one multi-frame
        file, used when an RTSTRUCT or RTDOSE references this image.
    sop_class_uid
        SOP class of the source files.
    patient_study
        DICOM Patient and General Study attributes of the source (keyword -> value),
        copied into derived objects (RTDOSE, RTSTRUCT).
    metadata
        Anything else worth keeping (e.g. PET decay-correction attributes, source path).

    Examples
    --------
    >>> import numpy as np
    >>> img = Image(np.zeros((2, 3, 4)), origin_mm=(0, 0, 0), spacing_mm=(2, 2, 5))
    >>> img.voxel_volume_ml
    0.02
    """

    array: FloatArray
    origin_mm: tuple[float, float, float]
    spacing_mm: tuple[float, float, float]
    direction: npt.NDArray[np.float64] = field(default_factory=lambda: np.eye(3))
    frame_of_reference_uid: str | None = None
    modality: str | None = None
    units: str | None = None
    study_instance_uid: str | None = None
    series_instance_uid: str | None = None
    rescale_applied: bool = False
    sop_instance_uids: tuple[str, ...] = ()
    sop_class_uid: str | None = None
    patient_study: Mapping[str, Any] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        array = np.asarray(self.array)
        if array.ndim != 3:
            raise InputError("array", f"shape {array.shape}", "a 3-D array indexed [z, y, x]")
        if array.dtype not in (np.float32, np.float64):
            array = array.astype(np.float64)
        object.__setattr__(self, "array", array)
        grid = Grid(
            array.shape,
            self.origin_mm,
            self.spacing_mm,
            self.direction,
            self.frame_of_reference_uid,
        )
        object.__setattr__(self, "origin_mm", grid.origin_mm)
        object.__setattr__(self, "spacing_mm", grid.spacing_mm)
        object.__setattr__(self, "direction", grid.direction)
        object.__setattr__(self, "_grid", grid)

    @property
    def grid(self) -> Grid:
        """The geometry of this image."""
        grid: Grid = self._grid  # type: ignore[attr-defined]
        return grid

    @property
    def shape_zyx(self) -> tuple[int, int, int]:
        """Array shape (z, y, x)."""
        return self.grid.shape_zyx

    @property
    def voxel_volume_ml(self) -> float:
        """Volume of one voxel in mL."""
        return self.grid.voxel_volume_ml

    def index_to_physical_mm(self, index_ijk: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """See :meth:`Grid.index_to_physical_mm`."""
        return self.grid.index_to_physical_mm(index_ijk)

    def physical_mm_to_index(self, points_mm: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """See :meth:`Grid.physical_mm_to_index`."""
        return self.grid.physical_mm_to_index(points_mm)

    def same_geometry(self, other: Image | Grid) -> bool:
        """True when ``other`` has the same grid (shape, origin, spacing, direction, frame)."""
        other_grid = other.grid if isinstance(other, Image) else other
        return self.grid.same_geometry(other_grid)

    def with_array(self, array: npt.ArrayLike, **changes: Any) -> Image:
        """A new image on the same grid with other values (and optionally other fields)."""
        new_array = np.asarray(array)
        if new_array.shape != self.shape_zyx:
            raise InputError("array", f"shape {new_array.shape}", f"shape {self.shape_zyx}")
        return replace(self, array=new_array, **changes)

    def to_sitk(self) -> sitk.Image:
        """A SimpleITK image with the same values and geometry (metadata is not carried)."""
        image = sitk.GetImageFromArray(np.ascontiguousarray(self.array))
        image.SetOrigin(self.origin_mm)
        image.SetSpacing(self.spacing_mm)
        image.SetDirection(tuple(self.direction.ravel().tolist()))
        return image

    @classmethod
    def from_sitk(cls, image: sitk.Image, **fields: Any) -> Image:
        """Wrap a 3-D scalar SimpleITK image; ``fields`` set units, modality and so on.

        Raises
        ------
        ImageError
            If the image is not 3-D or not scalar.
        """
        if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
            raise ImageError(
                f"expected a 3-D scalar image, got dimension {image.GetDimension()} with "
                f"{image.GetNumberOfComponentsPerPixel()} components per voxel"
            )
        array = sitk.GetArrayFromImage(image)
        if array.dtype not in (np.float32, np.float64):
            array = array.astype(np.float64 if array.dtype.itemsize > 2 else np.float32)
        return cls(
            array,
            origin_mm=image.GetOrigin(),
            spacing_mm=image.GetSpacing(),
            direction=np.asarray(image.GetDirection()).reshape(3, 3),
            **fields,
        )
