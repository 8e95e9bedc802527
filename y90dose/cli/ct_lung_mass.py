"""``--ct PATH`` on ``plan`` and ``dose``: the lung mass measured on a CT replaces 1 kg.

Rule: ``--ct`` and ``--lung-mass-kg`` together are refused. With ``--ct`` the command's
only use of the CT is the lung mass, so a typed mass beside it would make one of the two
pointless, and which one wins would be a guess. (``plan from-images`` is different: its CT
also gives the VOI volumes, so there a typed ``--lung-mass-kg`` wins and the measured mass
is reported beside it, as a typed ``--lsf`` wins over the measured one.)

A CT that does not hold the whole lungs (they reach a face of the volume) is refused: its
mass would be too low, and the lung dose computed with it wrong.
The plan gets the ``LUNG_MASS_MEASURED`` info finding (instead of ``LUNG_MASS_ASSUMED``)
and its JSON the measurement as ``lung_mass_measurement``.
"""

from __future__ import annotations

import argparse
from typing import Any

from y90dose.cli.output import CommandOutput
from y90dose.errors import InputError
from y90dose.models.common import PlanResult

HELP = (
    "CT (DICOM folder or image file, HU): measure the lung mass on it (y90dose lung-mass) and "
    "use it instead of the 1 kg convention; not with --lung-mass-kg"
)


def add_ct_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--ct PATH``."""
    parser.add_argument("--ct", metavar="PATH", help=HELP)


def measure_into_args(args: argparse.Namespace) -> Any:
    """With ``--ct``: measure the lungs and set ``args.lung_mass_kg``; the measurement."""
    if getattr(args, "ct", None) is None:
        return None
    if args.lung_mass_kg is not None:
        raise InputError(
            "--ct/--lung-mass-kg",
            f"--ct {args.ct} --lung-mass-kg {args.lung_mass_kg}",
            "one of them: --ct measures the lung mass, --lung-mass-kg states it",
        )
    from y90dose.cli.image_limits import max_voxels_from
    from y90dose.cli.progress import quiet_library_warnings
    from y90dose.pipeline.lung_mass import lung_mass_from_ct, require_complete

    with quiet_library_warnings(), max_voxels_from(args):
        lung = require_complete(lung_mass_from_ct(args.ct), args.ct)
    args.lung_mass_kg = lung.lung_mass_kg
    return lung


def with_measurement(result: PlanResult, lung: Any) -> PlanResult:
    """``result`` with the ``LUNG_MASS_MEASURED`` finding (a plan that used ``--ct``)."""
    if lung is None:
        return result
    from y90dose.pipeline.lung_mass import measured_lung_mass_finding

    return result.model_copy(
        update={"findings": [*result.findings, measured_lung_mass_finding(lung)]}
    )


def with_measurement_json(output: CommandOutput, lung: Any) -> CommandOutput:
    """``output`` whose JSON also holds the measurement (``lung_mass_measurement``)."""
    if lung is None:
        return output
    return CommandOutput(
        data={**output.data, "lung_mass_measurement": lung.to_dict()},
        human=output.human,
        exit_code=output.exit_code,
    )
