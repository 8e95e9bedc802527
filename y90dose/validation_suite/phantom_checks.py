"""Each phantom through the voxel pipeline: DICOM in, RTDOSE out, against known answers.

The phantoms are generated on demand (deterministic) into the cache of
:mod:`y90dose.phantoms.cache`, read back with the y90dose DICOM readers and run through
:func:`y90dose.voxel_dose` (the call behind ``y90dose voxel`` and the service's jobs); the
RT Dose is written by the run's ``write``, read back and verified.

Expected values come from the phantom's ``known_answers.json`` (analytic) and its
``voi_truth`` block (the same quantities over the voxelised VOIs, computed by the
generator from its exact activity map and analytic densities). Comparisons with the
voxelised truth are tight (0.2 %: DICOM storage and contour round trip only);
comparisons with the analytic compartment values allow the phantom's own voxelisation
error (|voxelised - analytic|, known from the generator) plus 1 %.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from y90dose.validation_suite.result import CheckResult, as_float, compare, errored, skipped
from y90dose.validation_suite.tools import dciodvfy_check, plastimatch_checks

KNOWN = "phantom known_answers.json (analytic)"
VOXELISED = "phantom voi_truth (exact map over voxelised VOIs)"
STORAGE_TOL = 0.002
"""Pipeline vs voxelised truth: int16 storage of the activity image (per-slice slope, 1 part
in 32767 of the slice maximum per voxel), integer HU, contour round trip: 0.2 %."""
CALIBRATION_TOL = 0.004
"""Pipeline vs voxelised truth: the phantoms' densities follow rho = 1 + HU/1000 (air 0.0012
g/mL), the default y90dose HU curve runs from air at 0.00121 g/mL to water, so it is higher
by 0.00121 x (-HU/1000) g/mL between -1000 and 0 HU: +0.36 % for the phantoms' lung (-750
HU), 0 for water, liver, tumour and soft tissue. Fixed in advance (rounded up to 0.4 %),
never taken from the pipeline's own output, so a density error larger than this fails."""


def _known(study: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((study / "known_answers.json").read_text())
    return data


def _value(block: Any) -> Any:
    return block["value"] if isinstance(block, dict) and "value" in block else block


def _run(study: Path, emission: str, method: str, out: Path, **options: Any) -> tuple[Any, Path]:
    """The phantom through :func:`y90dose.voxel_dose`, written as ``y90dose voxel`` does."""
    from y90dose.pipeline.run import voxel_dose

    run = voxel_dose(
        study / "dicom" / emission,
        study / "dicom" / "rtstruct.dcm",
        options={"method": method, **options},
        ct=study / "dicom" / "ct",
    )
    result = run.write(out, write_pngs=False)
    return run, out / result.files["rtdose"]


def _readback(case: str, computation: Any, rtdose: Path) -> CheckResult:
    from y90dose.imaging.dicom_series import read_dicom

    dose = read_dicom(rtdose).array
    original = computation.dose_image.array
    peak = float(original.max())
    worst = float(np.abs(dose - original).max()) if dose.shape == original.shape else math.inf
    return compare(
        case,
        "RTDOSE read back: max |difference| / max dose",
        0.0,
        worst / peak if peak > 0 else worst,
        abs_tol=1e-6,
        source="DoseGridScaling resolution (max / 2^32)",
        note="the written RT Dose, read with the y90dose reader, equals the dose map",
    )


def _voi_rows(case: str, computation: Any, truth: dict[str, Any], label: str) -> list[CheckResult]:
    """Mean dose per VOI vs the voxelised truth.

    Tolerance 0.2 % (storage, :data:`STORAGE_TOL`) plus 0.4 % (the default HU curve vs the
    phantoms' rho = 1 + HU/1000, :data:`CALIBRATION_TOL`), both fixed in advance. (The
    tolerance used to grow by the pipeline's own VOI-mass error, so a density error moved
    the dose and the tolerance together and could never fail.)
    """
    rows = []
    for name, expected in truth.items():
        if name not in computation.metrics:
            continue
        metrics = computation.metrics[name]
        calibration = metrics.mass_g / 1000.0 / expected["mass_kg"] - 1.0
        rows.append(
            compare(
                case,
                f"{label}: mean dose {name} (Gy)",
                expected["mean_ldm_dose_gy"],
                metrics.mean_gy,
                rel_tol=STORAGE_TOL + CALIBRATION_TOL,
                source=VOXELISED,
                note=f"0.2 % storage + 0.4 % HU curve vs the phantom's densities (VOI mass "
                f"{calibration:+.2%} from the analytic one)",
            )
        )
    return rows


def _analytic_row(
    case: str, quantity: str, analytic: float, computed: float, voxelised: float
) -> CheckResult:
    error = abs(voxelised - analytic) / abs(analytic)
    return compare(
        case,
        quantity,
        analytic,
        computed,
        rel_tol=error + 0.01,
        source=KNOWN,
        note=f"tolerance: the phantom's voxelisation error ({error:.2%}) + 1 %",
    )


def _dose_at(computation: Any, index_zyx: tuple[int, int, int]) -> float:
    return float(computation.dose_image.array[index_zyx])


# --- uniform-sphere ------------------------------------------------------------------------
def uniform_sphere(study: Path, work: Path) -> list[CheckResult]:
    case = "phantom/uniform-sphere"
    doc = _known(study)
    known, truth = doc["known_answers"], doc["voi_truth"]["value"]
    rows: list[CheckResult] = []
    ldm, rtdose = _run(study, "pt", "ldm", work / "us-ldm")
    rows.append(_readback(case, ldm, rtdose))
    rows.append(
        compare(
            case,
            "activity in the image (GBq)",
            _value(known["activity_gbq"]),
            ldm.activity.total_activity_gbq,
            rel_tol=0.005,
            source=KNOWN,
            note="int16 Bq/mL storage and occupancy sampling: 0.5 %",
        )
    )
    rows += _voi_rows(case, ldm, {k: truth[k] for k in ("sphere", "sphere_interior")}, "LDM")
    rows.append(
        _analytic_row(
            case,
            "LDM mean dose in the sphere VOI (Gy)",
            _value(known["sphere_mean_ldm_dose_gy"]),
            ldm.metrics["sphere"].mean_gy,
            truth["sphere"]["mean_ldm_dose_gy"],
        )
    )
    dvk, dvk_dose = _run(study, "pt", "dvk", work / "us-dvk")
    rows.append(
        compare(
            case,
            "DVK mean dose in the interior (Gy)",
            _value(known["interior_dose_gy"]),
            dvk.metrics["sphere_interior"].mean_gy,
            rel_tol=0.01,
            source=KNOWN,
            note="charged-particle equilibrium > 11 mm inside; 1 %: kernel "
            "truncation and FFT round-off",
        )
    )
    rows.append(
        compare(
            case,
            "DVK energy deposited = C x A (J)",
            dvk.energy_j_per_gbq * dvk.activity.total_activity_gbq,
            dvk.dose_result.deposited_energy_j,
            rel_tol=0.005,
            source="energy conservation (sphere far from the grid edges)",
        )
    )
    rows.append(_readback(case, dvk, dvk_dose))
    rows.append(dciodvfy_check(case, "RT Dose", rtdose))
    rows += plastimatch_checks(
        case,
        study / "dicom" / "rtstruct.dcm",
        study / "dicom" / "ct",
        rtdose,
        {"sphere": ldm.metrics["sphere"].mean_gy},
        {"sphere": ldm.metrics["sphere"].median_gy},
        float(ldm.dose_image.array.max()),
    )
    return rows


# --- point-source --------------------------------------------------------------------------
def point_source(study: Path, work: Path) -> list[CheckResult]:
    from y90dose.phantoms.montecarlo.references import load_reference

    case = "phantom/point-source"
    doc = _known(study)
    known = doc["known_answers"]
    c = tuple(int(i) for i in known["source_voxel_zyx"])
    expected = _value(known["dose_gy_at_offset_lanconelli"])
    decays = _value(known["cumulated_decays"])
    rows: list[CheckResult] = []
    tolerances = {"0,0,0": 0.03, "0,0,1": 0.03, "0,1,1": 0.05, "1,1,1": 0.05}
    mc = {
        tuple(ijk): (s, u)
        for ijk, s, u in zip(
            load_reference("s-values-3mm-icru-tissue")["ijk"],
            load_reference("s-values-3mm-icru-tissue")["s_gy_per_decay"],
            load_reference("s-values-3mm-icru-tissue")["relative_uncertainty"],
            strict=True,
        )
    }
    for kernel in ("auto", "dpk"):
        comp, rtdose = _run(study, "pt", "dvk", work / f"ps-{kernel}", kernel=kernel)
        rows.append(_readback(case, comp, rtdose))
        for key, value in expected.items():
            i, j, k = (int(v) for v in key.split(","))
            got = _dose_at(comp, (c[0] + k, c[1] + j, c[2] + i))
            tol = 0.01 if kernel == "auto" else tolerances.get(key)
            rows.append(
                compare(
                    case,
                    f"DVK ({kernel}) dose at offset ({key}) (Gy)",
                    value,
                    got,
                    rel_tol=tol,
                    info_only=tol is None,
                    source="Lanconelli 2012 S x decays (known answer)",
                    note=(
                        "auto picks the Lanconelli table at 3 mm; 1 %: rescaled to C = 49.67 J/GBq"
                        if kernel == "auto"
                        else "Graves DPK integrated; physics.md: ~3 %"
                    ),
                )
            )
            if kernel == "auto" and key in tolerances:
                s, u = mc[(i, j, k)] if (i, j, k) in mc else mc[tuple(sorted((i, j, k)))]
                rows.append(
                    compare(
                        case,
                        f"DVK (auto) dose at offset ({key}) vs Monte Carlo (Gy)",
                        s * decays,
                        got,
                        rel_tol=3 * u + 0.02,
                        source="y90dose Monte Carlo (ompMC), cached",
                        note=f"3 sd ({u:.2%}) + 2 % model allowance",
                    )
                )
        mass_kg = comp.density_g_ml * np.prod(comp.spacing_zyx_mm) / 1e6
        energy = float((comp.dose_image.array * mass_kg).sum())
        rows.append(
            compare(
                case,
                f"DVK ({kernel}) sum of dose x mass = C x A (J)",
                comp.energy_j_per_gbq * _value(known["activity_gbq"]),
                energy,
                rel_tol=0.005,
                source="energy conservation (grid covers the range)",
            )
        )
    rows.append(dciodvfy_check(case, "RT Dose", rtdose))
    return rows


# --- liver ----------------------------------------------------------------------------------
def _counts_stats(image: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    return float(image[mask].sum()), float(image[mask].mean())


def liver(study: Path, work: Path) -> list[CheckResult]:
    from y90dose.models.partition import PartitionDoseInput, dose_partition
    from y90dose.phantoms.analytic import partition_doses_gy

    case = "phantom/liver"
    doc = _known(study)
    known, truth = doc["known_answers"], doc["voi_truth"]["value"]
    c_energy = _value(known["energy_j_per_gbq"])
    activity = _value(known["activity_gbq"])
    analytic = _value(known["partition_doses_gy"])
    rows: list[CheckResult] = []

    # 1. Exact activity (PT, Bq/mL), LDM: per-VOI truth and the analytic compartments.
    ldm, rtdose = _run(study, "pt", "ldm", work / "liver-ldm")
    rows.append(_readback(case, ldm, rtdose))
    rows += _voi_rows(case, ldm, truth, "LDM, exact activity")
    tumours = [n for n in ("tumor1", "tumor2", "tumor3") if n in ldm.metrics]
    rows.append(
        _analytic_row(
            case,
            "LDM normal-liver mean vs partition D_N (Gy)",
            analytic["normal_gy"],
            ldm.metrics["normal_liver"].mean_gy,
            truth["normal_liver"]["mean_ldm_dose_gy"],
        )
    )
    for name, d_t in zip(tumours, analytic["tumors_gy"], strict=True):
        rows.append(
            _analytic_row(
                case,
                f"LDM {name} mean vs partition D_T (Gy)",
                d_t,
                ldm.metrics[name].mean_gy,
                truth[name]["mean_ldm_dose_gy"],
            )
        )

    # 2. Image-derived partition model on the exact map vs the analytic partition doses.
    act = ldm.activity.activity_gbq
    vois = ldm.vois
    a_lung = float(act[vois["lungs"]].sum())
    a_liver = float(act[vois["liver"]].sum())
    lsf = a_lung / (a_lung + a_liver)
    v_ml = float(np.prod(ldm.spacing_zyx_mm)) / 1000.0
    conc_n = float(act[vois["normal_liver"]].sum()) / (vois["normal_liver"].sum() * v_ml)
    tn = [float(act[vois[n]].sum()) / (vois[n].sum() * v_ml) / conc_n for n in tumours]
    lung_kg = ldm.metrics["lungs"].mass_g / 1000.0
    result = dose_partition(
        PartitionDoseInput(
            activity_gbq=activity,
            lsf=lsf,
            tumor_volume_ml=[vois[n].sum() * v_ml for n in tumours],
            tn_ratio=tn,
            normal_volume_ml=float(vois["normal_liver"].sum() * v_ml),
            lung_mass_kg=lung_kg,
            energy_j_per_gbq=c_energy,
        )
    )
    rows.append(
        compare(
            case,
            "LSF from the exact activity in the VOIs",
            _value(known["lsf"]),
            lsf,
            rel_tol=abs(
                truth["lungs"]["activity_gbq"]
                / (truth["lungs"]["activity_gbq"] + truth["liver"]["activity_gbq"])
                / _value(known["lsf"])
                - 1
            )
            + 0.01,
            source=KNOWN,
            note="tolerance: voxelisation of the lung VOI + 1 %",
        )
    )

    def _dev(name: str, analytic_activity: float, analytic_mass: float) -> float:
        t = truth[name]
        return abs((t["activity_gbq"] / t["mass_kg"]) / (analytic_activity / analytic_mass) - 1)

    comp_act = _value(known["compartment_activity_gbq"])
    masses = _value(known["masses_kg"])
    pairs = [
        (
            "normal_liver",
            "normal",
            comp_act["normal_liver"],
            masses["normal_liver"],
            analytic["normal_gy"],
            as_float(result.doses_gy["normal"]),
        )
    ]
    tumour_doses = result.doses_gy["tumors"]
    assert isinstance(tumour_doses, list)
    for i, name in enumerate(tumours):
        pairs.append(
            (
                name,
                name,
                comp_act["tumors"][i],
                masses["tumors"][i],
                analytic["tumors_gy"][i],
                float(tumour_doses[i]),
            )
        )
    pairs.append(
        (
            "lungs",
            "lung",
            comp_act["lungs"],
            masses["lungs"],
            analytic["lung_gy"],
            as_float(result.doses_gy["lung"]),
        )
    )
    for voi, label, a_true, m_true, expected, got in pairs:
        dev = _dev(voi, a_true, m_true)
        rows.append(
            compare(
                case,
                f"image-derived partition (exact map) {label} dose (Gy)",
                expected,
                got,
                rel_tol=dev + 0.01,
                source=KNOWN,
                note=f"dose_partition on VOI activities/masses; tolerance: voxelisation of "
                f"activity/mass in the VOI ({dev:.2%}) + 1 %",
            )
        )

    # 3. The MAA-like SPECT (counts, blur, Poisson): LSF and TN, then the clinical path.
    image_known = _value(known["image_expected_noise_free"])
    spect, _ = _run(
        study, "nm", "ldm", work / "liver-spect", activity_gbq=activity, lsf=image_known["lsf"]
    )
    counts = spect.spect.array
    lung_counts, _ = _counts_stats(counts, spect.vois["lungs"])
    liver_counts, _ = _counts_stats(counts, spect.vois["liver"])
    lsf_image = lung_counts / (lung_counts + liver_counts)
    sd = math.sqrt(lsf_image * (1 - lsf_image) / (lung_counts + liver_counts))
    rows.append(
        compare(
            case,
            "SPECT LSF (counts in VOIs)",
            image_known["lsf"],
            lsf_image,
            abs_tol=3 * sd + 0.002,
            source="phantom: noise-free blurred SPECT",
            note=f"3 sd Poisson ({sd:.1e}) + 0.002 for int16 storage",
        )
    )
    n_sum, n_mean = _counts_stats(counts, spect.vois["normal_liver"])
    tn_image = []
    for i, name in enumerate(tumours):
        t_sum, t_mean = _counts_stats(counts, spect.vois[name])
        ratio = t_mean / n_mean
        tn_image.append(ratio)
        sd_rel = math.sqrt(1 / max(t_sum, 1) + 1 / max(n_sum, 1))
        rows.append(
            compare(
                case,
                f"SPECT TN {name} (mean counts ratio)",
                image_known["tn_ratio"][i],
                ratio,
                rel_tol=3 * sd_rel + 0.005,
                source="phantom: noise-free blurred SPECT",
                note=f"3 sd Poisson ({sd_rel:.2%}) + 0.5 %",
            )
        )
        rows.append(
            compare(
                case,
                f"SPECT TN {name} vs true TN",
                _value(known["tn_ratio"])[i],
                ratio,
                source=KNOWN,
                info_only=True,
                note="partial-volume loss of a 13 mm FWHM SPECT: shown, not a software error",
            )
        )
    image_partition = dose_partition(
        PartitionDoseInput(
            activity_gbq=activity,
            lsf=lsf_image,
            tumor_volume_ml=[spect.vois[n].sum() * v_ml for n in tumours],
            tn_ratio=tn_image,
            normal_volume_ml=float(spect.vois["normal_liver"].sum() * v_ml),
            lung_mass_kg=lung_kg,
            energy_j_per_gbq=c_energy,
        )
    )
    rows.append(
        compare(
            case,
            "SPECT: partition D_N vs voxel LDM mean in normal liver (Gy)",
            as_float(image_partition.doses_gy["normal"]),
            spect.metrics["normal_liver"].mean_gy,
            rel_tol=0.01,
            source="identity: same image, same VOIs (partition model = VOI mean LDM)",
            note="1 %: the density of boundary voxels (1.03-1.04 g/mL) vs the model's 1.03",
        )
    )
    hand = partition_doses_gy(
        activity_gbq=activity,
        lsf=lsf_image,
        tumor_mass_kg=[spect.vois[n].sum() * v_ml * 1.03e-3 for n in tumours],
        tn_ratio=tn_image,
        normal_mass_kg=float(spect.vois["normal_liver"].sum() * v_ml * 1.03e-3),
        lung_mass_kg=lung_kg,
        energy_j_per_gbq=c_energy,
    )
    rows.append(
        compare(
            case,
            "SPECT: y90dose dose_partition vs hand formula, D_N (Gy)",
            as_float(hand["normal_gy"]),
            as_float(image_partition.doses_gy["normal"]),
            rel_tol=1e-9,
            source="physics.md 4.3 (y90dose.phantoms.analytic)",
        )
    )
    rows.append(
        compare(
            case,
            "SPECT: image-derived partition D_N vs analytic (Gy)",
            analytic["normal_gy"],
            as_float(image_partition.doses_gy["normal"]),
            source=KNOWN,
            info_only=True,
            note="spill-out of the blurred SPECT; shown for the commissioning file",
        )
    )
    for i, name in enumerate(tumours):
        partition_tumours = image_partition.doses_gy["tumors"]
        assert isinstance(partition_tumours, list)
        rows.append(
            compare(
                case,
                f"SPECT: image-derived partition {name} vs analytic (Gy)",
                analytic["tumors_gy"][i],
                float(partition_tumours[i]),
                source=KNOWN,
                info_only=True,
                note="partial-volume loss at 13 mm FWHM",
            )
        )

    # 4. DVK on the exact map (information: kernel spreading at the liver surface).
    dvk, dvk_rtdose = _run(study, "pt", "dvk", work / "liver-dvk")
    rows.append(_readback(case, dvk, dvk_rtdose))
    rows.append(
        compare(
            case,
            "DVK vs LDM normal-liver mean (Gy)",
            ldm.metrics["normal_liver"].mean_gy,
            dvk.metrics["normal_liver"].mean_gy,
            source="LDM on the same map",
            info_only=True,
            note="DVK spreads tumour dose into the normal liver and loses dose at "
            "the liver surface",
        )
    )
    rows.append(dciodvfy_check(case, "RT Dose", rtdose))
    names = ["liver", "lungs", "tumor1", "tumor2", "tumor3"]
    rows += plastimatch_checks(
        case,
        study / "dicom" / "rtstruct.dcm",
        study / "dicom" / "ct",
        rtdose,
        {n: ldm.metrics[n].mean_gy for n in names},
        {n: ldm.metrics[n].median_gy for n in names},
        float(ldm.dose_image.array.max()),
    )
    return rows


# --- nema-iec -------------------------------------------------------------------------------
def nema_iec(study: Path, work: Path) -> list[CheckResult]:
    case = "phantom/nema-iec"
    doc = _known(study)
    known, truth = doc["known_answers"], doc["voi_truth"]["value"]
    rows: list[CheckResult] = []
    names = known["sphere_names"]
    rc = _value(known["recovery_coefficients"])
    conc_true = _value(known["concentration_mbq_ml"])["spheres"] * 1e6
    blurred, blurred_dose = _run(study, "nm", "ldm", work / "nema-blurred")
    act = blurred.activity.activity_gbq
    v_ml = float(np.prod(blurred.spacing_zyx_mm)) / 1000.0
    for name, expected in zip(names, rc, strict=True):
        mask = blurred.vois[name]
        measured = float(act[mask].mean()) * 1e9 / v_ml / conc_true
        rows.append(
            compare(
                case,
                f"recovery coefficient {name}",
                expected,
                measured,
                rel_tol=0.005,
                source=KNOWN + " (blurred truth)",
                note="0.5 %: int16 storage of the emission image",
            )
        )
    ldm, rtdose = _run(study, "pt", "ldm", work / "nema-ldm")
    rows.append(_readback(case, ldm, rtdose))
    rows += _voi_rows(case, ldm, {n: truth[n] for n in names if n in truth}, "LDM, exact activity")
    rows.append(
        compare(
            case,
            "LDM background mean dose (Gy)",
            _value(known["background_ldm_dose_gy"]),
            ldm.metrics["background"].mean_gy,
            rel_tol=0.005,
            source=KNOWN,
            note="background VOI 15 mm away from every edge: no partial volume",
        )
    )
    for name, dose in zip(names, _value(known["sphere_ldm_dose_gy"]), strict=True):
        rows.append(
            _analytic_row(
                case,
                f"LDM {name} mean dose (Gy)",
                dose,
                ldm.metrics[name].mean_gy,
                truth[name]["mean_ldm_dose_gy"],
            )
        )
    rows.append(
        compare(
            case,
            "activity in the image (MBq)",
            _value(known["total_activity_mbq"]),
            ldm.activity.total_activity_gbq * 1e3,
            rel_tol=0.005,
            source=KNOWN,
        )
    )
    rows.append(dciodvfy_check(case, "RT Dose", rtdose))
    del blurred_dose
    return rows


# --- lung-slab ------------------------------------------------------------------------------
SLAB_DEPTHS_MM: tuple[tuple[float, float, str, bool], ...] = (
    (12.0, 14.0, "water, in the source layer", True),
    (16.0, 18.0, "water, in the source layer", True),
    (20.0, 22.0, "lung, first 2 mm", False),
    (24.0, 26.0, "lung, 4-6 mm deep", False),
    (30.0, 32.0, "lung, 10-12 mm deep", False),
    (40.0, 42.0, "water behind the lung", False),
)


def _mc_bins(mc: dict[str, Any], values: list[float], z0: float, z1: float) -> tuple[float, float]:
    start = np.asarray(mc["depth_start_mm"])
    end = np.asarray(mc["depth_end_mm"])
    sel = (start >= z0 - 1e-6) & (end <= z1 + 1e-6)
    dose = np.asarray(values)[sel]
    unc = np.asarray(mc["relative_uncertainty"])[sel]
    mean = float(dose.mean())
    sd = float(np.sqrt(np.sum((dose * unc) ** 2)) / len(dose) / mean) if mean > 0 else 1.0
    return mean, sd


def lung_slab(study: Path, work: Path) -> list[CheckResult]:
    from y90dose.voxel.convolution import dvk_dose

    case = "phantom/lung-slab"
    doc = _known(study)
    known = doc["known_answers"]
    if "mc_depth_dose_gy" not in known:
        return [skipped(case, "Monte Carlo depth dose", "no cached Monte Carlo reference")]
    mc = known["mc_depth_dose_gy"]
    comp, rtdose = _run(study, "pt", "dvk", work / "slab-dvk")
    rows = [_readback(case, comp, rtdose)]
    column = comp.vois["central_column"]
    dose = comp.dose_image.array
    z = comp.spect.origin_mm[2] + comp.spect.spacing_mm[2] * np.arange(dose.shape[0])
    profile = np.array([dose[k][column[k]].mean() for k in range(dose.shape[0])])
    water = dvk_dose(
        comp.activity.activity_gbq,
        spacing_zyx_mm=comp.spacing_zyx_mm,
        density_g_ml=1.0,
        energy_j_per_gbq=comp.energy_j_per_gbq,
    )
    water_profile = np.array([water.dose_gy[k][column[k]].mean() for k in range(dose.shape[0])])
    for z0, z1, label, judged in SLAB_DEPTHS_MM:
        sel = (z > z0) & (z < z1)
        expected, sd = _mc_bins(mc, mc["value"], z0, z1)
        tol = 3 * sd + 0.03
        rows.append(
            compare(
                case,
                f"DVK dose {z0:g}-{z1:g} mm ({label}) vs MC (Gy)",
                expected,
                float(profile[sel].mean()),
                rel_tol=tol if judged else None,
                info_only=not judged,
                source="y90dose Monte Carlo (ompMC), water/lung/water",
                note=(
                    f"3 sd ({sd:.1%}) + 3 % (kernel vs transport)"
                    if judged
                    else "soft-tissue kernel in lung: the known limitation this phantom shows"
                ),
            )
        )
        w_expected, w_sd = _mc_bins(mc, mc["water_only_value"], z0, z1)
        if w_expected > 0.05 * max(mc["water_only_value"]):
            rows.append(
                compare(
                    case,
                    f"DVK, all water, {z0:g}-{z1:g} mm vs MC water slab (Gy)",
                    w_expected,
                    float(water_profile[sel].mean()),
                    rel_tol=3 * w_sd + 0.03,
                    source="y90dose Monte Carlo (ompMC), water only",
                    note=f"homogeneous control: 3 sd ({w_sd:.1%}) + 3 %",
                )
            )
    rows += _heterogeneous_slab_rows(study, work, mc)
    return rows


SLAB_HETEROGENEOUS_BINS_MM = (8.0, 42.0)
"""Depths of the heterogeneous engine's 2 mm rows: from the water before the source layer
to the first bin of water behind the lung."""
SLAB_JUDGED_FRACTION = 0.10
"""Issue 10: a bin is judged when its Monte Carlo dose is at least 10 % of the source
layer's; the others are info rows."""
SLAB_LUNG_TOL = 0.15
"""Issue 10: lung bins within 15 %."""
SLAB_WATER_TOL = 0.03
"""Issue 10: water layers within 3 %."""


def _heterogeneous_slab_rows(study: Path, work: Path, mc: dict[str, Any]) -> list[CheckResult]:
    """The heterogeneous engine through the pipeline: pass rows (issue 10 targets).

    Every 2 mm bin from 8 to 42 mm whose Monte Carlo dose is at least 10 % of the source
    layer's: within 15 % in lung, within 3 % in water. The others (deep lung, the water
    behind it, which the engine does not reach through the lung) are info rows.
    """
    case = "phantom/lung-slab"
    comp, _ = _run(study, "pt", "dvk_heterogeneous", work / "slab-het")
    column = comp.vois["central_column"]
    dose = comp.dose_image.array
    z = comp.spect.origin_mm[2] + comp.spect.spacing_mm[2] * np.arange(dose.shape[0])
    profile = np.array([dose[k][column[k]].mean() for k in range(dose.shape[0])])
    source, _ = _mc_bins(mc, mc["value"], 12.0, 18.0)
    rows: list[CheckResult] = []
    for z0 in np.arange(*SLAB_HETEROGENEOUS_BINS_MM, 2.0):
        z1 = z0 + 2.0
        expected, sd = _mc_bins(mc, mc["value"], z0, z1)
        in_lung = 20.0 <= z0 < 40.0
        judged = expected >= SLAB_JUDGED_FRACTION * source
        tol = SLAB_LUNG_TOL if in_lung else SLAB_WATER_TOL
        share = f"MC {100 * expected / source:.0f} % of the source layer's, sd {100 * sd:.1f} %"
        rows.append(
            compare(
                case,
                f"heterogeneous engine {z0:g}-{z1:g} mm ({'lung' if in_lung else 'water'}) "
                "vs MC (Gy)",
                expected,
                float(profile[(z > z0) & (z < z1)].mean()),
                rel_tol=tol if judged else None,
                info_only=not judged,
                source="y90dose Monte Carlo (ompMC), water/lung/water",
                note=f"issue 10: {'lung' if in_lung else 'water'} bins >= 10 % of the source "
                f"layer within {100 * tol:g} % ({share})"
                if judged
                else f"below 10 % of the source layer: shown only ({share})",
            )
        )
    return rows


PHANTOM_CASES: dict[str, Callable[[Path, Path], list[CheckResult]]] = {
    "uniform-sphere": uniform_sphere,
    "point-source": point_source,
    "liver": liver,
    "nema-iec": nema_iec,
    "lung-slab": lung_slab,
}


def phantom_checks(name: str, *, cache: Path | None = None) -> list[CheckResult]:
    """Generate (or reuse) phantom ``name`` and run its checks."""
    from y90dose.phantoms.cache import phantom_dir

    case = f"phantom/{name}"
    try:
        study = phantom_dir(name, root=cache)
    except Exception as exc:  # reported, never hidden
        return [errored(case, "generate the phantom", exc)]
    work = Path(tempfile.mkdtemp(prefix=f"y90-validate-{name}-"))
    try:
        return PHANTOM_CASES[name](study, work)
    except ImportError as exc:
        return [errored(case, "voxel pipeline", exc)]
    except Exception as exc:
        return [errored(case, "run the phantom through the pipeline", exc)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
