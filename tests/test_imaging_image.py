"""Image/Grid geometry: index <-> physical transforms (DICOM PS3.3 C.7.6.2.1.1), voxel
volume, same-geometry checks and SimpleITK interop."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from y90dose.errors import GeometryError, InputError
from y90dose.imaging import Grid, Image


def _oblique() -> np.ndarray:
    angle = math.radians(30)
    rotation = np.array(
        [[math.cos(angle), -math.sin(angle), 0], [math.sin(angle), math.cos(angle), 0], [0, 0, 1]]
    )
    return rotation


def test_index_to_physical_follows_the_dicom_equation() -> None:
    grid = Grid((4, 5, 6), (10.0, -20.0, 30.0), (2.0, 3.0, 5.0), _oblique())
    # p = origin + direction @ (spacing * ijk); i along the rotated x axis.
    point = grid.index_to_physical_mm([1.0, 0.0, 0.0])
    assert point == pytest.approx([10 + 2 * math.cos(math.radians(30)), -20 + 2 * 0.5, 30])
    point = grid.index_to_physical_mm([0.0, 0.0, 2.0])
    assert point == pytest.approx([10.0, -20.0, 40.0])


def test_physical_to_index_inverts_index_to_physical() -> None:
    grid = Grid((4, 5, 6), (10.0, -20.0, 30.0), (2.0, 3.0, 5.0), _oblique())
    ijk = np.random.default_rng(1).uniform(-2, 8, size=(50, 3))
    assert grid.physical_mm_to_index(grid.index_to_physical_mm(ijk)) == pytest.approx(ijk)


def test_voxel_volume_ml() -> None:
    image = Image(np.zeros((2, 2, 2)), (0, 0, 0), (4.0, 4.0, 5.0))
    assert image.voxel_volume_ml == pytest.approx(0.08)  # 80 mm^3


def test_same_geometry_and_refusal_message() -> None:
    a = Grid((2, 3, 4), (0, 0, 0), (1, 1, 1), frame_of_reference_uid="1.2.3")
    b = Grid((2, 3, 4), (0, 0, 0.5), (1, 1, 1), frame_of_reference_uid="1.2.3")
    c = Grid((2, 3, 4), (0, 0, 0), (1, 1, 1), frame_of_reference_uid="1.2.4")
    assert a.same_geometry(a)
    assert not a.same_geometry(b)
    assert not a.same_geometry(c)
    with pytest.raises(GeometryError, match="origin_mm"):
        a.require_same_geometry(b)


def test_sitk_round_trip_keeps_values_and_geometry() -> None:
    values = np.arange(2 * 3 * 4, dtype=np.float64).reshape(2, 3, 4)
    image = Image(values, (1.5, -2.0, 7.0), (0.5, 0.7, 2.0), _oblique(), units="GY")
    back = Image.from_sitk(image.to_sitk(), units="GY")
    assert np.array_equal(back.array, values)
    assert back.origin_mm == pytest.approx(image.origin_mm)
    assert back.spacing_mm == pytest.approx(image.spacing_mm)
    assert back.direction == pytest.approx(image.direction)
    # the array's last axis is x: value (z=0, y=0, x=1) sits one x-spacing from the origin
    point = back.to_sitk().TransformIndexToPhysicalPoint((1, 0, 0))
    assert point == pytest.approx(image.index_to_physical_mm([1, 0, 0]))


@pytest.mark.parametrize(
    ("field", "value"),
    [("spacing_mm", (1.0, 0.0, 1.0)), ("origin_mm", (0.0, float("nan"), 0.0))],
)
def test_bad_geometry_is_refused(field: str, value: tuple[float, ...]) -> None:
    kwargs: dict[str, Any] = {
        "origin_mm": (0.0, 0.0, 0.0),
        "spacing_mm": (1.0, 1.0, 1.0),
        field: value,
    }
    with pytest.raises(InputError, match=field):
        Image(np.zeros((1, 1, 1)), **kwargs)


def test_non_orthonormal_direction_is_refused() -> None:
    with pytest.raises(InputError, match="direction"):
        Grid((1, 1, 1), (0, 0, 0), (1, 1, 1), np.diag([1.0, 2.0, 1.0]))


@pytest.mark.parametrize(
    "name",
    ["y90dose.imaging.image", "y90dose.imaging.vois", "y90dose.imaging.rtdose"],
)
def test_docstring_examples(name: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
