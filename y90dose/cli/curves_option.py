"""``--curves FILE.png``: the activity-dose curves of a plan, a dose calculation or a run.

Why an option and not always: the curves are a figure and a few hundred numbers derived
from the result; most calls want neither, and drawing them imports matplotlib (which
``y90dose plan mird`` otherwise never loads). With ``--curves`` the command writes the
PNG and its JSON output gains a ``curves`` key with the same numbers
(:class:`y90dose.models.curves.ActivityDoseCurves`), so a script gets the data and a
person the figure from one run.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from y90dose.errors import InputError

HELP = (
    "also write the activity-dose curves to this PNG (doses against the activity and, for "
    "plans, the TN ratio and the LSF; voxel runs: mean, D70 and V100) and add them to the "
    "JSON output as 'curves'"
)


def add_curves_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--curves FILE.png``."""
    parser.add_argument("--curves", metavar="FILE.png", type=Path, help=HELP)


def check_curves_path(path: Path | None) -> None:
    """Refuse a ``--curves`` name that is not a PNG's before any work is done."""
    if path is not None and path.suffix.lower() != ".png":
        raise InputError("--curves", str(path), "a file name ending in .png")


def write_curves(path: Path, curves: Any) -> str:
    """Write the figure of ``curves`` to ``path``; the line the human report prints."""
    from y90dose.reports.curves import curves_png

    check_curves_path(path)
    try:
        path.write_bytes(curves_png(curves))
    except OSError as exc:
        raise InputError(
            "--curves", str(path), f"a file that can be written ({exc.strerror})"
        ) from None
    return f"activity-dose curves: {path}"
