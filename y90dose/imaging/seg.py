"""DICOM Segmentation (SEG, PS3.3 A.51) objects read with pydicom into VOIs.

Each frame of a SEG holds one slice of one segment
(PerFrameFunctionalGroupsSequence: SegmentIdentificationSequence.ReferencedSegmentNumber,
PlanePositionSequence.ImagePositionPatient; orientation and pixel spacing in the shared
or per-frame groups). Frames of a segment are stacked on a grid of their own (slices
along row x column at the spacing of their positions) and then resampled onto the target
grid by nearest neighbour. BINARY segments are 0/1; FRACTIONAL ones are thresholded at
half of MaximumFractionalValue.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset

from y90dose.errors import ImageError
from y90dose.imaging.dicom_series import (
    _functional,
    _orientation,
    _pixels,
    read_dataset,
    read_dicom_header,
)
from y90dose.imaging.image import Grid, Image, require_same_frame
from y90dose.imaging.resample import resample_mask
from y90dose.imaging.vois import EmptyVoiError, VoiNotFoundError, Vois
from y90dose.limits import check_voxel_count

SEG_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"


def _segment_names(ds: Dataset, path: Path) -> dict[int, str]:
    names: dict[int, str] = {}
    for item in ds.get("SegmentSequence", []):
        number = int(item.SegmentNumber)
        names[number] = str(item.get("SegmentLabel", f"segment {number}"))
    if not names:
        raise ImageError(f"{path}: SEG without SegmentSequence")
    return names


def _frame_value(ds: Dataset, frame: int, sequence: str, keyword: str, path: Path) -> Any:
    value = _functional(ds, frame, sequence, keyword)
    if value is None:
        raise ImageError(f"{path}: frame {frame + 1} has no {sequence}.{keyword}")
    return value


def read_seg(
    path: str | Path,
    target: Image | Grid,
    *,
    names: Iterable[str] | None = None,
) -> Vois:
    """Rasterise the segments of a DICOM SEG file onto ``target``'s grid.

    Raises
    ------
    GeometryError
        If the SEG's and the target's FrameOfReferenceUIDs are both known and differ.
    VoiNotFoundError
        If a requested segment label does not exist.
    EmptyVoiError
        If a segment has no voxel on the target grid.
    ImageError
        If the file is not a readable SEG.
    """
    path = Path(path)
    grid = target.grid if isinstance(target, Image) else target
    header = read_dicom_header(path, required=("Modality",))
    check_voxel_count(
        (int(header.Columns), int(header.Rows), int(header.get("NumberOfFrames", 1) or 1)),
        str(path),
    )
    ds = read_dataset(path)
    if str(ds.get("Modality", "")) != "SEG":
        raise ImageError(f"{path}: not a DICOM SEG (Modality {ds.get('Modality')!r})")
    frame_uid = str(ds.FrameOfReferenceUID) if "FrameOfReferenceUID" in ds else None
    require_same_frame(
        frame_uid, grid.frame_of_reference_uid, what_a=f"SEG {path}", what_b="the image"
    )
    segment_names = _segment_names(ds, path)
    wanted = list(names) if names is not None else list(segment_names.values())
    missing = [n for n in wanted if n not in segment_names.values()]
    if missing:
        raise VoiNotFoundError(
            f"{path}: no segment {missing}; available {sorted(segment_names.values())}"
        )

    n_frames = int(ds.get("NumberOfFrames", 1))
    pixels = _pixels(ds, path).reshape(n_frames, int(ds.Rows), int(ds.Columns))
    if str(ds.get("SegmentationType", "BINARY")) == "FRACTIONAL":
        binary = pixels >= float(ds.get("MaximumFractionalValue", 255)) / 2.0
    else:
        binary = pixels > 0
    holder = Dataset()
    holder.ImageOrientationPatient = _frame_value(
        ds, 0, "PlaneOrientationSequence", "ImageOrientationPatient", path
    )
    orientation = _orientation(holder, path)
    pixel_spacing = [
        float(v) for v in _frame_value(ds, 0, "PixelMeasuresSequence", "PixelSpacing", path)
    ]
    segment_of_frame = np.asarray(
        [
            int(
                _frame_value(
                    ds, f, "SegmentIdentificationSequence", "ReferencedSegmentNumber", path
                )
            )
            for f in range(n_frames)
        ]
    )
    positions = np.asarray(
        [
            [
                float(v)
                for v in _frame_value(ds, f, "PlanePositionSequence", "ImagePositionPatient", path)
            ]
            for f in range(n_frames)
        ]
    )
    along = positions @ orientation[:, 2]
    unique = np.unique(np.round(along, 3))
    if unique.size > 1:
        spacing_k = float(np.min(np.diff(unique)))
    else:
        spacing_k = float(
            _functional(ds, 0, "PixelMeasuresSequence", "SpacingBetweenSlices")
            or _functional(ds, 0, "PixelMeasuresSequence", "SliceThickness")
            or 1.0
        )
    first = int(np.argmin(along))
    slice_index = np.rint((along - along[first]) / spacing_k).astype(int)
    if np.any(np.abs((along - along[first]) / spacing_k - slice_index) > 0.1):
        raise ImageError(f"{path}: frame positions are not on a regular slice grid")
    seg_grid = Grid(
        (int(slice_index.max()) + 1, int(ds.Rows), int(ds.Columns)),
        tuple(positions[first].tolist()),
        (pixel_spacing[1], pixel_spacing[0], spacing_k),
        orientation,
        frame_uid,
    )
    by_name = {name: number for number, name in segment_names.items()}
    masks: dict[str, npt.NDArray[np.bool_]] = {}
    for name in wanted:
        volume = np.zeros(seg_grid.shape_zyx, dtype=bool)
        frames = np.flatnonzero(segment_of_frame == by_name[name])
        volume[slice_index[frames]] |= binary[frames].astype(bool)
        mask = resample_mask(volume, seg_grid, grid)
        if not mask.any():
            raise EmptyVoiError(f"{path}: segment {name!r} has no voxel on the image grid")
        masks[name] = mask
    return Vois(grid, masks)
