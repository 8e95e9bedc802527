"""External reference tools: ``dciodvfy`` (dicom3tools) and ``plastimatch dvh``.

Both are Debian packages (``apt-get install dicom3tools plastimatch``). When a tool is
missing the check is reported as skipped with the install command, never as passed.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

import numpy as np

from y90dose.validation_suite.result import CheckResult, boolean_check, compare, skipped

DCIODVFY_SOURCE = "dciodvfy (dicom3tools), DICOM PS3.3 IOD rules"
PLASTIMATCH_SOURCE = "plastimatch dvh on the same RTDOSE and RTSTRUCT"


def dciodvfy_errors(path: Path) -> tuple[list[str], str]:
    """Run ``dciodvfy`` on ``path``; return its ``Error`` lines and a note.

    dciodvfy (Debian dicom3tools 1.00~20230129) aborts on an assertion for any file with
    BitsAllocated 32 (``attrothr.cc: bitsallocated <= bytesinword*8u``; the same failure
    is reported against Horos' validator, horosproject/horos#614), which is what an RT
    Dose with 32-bit pixels is. Such a file is verified as a copy whose pixel data are
    re-encoded to 16 bits: every attribute except the pixel encoding is then checked; the
    32-bit pixels themselves are checked by reading the dose back (another row).
    """
    import pydicom

    note = ""
    target = path
    with tempfile.TemporaryDirectory(prefix="y90-dciodvfy-") as tmp:
        ds = pydicom.dcmread(path)
        if int(ds.get("BitsAllocated", 16)) == 32:
            pixels = ds.pixel_array
            ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
            signed = int(ds.get("PixelRepresentation", 0)) == 1
            ds.PixelData = (np.asarray(pixels) >> 16).astype("<i2" if signed else "<u2").tobytes()
            target = Path(tmp) / "copy16.dcm"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds.save_as(target, enforce_file_format=True)
            note = "32-bit pixel data re-encoded to 16 bits for dciodvfy (see module doc); "
        proc = subprocess.run(
            ["dciodvfy", str(target)], capture_output=True, text=True, timeout=120, check=False
        )
    output = (proc.stdout + proc.stderr).splitlines()
    errors = [
        line.strip()
        for line in output
        if line.strip().startswith("Error") or " Error - " in line or line.strip().endswith("Error")
    ]
    if any("Assertion" in line for line in output):
        errors.append("dciodvfy aborted: " + next(line for line in output if "Assertion" in line))
    return errors, note


def dciodvfy_check(case: str, label: str, path: Path) -> CheckResult:
    """One row: the DICOM object at ``path`` has no dciodvfy error."""
    if shutil.which("dciodvfy") is None:
        return skipped(
            case,
            f"dciodvfy: {label}",
            "dciodvfy not found: apt-get install dicom3tools",
            source=DCIODVFY_SOURCE,
        )
    errors, note = dciodvfy_errors(path)
    return boolean_check(
        case,
        f"dciodvfy: {label} has no errors",
        not errors,
        source=DCIODVFY_SOURCE,
        note=note + ("; ".join(errors[:4]) if errors else "warnings only"),
    )


def plastimatch_dvh(
    rtstruct: Path, ct_dir: Path, rtdose: Path, bin_width_gy: float, n_bins: int
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Cumulative DVHs by plastimatch: ROI name -> (dose points Gy, volume fraction)."""
    with tempfile.TemporaryDirectory(prefix="y90-plastimatch-") as tmp:
        work = Path(tmp)
        subprocess.run(
            [
                "plastimatch",
                "convert",
                "--input",
                str(rtstruct),
                "--referenced-ct",
                str(ct_dir),
                "--output-ss-img",
                str(work / "ss.nrrd"),
                "--output-ss-list",
                str(work / "ss.txt"),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        subprocess.run(
            [
                "plastimatch",
                "dvh",
                "--input-ss-img",
                str(work / "ss.nrrd"),
                "--input-ss-list",
                str(work / "ss.txt"),
                "--input-dose",
                str(rtdose),
                "--output-csv",
                str(work / "dvh.csv"),
                "--dose-units",
                "gy",
                "--num-bins",
                str(n_bins),
                "--bin-width",
                f"{bin_width_gy:.9g}",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        with (work / "dvh.csv").open() as handle:
            rows = list(csv.reader(handle))
    header = [h.strip() for h in rows[0]]
    table = np.array([[float(v) for v in row] for row in rows[1:] if row], dtype=np.float64)
    return {name: (table[:, 0], table[:, i]) for i, name in enumerate(header) if i > 0}


def mean_from_cumulative(dose_gy: np.ndarray, fraction: np.ndarray) -> float:
    """Mean dose from a cumulative DVH sampled at equally spaced points from 0: sum of
    V(D_i) x bin width for i >= 1, plus half a bin (midpoint rule for V at lower edges)."""
    width = float(dose_gy[1] - dose_gy[0])
    return float(fraction[1:].sum() * width + 0.5 * width * fraction[0])


def plastimatch_checks(
    case: str,
    rtstruct: Path,
    ct_dir: Path,
    rtdose: Path,
    means_gy: dict[str, float],
    medians_gy: dict[str, float],
    max_dose_gy: float,
) -> list[CheckResult]:
    """Mean and median dose of each VOI: y90dose vs plastimatch's DVH of the same files.

    Tolerance: 1 % + one bin for the mean (plastimatch rasterises the contours itself
    and bins the dose; 1 % covers the boundary voxels where the two rasterisations
    differ), 2 % + one bin for the median (a percentile moves with the boundary voxels).
    """
    if shutil.which("plastimatch") is None:
        return [
            skipped(
                case,
                "plastimatch dvh",
                "plastimatch not found: apt-get install plastimatch",
                source=PLASTIMATCH_SOURCE,
            )
        ]
    n_bins = 2000
    width = max_dose_gy * 1.001 / (n_bins - 1)
    curves = plastimatch_dvh(rtstruct, ct_dir, rtdose, width, n_bins)
    rows: list[CheckResult] = []
    for name, mean in means_gy.items():
        if name not in curves:
            continue
        dose, fraction = curves[name]
        pm_mean = mean_from_cumulative(dose, fraction)
        rows.append(
            compare(
                case,
                f"plastimatch mean dose, {name} (Gy)",
                pm_mean,
                mean,
                rel_tol=0.01 + width / max(pm_mean, 1e-12),
                source=PLASTIMATCH_SOURCE,
            )
        )
        if name in medians_gy and fraction[0] > 0:
            above = np.nonzero(fraction >= 0.5 * fraction[0])[0]
            pm_median = float(dose[above[-1]]) if above.size else 0.0
            rows.append(
                compare(
                    case,
                    f"plastimatch median dose, {name} (Gy)",
                    pm_median,
                    medians_gy[name],
                    rel_tol=0.02 + width / max(pm_median, 1e-12),
                    source=PLASTIMATCH_SOURCE,
                )
            )
    return rows
