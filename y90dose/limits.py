"""Limits on the size of untrusted input: images (voxels) and study archives (zip entries).

These are resource limits, not physics: each bounds what a small file can make y90dose
spend (memory, disk, time). Every value is here, with why it is the default; the CLI
raises the voxel limits with ``--max-voxels`` and ``--max-emission-voxels``, the service
with its settings (``Y90DOSE_IMAGE_MAX_VOXELS``, ``Y90DOSE_EMISSION_MAX_VOXELS``,
``Y90DOSE_UPLOAD_MAX_COMPRESSION_RATIO``...).

Two voxel limits: :data:`DEFAULT_MAX_VOXELS` for every image (a CT is the largest), and
the lower :data:`DEFAULT_MAX_EMISSION_VOXELS` for the emission image (SPECT/PET), whose
grid is the dose grid and so sets the memory of a voxel run. Both are context variables,
so that every reader, however deep in the pipeline, checks the same values without each
function passing them on; the emission limit applies inside :func:`reading_emission`
(the pipeline's emission reader enters it)::

    with voxel_limit(500_000_000), emission_voxel_limit(100_000_000):
        result = run_voxel_dosimetry(...)

Examples
--------
>>> from y90dose.limits import check_voxel_count, max_voxels, voxel_limit
>>> max_voxels() == DEFAULT_MAX_VOXELS
True
>>> with voxel_limit(1000):
...     check_voxel_count((10, 10, 11), "a.nii")
Traceback (most recent call last):
...
y90dose.errors.ImageTooLargeError: a.nii: 10 x 10 x 11 = 1100 voxels, more than max_voxels ...
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

from y90dose.errors import ImageTooLargeError, InputError

DEFAULT_MAX_VOXELS = 300_000_000
"""Largest image read by default (voxels, times components for a vector image).

Sized for real studies: a 512 x 512 x 1000 CT (chest to pelvis at 0.6-1 mm,
262,144,000 voxels) passes with 14 % to spare; SPECT (128^3 = 2.1 M) and PET
(200-440^2 x up to 700 slices, <= 136 M) are far below. What it bounds: a voxel run
(a dose job) peaks at about :data:`RUN_BYTES_PER_EMISSION_VOXEL` bytes per voxel of its
emission image plus about 200 MB (``benchmarks/bench_voxel_memory.py``, 64^3 to 192^3;
docs/service.md "Upload and image limits"), so an emission image at this limit would need
about 11 GB; a site with less memory lowers the limit (memory / 36 bytes)."""

RUN_BYTES_PER_EMISSION_VOXEL = 36
"""Peak memory of a voxel run per voxel of its emission image, above about 200 MB
(``benchmarks/bench_voxel_memory.py``: the slope over 64^3-192^3 NIfTI runs, issue 10;
57-59 bytes before its memory work)."""

DEFAULT_MAX_EMISSION_VOXELS = 64_000_000
"""Largest emission image (SPECT/PET, the dose grid) read by default (voxels).

A voxel run peaks at about :data:`RUN_BYTES_PER_EMISSION_VOXEL` bytes per emission voxel
plus about 200 MB (``benchmarks/bench_voxel_memory.py``): 64 M voxels need about 2.5 GB,
while :data:`DEFAULT_MAX_VOXELS` (300 M) would allow about 11 GB. Real emission images are
far smaller: SPECT 128^3-256^3 (2.1-16.8 M voxels), PET up to about 400 x 400 x 300 (48 M),
which passes with 33 % to spare. A site with more memory raises it (memory / 36 bytes)."""

ZIP_MAX_COMPRESSION_RATIO = 100.0
"""Largest unpacked / compressed size of a zip entry (and of the whole archive).

Real study files compress far less: 6.4 : 1 at most over the DICOM CT, PET and SPECT files
of ``../shared/datasets`` (deflate level 9), 10 : 1 for a SPECT of mostly zeros, while
deflate reaches 1029 : 1 on zeros, the zip-bomb ratio. 100 : 1 is Apache POI's
ZipSecureFile default (MIN_INFLATE_RATIO = 0.01). An uncompressed label map (``.nii``)
of one large organ reaches about 270 : 1: gzip it (``.nii.gz``) before zipping."""

ZIP_RATIO_GRACE_BYTES = 1024 * 1024
"""Entries that unpack to no more than this (bytes) are not held to the ratio: a small
header or JSON file may compress well and costs nothing. The archive-wide ratio still
counts them, so many small entries cannot add up to a bomb."""

ZIP_MAX_PATH_DEPTH = 32
"""Most folder levels of a zip entry's path (file name included). DICOM exports nest
4-6 levels (patient/study/series/file); a path 2,000 levels deep made the unpacking
recurse past Python's limit."""

_MAX_VOXELS: ContextVar[int] = ContextVar("y90dose_max_voxels", default=DEFAULT_MAX_VOXELS)
_MAX_EMISSION_VOXELS: ContextVar[int] = ContextVar(
    "y90dose_max_emission_voxels", default=DEFAULT_MAX_EMISSION_VOXELS
)
_READING_EMISSION: ContextVar[bool] = ContextVar("y90dose_reading_emission", default=False)


def max_voxels() -> int:
    """The voxel limit in force (:data:`DEFAULT_MAX_VOXELS` unless :func:`voxel_limit` set one)."""
    return _MAX_VOXELS.get()


def max_emission_voxels() -> int:
    """The emission-image voxel limit in force (:data:`DEFAULT_MAX_EMISSION_VOXELS` unless
    :func:`emission_voxel_limit` set one)."""
    return _MAX_EMISSION_VOXELS.get()


def require_max_voxels(value: object, field: str = "max_voxels") -> int:
    """``value`` as a voxel limit (an integer >= 1), or :class:`InputError` naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(field, value, "a whole number of voxels >= 1")
    return value


@contextmanager
def voxel_limit(limit: int | None) -> Iterator[int]:
    """Read images of up to ``limit`` voxels inside the ``with`` block (None: the default).

    Raises
    ------
    InputError
        (``max_voxels``) if ``limit`` is not an integer >= 1.
    """
    value = DEFAULT_MAX_VOXELS if limit is None else require_max_voxels(limit)
    token = _MAX_VOXELS.set(value)
    try:
        yield value
    finally:
        _MAX_VOXELS.reset(token)


@contextmanager
def emission_voxel_limit(limit: int | None) -> Iterator[int]:
    """Read emission images of up to ``limit`` voxels inside the ``with`` block (None: the
    default).

    Raises
    ------
    InputError
        (``max_emission_voxels``) if ``limit`` is not an integer >= 1.
    """
    value = (
        DEFAULT_MAX_EMISSION_VOXELS
        if limit is None
        else require_max_voxels(limit, "max_emission_voxels")
    )
    token = _MAX_EMISSION_VOXELS.set(value)
    try:
        yield value
    finally:
        _MAX_EMISSION_VOXELS.reset(token)


@contextmanager
def reading_emission() -> Iterator[None]:
    """Inside the block, every image read is the emission image: :func:`check_voxel_count`
    also holds it to :func:`max_emission_voxels`."""
    token = _READING_EMISSION.set(True)
    try:
        yield
    finally:
        _READING_EMISSION.reset(token)


def check_emission_voxel_count(size: Sequence[int], where: str) -> None:
    """Refuse an emission image of ``size`` larger than :func:`max_emission_voxels`.

    Raises
    ------
    ImageTooLargeError
        Naming ``where``, the dimensions, the limit and how to raise it.
    """
    count = math.prod(max(int(n), 0) for n in size)
    allowed = max_emission_voxels()
    if count > allowed:
        shown = " x ".join(str(int(n)) for n in size)
        raise ImageTooLargeError(
            f"{where}: emission image (SPECT/PET, the dose grid) of {shown} = {count} voxels, "
            f"more than max_emission_voxels = {allowed} (default "
            f"{DEFAULT_MAX_EMISSION_VOXELS}); a voxel run needs about "
            f"{RUN_BYTES_PER_EMISSION_VOXEL} bytes per emission "
            f"voxel (about {_gb(count)} GB here): raise max_emission_voxels if the machine "
            "has the memory, or resample the image to a coarser grid"
        )


def _gb(voxels: int) -> str:
    """Memory of a voxel run on ``voxels`` emission voxels (GB, per-voxel bytes + 200 MB)."""
    return f"{(voxels * RUN_BYTES_PER_EMISSION_VOXEL + 200e6) / 1e9:.1f}"


def check_voxel_count(size: Sequence[int], where: str, limit: int | None = None) -> None:
    """Refuse an image of ``size`` (its dimensions, any order) larger than the limit.

    Call it with the header's dimensions, before the pixel data is read.

    Parameters
    ----------
    size
        Dimensions as the header states them (x, y, z[, t][, components]).
    where
        The file or series, for the message.
    limit
        The limit; default :func:`max_voxels`.

    Raises
    ------
    ImageTooLargeError
        If the product of ``size`` exceeds the limit (the message names both); inside
        :func:`reading_emission`, also if it exceeds :func:`max_emission_voxels`.
    """
    if limit is None and _READING_EMISSION.get():
        check_emission_voxel_count(size, where)
    allowed = max_voxels() if limit is None else limit
    count = math.prod(max(int(n), 0) for n in size)
    if count > allowed:
        shown = " x ".join(str(int(n)) for n in size)
        raise ImageTooLargeError(
            f"{where}: {shown} = {count} voxels, more than max_voxels = {allowed} "
            f"(default {DEFAULT_MAX_VOXELS}); raise max_voxels if the machine has the memory "
            f"(a voxel run needs about {RUN_BYTES_PER_EMISSION_VOXEL} bytes per emission-image "
            "voxel)"
        )
