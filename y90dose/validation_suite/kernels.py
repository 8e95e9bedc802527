"""Kernel checks: Graves 2019 DPK integrated over voxels vs Lanconelli 2012 tables, and
both vs the y90dose Monte Carlo reference (ompMC, cached in ``y90dose/phantoms/reference``).

Tolerances
----------
- Graves-integrated vs Lanconelli, central voxel and face neighbours: 3 % (physics.md
  section 6: "agrees within about 3 %"); edge and corner neighbours: 5 % (the same kernels,
  a step further into the penumbra where the two Monte Carlo codes, spectra and media
  differ more); the second-neighbour tail (< 2 % of the central S value) is shown as info.
- Monte Carlo vs Lanconelli: 3 standard uncertainties of the Monte Carlo value plus 2 %
  for the model differences (ompMC vs DOSXYZnrc, ICRP-107 vs the spectrum Lanconelli used,
  ICRU tissue composition; Lanconelli's table has three significant digits).
- Monte Carlo vs Graves-integrated: 3 standard uncertainties plus 2 % (same reasons).
- 4.8 mm ICRP cortical bone: Monte Carlo vs the Lanconelli bone table as above; the
  Graves kernel scaled by 1/density vs Monte Carlo with a further 3 % at the central and
  face voxels, edge and corner shown only (the density scaling of a water kernel is an
  approximation in a medium of higher Z).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from y90dose.validation_suite.result import CheckResult, compare, skipped

LANCONELLI = "Lanconelli 2012 (Phys Med Biol 57:517) table"
MC_SOURCE = "y90dose Monte Carlo (ompMC, 521icru), y90dose/phantoms/reference"
NEIGHBOURS: tuple[tuple[tuple[int, int, int], str, float | None], ...] = (
    ((0, 0, 0), "central", 0.03),
    ((0, 0, 1), "face", 0.03),
    ((0, 1, 1), "edge", 0.05),
    ((1, 1, 1), "corner", 0.05),
    ((0, 0, 2), "second face", None),
)
MODEL_ALLOWANCE = 0.02


def graves_vs_lanconelli() -> list[CheckResult]:
    """The integrated DPK against the three tabulated soft-tissue sizes."""
    from y90dose.voxel.kernels import dpk_voxel_kernel, lanconelli_kernel

    rows: list[CheckResult] = []
    for size in (3.0, 4.8, 6.0):
        dpk = dpk_voxel_kernel(size).octant()
        table = lanconelli_kernel(size)
        lan = table.octant()
        for ijk, label, tol in NEIGHBOURS:
            rows.append(
                compare(
                    f"kernels/{size:g}mm-soft",
                    f"S {label} {ijk} (mGy/(MBq s)), Graves vs table",
                    float(lan[ijk]),
                    float(dpk[ijk]),
                    rel_tol=tol,
                    info_only=tol is None,
                    source=LANCONELLI,
                    note="" if tol is not None else "tail beyond the first neighbours: shown only",
                )
            )
        rows.append(
            compare(
                f"kernels/{size:g}mm-soft",
                "sum S x voxel mass, table (MeV/decay)",
                0.935,
                table.total_energy_mev_per_decay,
                abs_tol=0.0015,
                source="physics.md 6: 0.934-0.936 MeV per decay at 1.04 g/cm3",
            )
        )
    from y90dose.voxel.kernels import load_graves_dpk

    rows.append(
        compare(
            "kernels/graves-dpk",
            "total energy of the DPK (MeV/decay)",
            0.930,
            load_graves_dpk().total_energy_mev,
            abs_tol=0.0005,
            source="physics.md 6 (Graves 2019: 0.930 MeV in total)",
        )
    )
    return rows


def _mc_table(data: dict[str, Any]) -> dict[tuple[int, int, int], tuple[float, float]]:
    return {
        (int(i), int(j), int(k)): (float(s), float(u))
        for (i, j, k), s, u in zip(
            data["ijk"], data["s_gy_per_decay"], data["relative_uncertainty"], strict=True
        )
    }


GY_PER_DECAY_TO_MGY_PER_MBQ_S = 1e9
"""1 Gy/decay = 1e3 mGy x 1e6 decays/MBq s: S[mGy/(MBq s)] = S[Gy/decay] x 1e9."""


def mc_vs_tables(
    references: dict[str, dict[str, Any]] | None = None, label: str = "cached"
) -> list[CheckResult]:
    """The Monte Carlo S values (cached, or ``references`` from a fresh run)."""
    from y90dose.phantoms.montecarlo.references import load_reference
    from y90dose.voxel.kernels import dpk_voxel_kernel, lanconelli_kernel

    rows: list[CheckResult] = []
    try:
        tissue = (references or {}).get("s-values-3mm-icru-tissue") or load_reference(
            "s-values-3mm-icru-tissue"
        )
        water = (references or {}).get("s-values-3mm-water") or load_reference("s-values-3mm-water")
    except FileNotFoundError as exc:
        return [skipped("kernels/monte-carlo", "MC S values", f"no cached reference: {exc}")]
    mc = _mc_table(tissue)
    lan = lanconelli_kernel(3.0).octant()
    dpk = dpk_voxel_kernel(3.0).octant()
    n = tissue["provenance"]["n_histories"]
    for ijk, name, _ in NEIGHBOURS[:4]:
        s, u = mc[ijk]
        s_mgy = s * GY_PER_DECAY_TO_MGY_PER_MBQ_S
        tol = 3 * u + MODEL_ALLOWANCE
        rows.append(
            compare(
                "kernels/monte-carlo",
                f"3 mm ICRU tissue S {name} {ijk}: MC ({label}) vs table",
                float(lan[ijk]),
                s_mgy,
                rel_tol=tol,
                source=LANCONELLI,
                note=f"MC {n} histories, 1 sd {u:.2%}; tolerance 3 sd + {MODEL_ALLOWANCE:.0%}",
            )
        )
        rows.append(
            compare(
                "kernels/monte-carlo",
                f"3 mm ICRU tissue S {name} {ijk}: Graves vs MC ({label})",
                s_mgy,
                float(dpk[ijk]),
                rel_tol=tol,
                source=MC_SOURCE,
                note=f"tolerance 3 sd + {MODEL_ALLOWANCE:.0%}",
            )
        )
    bone_data = (references or {}).get("s-values-4.8mm-bone")
    if bone_data is None:
        try:
            bone_data = load_reference("s-values-4.8mm-bone")
        except FileNotFoundError:
            bone_data = None
    if bone_data is not None:
        bone = _mc_table(bone_data)
        lan_bone = lanconelli_kernel(4.8, "bone").octant()
        dpk_bone = dpk_voxel_kernel(4.8, "bone").octant()
        for ijk, name, _ in NEIGHBOURS[:4]:
            s, u = bone[ijk]
            s_mgy = s * GY_PER_DECAY_TO_MGY_PER_MBQ_S
            tol = 3 * u + MODEL_ALLOWANCE
            rows.append(
                compare(
                    "kernels/monte-carlo",
                    f"4.8 mm bone S {name} {ijk}: MC ({label}) vs table",
                    float(lan_bone[ijk]),
                    s_mgy,
                    rel_tol=tol,
                    source=LANCONELLI + " (bone)",
                    note=f"ICRP cortical bone 1.85 g/cm3; 1 sd {u:.2%}; 3 sd + 2 %",
                )
            )
            judged = ijk in ((0, 0, 0), (0, 0, 1))
            rows.append(
                compare(
                    "kernels/monte-carlo",
                    f"4.8 mm bone S {name} {ijk}: Graves (scaled) vs MC",
                    s_mgy,
                    float(dpk_bone[ijk]),
                    rel_tol=tol + 0.03 if judged else None,
                    info_only=not judged,
                    source=MC_SOURCE,
                    note="water kernel with distances scaled by 1/1.85; central and face judged "
                    "with a further 3 % for the scaling approximation; edge and corner shown "
                    "only (the scaled kernel is 5-12 % low there: bone is not water-like in Z)",
                )
            )
    central, u = _mc_table(water)[(0, 0, 0)]
    rows.append(
        compare(
            "kernels/monte-carlo",
            f"3 mm water central S (Gy/decay), MC ({label})",
            1.60e-9,
            central,
            rel_tol=3 * u + MODEL_ALLOWANCE,
            source="issue 4 / Lanconelli: ~1.60e-9 Gy per decay",
            note="the expected value is quoted to 3 digits; tolerance 3 sd + 2 %",
        )
    )
    for name, data in (("water", water), ("ICRU tissue", tissue)):
        prov = data["provenance"]
        expected = prov["sampled_mean_energy_mev"] * prov["energy_fraction_kept"]
        rows.append(
            compare(
                "kernels/monte-carlo",
                f"MC energy balance, {name} (MeV/decay deposited)",
                expected,
                float(data["energy_deposited_mev_per_decay"]),
                rel_tol=0.005,
                source="energy conservation: sampled beta energy x fraction not escaping",
                note="tolerance 0.5 % (float32 phase space, dose-to-energy round trip)",
            )
        )
    return rows


def mc_rerun(scale: float = 1.0) -> list[CheckResult]:
    """``--full``: rerun the S-value Monte Carlo and compare with the cache statistically."""
    from y90dose.phantoms.montecarlo import mc_available
    from y90dose.phantoms.montecarlo.references import compute_reference, load_reference

    if not mc_available():
        return [
            skipped(
                "kernels/monte-carlo-rerun",
                "fresh MC S values",
                "ompmc/icrp107-database not installed (from the checkout: pip install -e '.[mc]')",
            )
        ]
    fresh = {
        name: compute_reference(name, scale=scale, seed=1090)
        for name in ("s-values-3mm-water", "s-values-3mm-icru-tissue")
    }
    rows = mc_vs_tables(fresh, label="fresh")
    for name in ("lung-slab", "water-slab"):
        new_slab = compute_reference(name, scale=scale / 2, seed=1091)
        old_slab = load_reference(name)
        for z0, z1 in ((12.0, 18.0), (20.0, 24.0), (24.0, 30.0)):
            means, sds = [], []
            for data in (old_slab, new_slab):
                start = np.asarray(data["depth_start_mm"])
                sel = (start >= z0 - 1e-6) & (start < z1 - 1e-6)
                dose = np.asarray(data["dose_gy_per_decay"])[sel]
                unc = np.asarray(data["relative_uncertainty"])[sel]
                mean = float(dose.mean())
                means.append(mean)
                sds.append(
                    float(np.sqrt(np.sum((dose * unc) ** 2)) / len(dose) / mean)
                    if mean > 0
                    else 1.0
                )
            if means[0] < 1e-3 * max(old_slab["dose_gy_per_decay"]):
                continue  # no dose there (water slab beyond the range): nothing to compare
            sd = float(np.hypot(sds[0], sds[1]))
            rows.append(
                compare(
                    "kernels/monte-carlo-rerun",
                    f"{name} dose {z0:g}-{z1:g} mm: fresh vs cached",
                    means[0],
                    means[1],
                    rel_tol=3 * sd,
                    source=MC_SOURCE,
                    note=f"independent run (other seed); tolerance 3 combined sd ({sd:.2%})",
                )
            )
    for name, data in fresh.items():
        cached = _mc_table(load_reference(name))
        new = _mc_table(data)
        for ijk, label, _ in NEIGHBOURS[:2]:
            (s0, u0), (s1, u1) = cached[ijk], new[ijk]
            sd = float(np.hypot(u0, u1))
            rows.append(
                compare(
                    "kernels/monte-carlo-rerun",
                    f"{name} S {label}: fresh vs cached",
                    s0,
                    s1,
                    rel_tol=3 * sd,
                    source=MC_SOURCE,
                    note=f"independent run (other seed); tolerance 3 combined sd ({sd:.2%})",
                )
            )
    return rows
