"""``--max-voxels`` and ``--max-emission-voxels``: the image-size limits of the commands
that read images.

The limit itself and why its default is what it is: :mod:`y90dose.limits`.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from y90dose.limits import (
    DEFAULT_MAX_EMISSION_VOXELS,
    DEFAULT_MAX_VOXELS,
    RUN_BYTES_PER_EMISSION_VOXEL,
    emission_voxel_limit,
    voxel_limit,
)


def add_max_voxels_option(parser: Any, *, emission: bool = False) -> None:
    """Add ``--max-voxels N`` to a command that reads images, and ``--max-emission-voxels
    N`` if it reads an emission image (``emission``; elsewhere it would change nothing)."""
    parser.add_argument(
        "--max-voxels",
        type=int,
        metavar="N",
        help=f"largest image read, in voxels, checked from its header (default "
        f"{DEFAULT_MAX_VOXELS}; a voxel run needs about {RUN_BYTES_PER_EMISSION_VOXEL} bytes "
        "of memory per voxel of its SPECT/PET)",
    )
    if not emission:
        return
    parser.add_argument(
        "--max-emission-voxels",
        type=int,
        metavar="N",
        help=f"largest emission image (SPECT/PET, the dose grid) read, in voxels, checked "
        f"from its header (default {DEFAULT_MAX_EMISSION_VOXELS}, about "
        f"{DEFAULT_MAX_EMISSION_VOXELS * RUN_BYTES_PER_EMISSION_VOXEL / 1e9 + 0.2:.1f} GB of "
        f"memory for a voxel run at {RUN_BYTES_PER_EMISSION_VOXEL} bytes per voxel)",
    )


@contextmanager
def max_voxels_from(args: argparse.Namespace) -> Iterator[int]:
    """The ``with`` block in which the command reads its images (``--max-voxels`` and
    ``--max-emission-voxels``, or their defaults)."""
    with (
        voxel_limit(getattr(args, "max_voxels", None)) as limit,
        emission_voxel_limit(getattr(args, "max_emission_voxels", None)),
    ):
        yield limit
