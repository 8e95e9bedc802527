"""Which voxels a kernel can reach: the box dilation of a mask, computed on packed bits.

A voxel lies within a kernel's reach of a source voxel when it is within the kernel's
half-width on every axis (the kernel's bounding box). The DVK engine clears FFT round-off
to exactly 0 outside the reach of every active voxel, where the exact convolution is 0.
:func:`box_dilate` gives that set: the same result as
``scipy.ndimage.maximum_filter(mask, size=2 * half + 1, mode="constant", cval=False)``
(tested voxel for voxel), about 8x faster at 256^3 because every row along the last axis
is packed into 64-bit words (one bit a voxel): the last axis is dilated by bit shifts,
the other two by whole-word ORs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from y90dose.errors import InputError

__all__ = ["box_dilate"]

_WORD_BITS = 64


def _axis_slice(axis: int, start: int, stop: int) -> tuple[slice, ...]:
    index = [slice(None)] * (axis + 1)
    index[axis] = slice(start, stop)
    return tuple(index)


def _window_or(array: NDArray[Any], half: int, axis: int) -> NDArray[Any]:
    """OR over the window [i - half, i + half] along ``axis`` (zeros beyond the edges).

    Windows of width 2, 4, 8 ... by doubling, then two overlapping windows give the width
    2 x half + 1: about log2(2 x half + 1) + 1 array ORs.
    """
    if half <= 0:
        return array
    n = array.shape[axis]
    width_total = 2 * half + 1
    shape = list(array.shape)
    shape[axis] = n + 2 * half
    acc = np.zeros(shape, dtype=array.dtype)
    acc[_axis_slice(axis, half, half + n)] = array
    width = 1  # acc[i] = OR of the padded array over [i, i + width)
    while 2 * width <= width_total:
        length = acc.shape[axis]
        acc = acc[_axis_slice(axis, 0, length - width)] | acc[_axis_slice(axis, width, length)]
        width *= 2
    offset = width_total - width
    result: NDArray[Any] = acc[_axis_slice(axis, 0, n)] | acc[_axis_slice(axis, offset, offset + n)]
    return result


def _shift_up(words: NDArray[np.uint64], shift: int) -> NDArray[np.uint64]:
    """Bit i of each row (bit i % 64 of word i // 64) moved to bit i + shift."""
    count = words.shape[-1]
    whole, part = divmod(shift, _WORD_BITS)
    out = np.zeros_like(words)
    if whole >= count:
        return out
    source = words[..., : count - whole]
    if part == 0:
        out[..., whole:] = source
    else:
        out[..., whole:] = source << np.uint64(part)
        out[..., whole + 1 :] |= source[..., : count - whole - 1] >> np.uint64(_WORD_BITS - part)
    return out


def _shift_down(words: NDArray[np.uint64], shift: int) -> NDArray[np.uint64]:
    """Bit i of each row moved to bit i - shift (bits below 0 dropped)."""
    count = words.shape[-1]
    whole, part = divmod(shift, _WORD_BITS)
    out = np.zeros_like(words)
    if whole >= count:
        return out
    source = words[..., whole:]
    if part == 0:
        out[..., : count - whole] = source
    else:
        out[..., : count - whole] = source >> np.uint64(part)
        out[..., : count - whole - 1] |= source[..., 1:] << np.uint64(_WORD_BITS - part)
    return out


def _or_of_shifts(
    words: NDArray[np.uint64],
    half: int,
    shift: Callable[[NDArray[np.uint64], int], NDArray[np.uint64]],
) -> NDArray[np.uint64]:
    """OR of ``shift(words, s)`` for s = 0 .. half, by doubling."""
    acc = words
    width = 1  # acc holds the shifts 0 .. width - 1
    while 2 * width <= half + 1:
        acc = acc | shift(acc, width)
        width *= 2
    if width < half + 1:
        acc = acc | shift(acc, half + 1 - width)
    return acc


def box_dilate(mask: ArrayLike, half_widths: Sequence[int]) -> NDArray[np.bool_]:
    """A 3-D mask dilated by the box of half-widths ``half_widths`` (z, y, x), voxels.

    Voxel i is set when some voxel j of ``mask`` has |i - j| <= half on every axis;
    nothing wraps around the edges.

    Parameters
    ----------
    mask
        3-D boolean array.
    half_widths
        Three integers >= 0: a kernel of shape (2h0 + 1, 2h1 + 1, 2h2 + 1) reaches h
        voxels on each side.

    Returns
    -------
    numpy.ndarray
        Boolean array of the mask's shape.

    Raises
    ------
    InputError
        Not a 3-D mask, or half-widths not three integers >= 0.

    Examples
    --------
    >>> m = np.zeros((1, 1, 9), dtype=bool); m[0, 0, 2] = True
    >>> box_dilate(m, (0, 0, 1)).astype(int).ravel().tolist()
    [0, 1, 1, 1, 0, 0, 0, 0, 0]
    """
    source = np.asarray(mask, dtype=bool)
    if source.ndim != 3:
        raise InputError("mask", f"array of shape {source.shape}", "a 3-D array (z, y, x)")
    half = tuple(int(h) for h in half_widths)
    if len(half) != 3 or any(h < 0 for h in half) or tuple(half_widths) != half:
        raise InputError("half_widths", tuple(half_widths), "three integers >= 0 (z, y, x)")
    n0, n1, n2 = source.shape
    if source.size == 0:
        return source.copy()
    count = -(-n2 // _WORD_BITS)
    packed = np.packbits(source, axis=2, bitorder="little")
    words_bytes = np.zeros((n0, n1, count * 8), dtype=np.uint8)
    words_bytes[:, :, : packed.shape[2]] = packed
    del packed
    words: NDArray[np.uint64] = words_bytes.view("<u8")
    if half[2]:
        words = _or_of_shifts(words, half[2], _shift_up) | _or_of_shifts(
            words, half[2], _shift_down
        )
    words = _window_or(words, half[1], axis=1)
    words = _window_or(words, half[0], axis=0)
    unpacked = np.unpackbits(
        np.ascontiguousarray(words).view(np.uint8), axis=2, count=n2, bitorder="little"
    )
    return unpacked.view(np.bool_)
