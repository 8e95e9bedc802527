"""Published and hand-computed planning cases (physics.md), run through y90dose.

Every expected value here is computed by hand from the formula in physics.md (written out
in the case, not taken from y90dose), or is a published number; the computed value comes
from the public y90dose API (the same functions the CLI and the service call).
"""

from __future__ import annotations

import math

from y90dose.constants import (
    BSA_DUBOIS_COEFFICIENT,
    ENERGY_GLASS_J_PER_GBQ,
    ENERGY_RESIN_J_PER_GBQ,
    GLASS_VIALS_GBQ,
    Y90_HALF_LIFE_H,
)
from y90dose.validation_suite.result import CheckResult, as_float, boolean_check, compare

PHYSICS_MD = "physics.md"
EXACT = 1e-9
"""Relative tolerance of a hand calculation repeated in floating point."""


def _decay() -> list[CheckResult]:
    from y90dose.decay import decay_factor

    loss = 1.0 - decay_factor(2.20)
    return [
        compare(
            "planning/decay",
            "activity lost in 2.20 h (fraction)",
            0.0235,
            loss,
            abs_tol=0.00005,
            source="Hoang et al., JVIR (physics.md 2): 2.20 h delay loses 2.35 %",
            note="published to 0.01 %: tolerance is half the last digit",
        ),
        compare(
            "planning/decay",
            "activity after one half-life (fraction)",
            0.5,
            decay_factor(Y90_HALF_LIFE_H.value),
            rel_tol=EXACT,
            source="definition of T1/2",
        ),
    ]


def _vials() -> list[CheckResult]:
    from y90dose.units import gbq_to_mci

    published = {3.0: 81.0, 5.0: 135.0, 7.0: 189.0, 10.0: 270.0, 15.0: 405.0, 20.0: 540.0}
    rows = []
    for vial in GLASS_VIALS_GBQ:
        rows.append(
            compare(
                "planning/vials",
                f"glass vial {vial:g} GBq in mCi",
                published[vial],
                gbq_to_mci(vial),
                rel_tol=0.005,
                source="TheraSphere dose sizes (physics.md 3), 1 mCi = 37 MBq",
                note="the IFU table is rounded to whole mCi",
            )
        )
    return rows


def _rules_of_thumb() -> list[CheckResult]:
    from y90dose.constants import energy_per_gbq_from_nuclear_data
    from y90dose.models.mird import MirdDoseInput, dose_mird

    # 1 GBq in 1 kg of liver, no shunt, no residual: D = 50 Gy (glass C = 50 J/GBq).
    volume_ml = 1000.0 / 1.03
    result = dose_mird(
        MirdDoseInput(
            activity_gbq=1.0,
            perfused_volume_ml=volume_ml,
            lsf=0.0,
            density_g_ml=1.03,
            product="glass",
        )
    )
    resin = dose_mird(
        MirdDoseInput(
            activity_gbq=1.0,
            perfused_volume_ml=volume_ml,
            lsf=0.0,
            density_g_ml=1.03,
            product="resin",
        )
    )
    return [
        compare(
            "planning/rules",
            "1 GBq in 1 kg, glass (Gy)",
            50.0,
            as_float(result.doses_gy["perfused"]),
            rel_tol=EXACT,
            source="TheraSphere IFU: D = 50 x A / M",
        ),
        compare(
            "planning/rules",
            "1 GBq in 1 kg, resin (Gy) vs 'about 50 Gy'",
            50.0,
            as_float(resin.doses_gy["perfused"]),
            rel_tol=0.015,
            source="Sirtex rule of thumb 1 GBq/kg ~ 50 Gy (physics.md 1)",
            note="rule of thumb; the three published C differ by at most 1.3 %",
        ),
        compare(
            "planning/rules",
            "C from E_mean and T1/2 (J/GBq)",
            49.96,
            energy_per_gbq_from_nuclear_data(),
            abs_tol=0.005,
            source="0.9367 MeV x 64.1 h / ln 2 x 1e9 = 49.96 J/GBq (physics.md 1)",
        ),
    ]


def _mird() -> list[CheckResult]:
    from y90dose.models.mird import MirdPlanInput, plan_mird

    # Hand: A = D M / (C (1 - LSF)(1 - R)) = 120 x 1.545 / (50 x 0.9 x 0.95) = 4.33684 GBq
    dose, volume, rho, lsf, residual = 120.0, 1500.0, 1.03, 0.10, 0.05
    mass = volume * rho / 1000.0
    hand = dose * mass / (ENERGY_GLASS_J_PER_GBQ.value * (1 - lsf) * (1 - residual))
    lung = ENERGY_GLASS_J_PER_GBQ.value * hand * (1 - residual) * lsf / 1.0
    result = plan_mird(
        MirdPlanInput(
            target_dose_gy=dose,
            perfused_volume_ml=volume,
            lsf=lsf,
            residual=residual,
            density_g_ml=rho,
            product="glass",
        )
    )
    return [
        compare(
            "planning/mird",
            "activity for 120 Gy to 1500 mL, LSF 10 %, R 5 % (GBq)",
            hand,
            result.activity_gbq,
            rel_tol=EXACT,
            source="physics.md 4.1: A = D M / (C (1-LSF)(1-R)), hand: 4.33684 GBq",
        ),
        compare(
            "planning/mird",
            "lung dose of that plan (Gy)",
            lung,
            as_float(result.doses_gy["lung"]),
            rel_tol=EXACT,
            source="physics.md 4.4: D_L = C A_delivered LSF / M_L, M_L = 1 kg",
        ),
    ]


def _partition() -> list[CheckResult]:
    from y90dose.models.partition import (
        PartitionDoseInput,
        PartitionPlanInput,
        dose_partition,
        plan_partition,
    )
    from y90dose.phantoms.analytic import partition_doses_gy

    # Hand (resin C = 49.38): tumour 200 mL TN 4, normal 1300 mL, LSF 8 %, D_N = 40 Gy.
    # M_T = 0.206 kg, M_N = 1.339 kg; A = 40 (4 x 0.206 + 1.339) / (49.38 x 0.92) = 1.90455
    c = ENERGY_RESIN_J_PER_GBQ.value
    m_t, m_n = 0.206, 1.339
    hand_a = 40.0 * (4 * m_t + m_n) / (c * 0.92)
    plan = plan_partition(
        PartitionPlanInput(
            normal_dose_gy=40.0,
            tumor_volume_ml=[200.0],
            tn_ratio=[4.0],
            normal_volume_ml=1300.0,
            lsf=0.08,
            product="resin",
        )
    )
    rows = [
        compare(
            "planning/partition",
            "activity for D_N 40 Gy, TN 4 (GBq)",
            hand_a,
            plan.activity_gbq,
            rel_tol=EXACT,
            source="physics.md 4.3: A = D_N (TN M_T + M_N) / (C (1-LSF)), hand 1.90455 GBq",
        ),
        compare(
            "planning/partition",
            "tumour dose = TN x D_N (Gy)",
            160.0,
            as_float(plan.doses_gy["tumor"]),
            rel_tol=EXACT,
            source="physics.md 4.3",
        ),
        compare(
            "planning/partition",
            "lung dose (Gy)",
            c * hand_a * 0.08 / 1.0,
            as_float(plan.doses_gy["lung"]),
            rel_tol=EXACT,
            source="physics.md 4.3/4.4",
        ),
    ]
    # Several tumours, inverse form, against the independent phantom formulas.
    hand = partition_doses_gy(
        activity_gbq=2.5,
        lsf=0.05,
        tumor_mass_kg=[0.0515, 0.0103],
        tn_ratio=[3.0, 8.0],
        normal_mass_kg=1.442,
        lung_mass_kg=0.8,
        energy_j_per_gbq=ENERGY_GLASS_J_PER_GBQ.value,
    )
    dose = dose_partition(
        PartitionDoseInput(
            activity_gbq=2.5,
            tumor_volume_ml=[50.0, 10.0],
            tn_ratio=[3.0, 8.0],
            normal_volume_ml=1400.0,
            lsf=0.05,
            lung_mass_kg=0.8,
            product="glass",
        )
    )
    rows.append(
        compare(
            "planning/partition",
            "two tumours: normal-liver dose (Gy)",
            as_float(hand["normal_gy"]),
            as_float(dose.doses_gy["normal"]),
            rel_tol=EXACT,
            source="physics.md 4.3 inverse form: sum TN_i M_T,i",
        )
    )
    tumors = dose.doses_gy["tumors"]
    assert isinstance(tumors, list)
    for i, (exp, got) in enumerate(zip(hand["tumors_gy"], tumors, strict=True)):  # type: ignore[call-overload]
        rows.append(
            compare(
                "planning/partition",
                f"two tumours: tumour {i + 1} dose (Gy)",
                as_float(exp),
                float(got),
                rel_tol=EXACT,
                source="physics.md 4.3",
            )
        )
    # The two wrong variants that have shipped must differ measurably from the result.
    wrong_lsf = 40.0 * (4 * m_t + m_n) * 0.92 / c
    wrong_mass = 40.0 * m_n * (4 + 1) / (c * 0.92)
    for label, wrong in (
        ("x (1-LSF) instead of / (1-LSF)", wrong_lsf),
        ("M_N x (TN + 1) mass weighting", wrong_mass),
    ):
        relative = (plan.activity_gbq - wrong) / wrong
        rows.append(
            boolean_check(
                "planning/partition",
                f"activity differs > 5 % from the wrong variant: {label}",
                abs(relative) > 0.05,
                source="physics.md 4.3 (variants that shipped)",
                note=f"wrong variant {wrong:.4g} GBq vs {plan.activity_gbq:.4g} GBq "
                f"({relative:+.1%})",
            )
        )
    return rows


def _bsa() -> list[CheckResult]:
    from y90dose.models.bsa import BsaPlanInput, plan_bsa

    bsa = BSA_DUBOIS_COEFFICIENT * 1.75**0.725 * 75.0**0.425
    whole = (bsa - 0.2) + 450.0 / 1500.0
    rows = []
    for lsf, factor in ((0.05, 1.0), (0.10, 0.8), (0.12, 0.8), (0.15, 0.6), (0.20, 0.6)):
        result = plan_bsa(
            BsaPlanInput(
                height_cm=175, weight_kg=75, tumor_volume_ml=450, liver_volume_ml=1500, lsf=lsf
            )
        )
        rows.append(
            compare(
                "planning/bsa",
                f"175 cm 75 kg, tumour 450/1500 mL, LSF {lsf:.0%} (GBq)",
                whole * factor,
                result.activity_gbq,
                rel_tol=EXACT,
                source="physics.md 4.2 (DuBois BSA; reduction bands, edges explicit)",
            )
        )
    return rows


def _ldm() -> list[CheckResult]:
    import numpy as np

    from y90dose.voxel.convolution import cumulated_activity_mbq_s
    from y90dose.voxel.ldm import ldm_dose

    one = ldm_dose(
        np.full((1, 1, 1), 1e-3), spacing_zyx_mm=10.0, density_g_ml=1.03, energy_j_per_gbq=49.67
    )
    return [
        compare(
            "planning/ldm",
            "1 MBq/mL in liver, LDM (Gy)",
            48.2,
            float(one.dose_gy.ravel()[0]),
            abs_tol=0.05,
            source="physics.md 6: 49.67 x 0.001 / 0.00103 = 48.2 Gy",
        ),
        compare(
            "planning/ldm",
            "cumulated activity of 1 MBq (MBq h)",
            64.1 / math.log(2.0),
            float(cumulated_activity_mbq_s(1.0)) / 3600.0,
            rel_tol=EXACT,
            source="physics.md 6: A0 T1/2 / ln 2",
        ),
    ]


def planning_checks() -> list[CheckResult]:
    """All planning cases."""
    rows: list[CheckResult] = []
    for fn in (_decay, _vials, _rules_of_thumb, _mird, _partition, _bsa, _ldm):
        rows.extend(fn())
    return rows
