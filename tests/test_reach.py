"""The kernel's reach (y90dose.voxel.reach.box_dilate): equal, voxel for voxel, to the
box dilation the DVK engine used before issue 10 (``scipy.ndimage.maximum_filter`` with the
kernel's size), on random masks of every awkward size: rows not a multiple of 64 voxels,
half-widths past a 64-bit word or past the grid, empty and full masks."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage

from y90dose.errors import InputError
from y90dose.voxel.reach import box_dilate


def _reference(mask: np.ndarray, half: tuple[int, int, int]) -> np.ndarray:
    size = tuple(2 * h + 1 for h in half)
    return np.asarray(scipy.ndimage.maximum_filter(mask, size=size, mode="constant", cval=False))


@pytest.mark.parametrize("seed", range(40))
def test_box_dilation_equals_the_maximum_filter(seed: int) -> None:
    rng = np.random.default_rng(seed)
    long_rows = seed % 4 == 0
    shape = (
        int(rng.integers(1, 12)),
        int(rng.integers(1, 12)),
        int(rng.integers(60, 300)) if long_rows else int(rng.integers(1, 20)),
    )
    mask = rng.random(shape) < float(rng.choice([0.0005, 0.01, 0.1, 0.6]))
    half = (
        int(rng.integers(0, 8)),
        int(rng.integers(0, 8)),
        int(rng.integers(0, 150)) if long_rows else int(rng.integers(0, 10)),
    )
    assert np.array_equal(box_dilate(mask, half), _reference(mask, half))


def test_a_single_voxel_reaches_exactly_its_box() -> None:
    mask = np.zeros((9, 10, 130), dtype=bool)
    mask[4, 5, 64] = True  # on a word boundary of the packed rows
    reach = box_dilate(mask, (2, 3, 65))
    expected = np.zeros_like(mask)
    expected[2:7, 2:9, 0:130] = True  # 64 - 65 < 0 and 64 + 65 > 129: the whole row
    assert np.array_equal(reach, expected)
    reach = box_dilate(mask, (0, 0, 1))
    assert np.flatnonzero(reach).tolist() == [
        np.ravel_multi_index((4, 5, x), mask.shape) for x in (63, 64, 65)
    ]


def test_empty_and_full_masks() -> None:
    assert not box_dilate(np.zeros((3, 4, 70), dtype=bool), (1, 1, 1)).any()
    assert box_dilate(np.ones((3, 4, 70), dtype=bool), (1, 1, 1)).all()
    assert box_dilate(np.zeros((0, 4, 5), dtype=bool), (1, 1, 1)).shape == (0, 4, 5)


@pytest.mark.parametrize("half", [(1, 1), (-1, 0, 0), (1.5, 0, 0)])
def test_bad_half_widths_are_refused(half: tuple[float, ...]) -> None:
    with pytest.raises(InputError, match="half_widths"):
        box_dilate(np.zeros((2, 2, 2), dtype=bool), half)  # type: ignore[arg-type]
