"""``--max-voxels``: the image-size limit of the commands that read images.

The limit itself and why its default is what it is: :mod:`y90dose.limits`.
"""

from __future__ import annotations

import argparse
from contextlib import AbstractContextManager
from typing import Any

from y90dose.limits import DEFAULT_MAX_VOXELS, voxel_limit


def add_max_voxels_option(parser: Any) -> None:
    """Add ``--max-voxels N`` to a command that reads images."""
    parser.add_argument(
        "--max-voxels",
        type=int,
        metavar="N",
        help=f"largest image read, in voxels, checked from its header (default "
        f"{DEFAULT_MAX_VOXELS}; a voxel run needs about 57 bytes of memory per "
        "voxel of its SPECT/PET)",
    )


def max_voxels_from(args: argparse.Namespace) -> AbstractContextManager[int]:
    """The ``with`` block in which the command reads its images (``--max-voxels`` or the
    default)."""
    return voxel_limit(getattr(args, "max_voxels", None))
