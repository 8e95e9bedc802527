"""Resampling: linear interpolation reproduces linear fields exactly, the outside value is
used outside the source, masks go by nearest neighbour, and foreign frames are refused."""

from __future__ import annotations

import numpy as np
import pytest

from y90dose.errors import GeometryError, InputError
from y90dose.imaging import Grid, Image, resample_image, resample_mask, total_activity_bq


def _ramp(grid: Grid) -> np.ndarray:
    nz, ny, nx = grid.shape_zyx
    k, j, i = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
    points = grid.index_to_physical_mm(np.stack([i, j, k], axis=-1).astype(float))
    return 2.0 * points[..., 0] - 0.5 * points[..., 1] + 3.0 * points[..., 2] + 100.0


def test_linear_field_is_reproduced_and_outside_value_used() -> None:
    source_grid = Grid((20, 20, 20), (0.0, 0.0, 0.0), (4.0, 4.0, 4.0), frame_of_reference_uid="1.2")
    source = Image(
        _ramp(source_grid),
        source_grid.origin_mm,
        source_grid.spacing_mm,
        frame_of_reference_uid="1.2",
        units="BQML",
    )
    target = Grid((30, 40, 60), (1.3, 2.1, 0.7), (1.5, 1.5, 2.0), frame_of_reference_uid="1.2")
    result = resample_image(source, target, outside_value=-1.0)
    assert result.same_geometry(target) and result.units == "BQML"
    expected = _ramp(target)
    inside = result.array != -1.0
    assert 0.5 < inside.mean() < 1.0
    # between the outer voxel centres interpolation is exact for a linear field; in the
    # outer half voxel (still inside the source's extent) SimpleITK holds the edge value
    nz, ny, nx = target.shape_zyx
    k, j, i = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
    points = target.index_to_physical_mm(np.stack([i, j, k], axis=-1).astype(float))
    hull = np.all((points >= 0.0) & (points <= 76.0), axis=-1)
    assert hull.mean() > 0.5
    assert result.array[hull] == pytest.approx(expected[hull], abs=1e-6)
    assert np.all(inside[hull])
    # the source's last voxel centre is at x = 76 mm: a target voxel at 85 mm is outside
    i, j, k = np.rint(target.physical_mm_to_index([85.3, 11.1, 10.7])).astype(int)
    assert result.array[k, j, i] == -1.0


def test_mask_nearest_neighbour_keeps_a_block() -> None:
    source = Grid((10, 10, 10), (0.0, 0.0, 0.0), (2.0, 2.0, 2.0))
    mask = np.zeros(source.shape_zyx, dtype=bool)
    mask[2:6, 2:6, 2:6] = True  # 8 mm cube from 3 to 11 mm (voxel edges)
    target = Grid((20, 20, 20), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    result = resample_mask(mask, source, target)
    assert result.dtype == bool
    assert result.sum() * 1.0 == pytest.approx(8**3, rel=0.2)
    assert result[7, 7, 7] and not result[0, 0, 0]


def test_foreign_frame_of_reference_is_refused() -> None:
    image = Image(np.ones((2, 2, 2)), (0, 0, 0), (1, 1, 1), frame_of_reference_uid="1.2.3")
    target = Grid((2, 2, 2), (0, 0, 0), (2, 2, 2), frame_of_reference_uid="1.2.4")
    with pytest.raises(GeometryError, match=r"1\.2\.3.*1\.2\.4"):
        resample_image(image, target, outside_value=0.0)
    with pytest.raises(GeometryError, match=r"1\.2\.3"):
        resample_mask(np.ones((2, 2, 2), bool), image.grid, target)
    with pytest.raises(InputError, match="interpolation"):
        resample_image(image, image, outside_value=0.0, interpolation="cubic")  # type: ignore[arg-type]


def test_total_activity_of_uniform_image() -> None:
    image = Image(np.full((10, 10, 10), 1000.0), (0, 0, 0), (2.0, 2.0, 2.0), units="BQML")
    assert total_activity_bq(image) == pytest.approx(1000.0 * 1000 * 0.008)
