"""Phantom generators: geometry, known answers from hand formulas, DICOM/NIfTI round trips.

Expected values are computed here by hand from the phantom definitions (volumes of spheres
and ellipsoids, physics.md formulas), never copied from the generator's output.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from y90dose.phantoms.generators import GENERATORS, generate
from y90dose.phantoms.geometry import VoxelGrid, ellipsoid, sphere

C_EANM = 49.67  # J/GBq, EANM 2022 (physics.md 1)


def test_sphere_occupancy_holds_the_analytic_volume() -> None:
    grid = VoxelGrid.centred((60.0, 60.0, 60.0), 2.0)
    volume_ml = grid.occupancy(sphere((0.3, -0.7, 1.1), 12.0)).sum() * grid.voxel_volume_ml
    assert volume_ml == pytest.approx(4 / 3 * math.pi * 12.0**3 / 1000, rel=2e-3)


def test_ellipsoid_occupancy_and_grid_centring() -> None:
    grid = VoxelGrid.centred((100.0, 80.0, 60.0), 4.0)
    assert grid.axis_mm("x")[0] == pytest.approx(-grid.axis_mm("x")[-1])
    volume = grid.occupancy(ellipsoid((0, 0, 0), (30.0, 20.0, 15.0))).sum() * grid.voxel_volume_ml
    assert volume == pytest.approx(4 / 3 * math.pi * 30 * 20 * 15 / 1000, rel=3e-3)


def test_uniform_sphere_known_answers_by_hand() -> None:
    p = generate("uniform-sphere")
    k = p.known_answers
    volume_ml = 4 / 3 * math.pi * 40.0**3 / 1000  # 268.08 mL of water
    assert k["sphere_volume_ml"]["value"] == pytest.approx(volume_ml)
    # D = C A / M = 49.67 J/GBq x 1 GBq / 0.26808 kg = 185.28 Gy
    assert k["sphere_mean_ldm_dose_gy"]["value"] == pytest.approx(C_EANM / (volume_ml / 1000))
    assert k["sphere_mean_ldm_dose_gy"]["value"] == pytest.approx(185.28, abs=0.01)
    assert p.activity_bq.sum() == pytest.approx(1e9, rel=1e-3)
    centre = tuple(n // 2 for n in p.grid.shape_zyx)
    conc = 1e9 / volume_ml  # Bq/mL
    assert p.activity_bq[centre] == pytest.approx(conc * p.grid.voxel_volume_ml)


def test_liver_compartments_and_partition_doses_by_hand() -> None:
    p = generate("liver", activity_gbq=2.0, lsf=0.08, spect_total_counts=None)
    k = p.known_answers
    v_t = [4 / 3 * math.pi * r**3 / 1000 for r in (20.0, 14.0, 10.0)]
    tn = [4.0, 6.0, 2.0]
    v_liver = 1500.0
    v_n = v_liver - sum(v_t)
    v_lungs = 2 * 4 / 3 * math.pi * 55 * 65 * 65 / 1000
    assert k["volumes_ml"]["value"]["liver"] == pytest.approx(v_liver)
    assert k["volumes_ml"]["value"]["lungs"] == pytest.approx(v_lungs)
    m_t = [v * 1.03 / 1000 for v in v_t]
    m_n = v_n * 1.03 / 1000
    m_l = v_lungs * 0.25 / 1000
    d_n = C_EANM * 2.0 * (1 - 0.08) / (sum(t * m for t, m in zip(tn, m_t, strict=True)) + m_n)
    doses = k["partition_doses_gy"]["value"]
    assert doses["normal_gy"] == pytest.approx(d_n, rel=1e-12)
    assert doses["tumors_gy"] == pytest.approx([t * d_n for t in tn], rel=1e-12)
    assert doses["lung_gy"] == pytest.approx(C_EANM * 2.0 * 0.08 / m_l, rel=1e-12)
    # The exact map holds the administered activity, the shunt in the lungs, and the TN
    # ratio in the voxels fully inside tumours and normal liver.
    assert p.activity_bq.sum() / 1e9 == pytest.approx(2.0, rel=2e-3)
    assert p.activity_bq[p.vois["lungs"]].sum() / p.activity_bq.sum() == pytest.approx(
        0.08, rel=0.05
    )
    c_normal = 2e9 * 0.92 / (v_n + sum(t * v for t, v in zip(tn, v_t, strict=True)))
    full = p.grid.voxel_volume_ml
    assert p.activity_bq.max() == pytest.approx(6.0 * c_normal * full, rel=1e-9)
    # Noise-free SPECT: blurring keeps counts (activity far from the FOV edge).
    assert p.spect_counts is not None
    assert p.spect_counts.sum() == pytest.approx(p.activity_bq.sum(), rel=5e-3)


def test_liver_spect_noise_is_poisson_and_seeded() -> None:
    a = generate("liver", seed=7)
    b = generate("liver", seed=7)
    c = generate("liver", seed=8)
    assert a.spect_counts is not None and b.spect_counts is not None and c.spect_counts is not None
    assert np.array_equal(a.spect_counts, b.spect_counts)
    assert not np.array_equal(a.spect_counts, c.spect_counts)
    assert np.all(a.spect_counts == np.round(a.spect_counts))
    assert a.spect_counts.sum() == pytest.approx(4.0e6, rel=5 * 2000 / 4.0e6)


def test_nema_recovery_coefficients_behave() -> None:
    p = generate("nema-iec", spacing_mm=3.0)
    rc = p.known_answers["recovery_coefficients"]["value"]
    assert all(0 < r < 1 for r in rc)
    assert rc == sorted(rc)  # larger spheres recover more
    volumes = p.known_answers["sphere_volumes_ml"]["value"]
    assert volumes == pytest.approx(
        [4 / 3 * math.pi * (d / 2) ** 3 / 1000 for d in (10, 13, 17, 22, 28, 37)]
    )
    sharp = generate("nema-iec", spacing_mm=3.0, fwhm_mm=0.0)
    rc0 = sharp.known_answers["recovery_coefficients"]["value"]
    assert rc0[-1] > 0.95  # no blur: only the boundary voxels of the VOI lose


def test_point_source_expected_doses_are_lanconelli_times_decays() -> None:
    p = generate("point-source")
    decays = 1e9 * 64.1 * 3600 / math.log(2)
    expected = p.known_answers["dose_gy_at_offset_lanconelli"]["value"]
    assert expected["0,0,0"] == pytest.approx(1.59e-9 * decays)  # 1.59 mGy/(MBq s)
    assert expected["0,0,1"] == pytest.approx(0.275e-9 * decays)


def test_lung_slab_known_answers_come_from_the_cached_monte_carlo() -> None:
    p = generate("lung-slab")
    mc = p.known_answers["mc_depth_dose_gy"]
    source_dose = p.known_answers["source_layer_ldm_dose_gy"]["value"]
    assert source_dose == pytest.approx(49.67)  # 1 MBq/mL water: C x c / rho
    peak = max(mc["value"])
    assert 0.9 * source_dose < peak < source_dose  # the middle of a 10 mm layer
    assert "lung" in mc["medium"] and "water" in mc["medium"]


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_generation_is_deterministic(name: str) -> None:
    from y90dose.phantoms.base import document

    assert json.dumps(document(generate(name))) == json.dumps(document(generate(name)))


def test_export_round_trip_through_y90dose_readers(tmp_path: Path) -> None:
    from y90dose.imaging.dicom_series import read_dicom
    from y90dose.imaging.rtstruct import read_rtstruct
    from y90dose.phantoms.export import export_phantom

    p = generate(
        "uniform-sphere", radius_mm=20.0, cylinder_diameter_mm=80.0, cylinder_length_mm=60.0
    )
    paths = export_phantom(p, tmp_path / "us")
    ct = read_dicom(paths["dicom_ct"])
    assert ct.array.shape == p.grid.shape_zyx
    assert np.array_equal(ct.array, np.rint(p.ct_hu))
    assert ct.spacing_mm == p.grid.spacing_mm
    assert ct.origin_mm == pytest.approx(p.grid.origin_mm)
    pt = read_dicom(paths["dicom_pt"])
    total_bq = pt.array.sum() * p.grid.voxel_volume_ml
    assert total_bq == pytest.approx(1e9, rel=1e-3)
    vois = read_rtstruct(paths["dicom_rtstruct"], ct)
    assert np.array_equal(vois["sphere"], p.vois["sphere"])
    known = json.loads(paths["known_answers"].read_text())
    assert known["phantom"] == "uniform-sphere"
    assert (tmp_path / "us" / "nifti" / "labels.nii.gz").is_file()


def test_cli_generate(tmp_path: Path) -> None:
    from y90dose.phantoms.__main__ import main

    assert main(["generate", "point-source", "--out", str(tmp_path / "ps"), "--no-dicom"]) == 0
    assert (tmp_path / "ps" / "known_answers.json").is_file()
    assert (
        main(
            ["generate", "point-source", "--out", str(tmp_path / "x"), "--param", "spacing_mm=4.0"]
        )
        == 2
    )  # refused: the tabulated size is 3 mm
