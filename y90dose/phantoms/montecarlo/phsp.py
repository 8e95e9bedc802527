"""Write electrons as an IAEA phase-space file (the format ompMC reads as a source).

Format: Capote R, et al. Phase-space database for external beam radiotherapy, IAEA
INDC(NDS)-0484 (2006). A ``name.IAEAheader`` text file describes the records of the
binary ``name.IAEAphsp``. Each record here is little endian: particle type (int8; 2 for
an electron, negative when the direction cosine w is negative), energy (float32, MeV,
negative to mark the first particle of a new history), x, y, z (float32, cm), u, v
(float32); w is not stored but recovered as ``sign * sqrt(1 - u^2 - v^2)`` and the
statistical weight is the constant 1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from y90dose.errors import InputError

FloatArray = npt.NDArray[np.float64]

_RECORD = np.dtype(
    [
        ("type", "i1"),
        ("energy", "<f4"),
        ("x", "<f4"),
        ("y", "<f4"),
        ("z", "<f4"),
        ("u", "<f4"),
        ("v", "<f4"),
    ]
)
ELECTRON = 2
"""IAEA particle code of an electron."""


def isotropic_directions(n: int, rng: np.random.Generator) -> FloatArray:
    """``n`` unit vectors uniformly distributed on the sphere, shape (n, 3)."""
    w = rng.uniform(-1.0, 1.0, n)
    phi = rng.uniform(0.0, 2.0 * np.pi, n)
    s = np.sqrt(1.0 - w * w)
    return np.stack([s * np.cos(phi), s * np.sin(phi), w], axis=1)


def write_electron_phsp(
    base: Path,
    *,
    energy_mev: FloatArray,
    position_cm: FloatArray,
    direction: FloatArray,
    title: str,
) -> Path:
    """Write one electron per history into ``base.IAEAheader`` / ``base.IAEAphsp``.

    Parameters
    ----------
    base
        Path without extension.
    energy_mev
        Kinetic energies, MeV, shape (n,), all > 0.
    position_cm
        Starting points in the phantom frame, cm, shape (n, 3).
    direction
        Unit direction vectors, shape (n, 3).
    title
        Free text for the header's ``$TITLE`` block.

    Returns
    -------
    pathlib.Path
        ``base`` (the name ompMC's ``PhaseSpaceSource`` takes).
    """
    n = int(energy_mev.shape[0])
    if n == 0 or np.any(~np.isfinite(energy_mev)) or np.any(energy_mev <= 0):
        raise InputError("energy_mev", "array", "a non-empty array of finite energies > 0")
    if position_cm.shape != (n, 3) or direction.shape != (n, 3):
        raise InputError(
            "position_cm/direction", (position_cm.shape, direction.shape), f"shape ({n}, 3)"
        )
    norm = np.linalg.norm(direction, axis=1)
    if np.any(np.abs(norm - 1.0) > 1e-6):
        raise InputError("direction", "array", "unit vectors")
    records = np.zeros(n, dtype=_RECORD)
    records["type"] = np.where(direction[:, 2] < 0.0, -ELECTRON, ELECTRON)
    records["energy"] = -energy_mev  # negative: each particle starts a new history
    records["x"], records["y"], records["z"] = position_cm.T
    records["u"], records["v"] = direction[:, 0], direction[:, 1]
    base.parent.mkdir(parents=True, exist_ok=True)
    Path(str(base) + ".IAEAphsp").write_bytes(records.tobytes())
    length = _RECORD.itemsize
    header = f"""$IAEA_INDEX:
0

$TITLE:
{title}

$FILE_TYPE:
0

$CHECKSUM:
{length * n}

$RECORD_CONTENTS:
    1     // X is stored ?
    1     // Y is stored ?
    1     // Z is stored ?
    1     // U is stored ?
    1     // V is stored ?
    1     // W is stored ?
    0     // Weight is stored ?
    0     // Extra floats stored ?
    0     // Extra longs stored ?

$RECORD_CONSTANT:
    1.0000   // Constant Weight

$RECORD_LENGTH:
{length}

$BYTE_ORDER:
1234

$ORIG_HISTORIES:
{n}

$PARTICLES:
{n}

$PHOTONS:
0

$ELECTRONS:
{n}

$POSITRONS:
0
"""
    Path(str(base) + ".IAEAheader").write_text(header)
    return base
