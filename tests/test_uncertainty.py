"""Uncertainty of plans and dose calculations (issue 13 part 3), worked by hand.

MIRD: D = C x A x (1 - LSF) x (1 - R) / M (physics.md 4.1). With only M uncertain, the
first-order relative SD of D is the relative SD of M: d ln D / d ln M = -1. Sampled with
M lognormal (mean M, relative SD s), D = k / M is lognormal with sigma^2 = ln(1 + s^2)
too, and its SD relative to the nominal D is s (1 + s^2): first order and sampling agree
for s = 2 % (0.020008 vs 0.02) and differ for s = 30 % (0.327 vs 0.3).

Partition (physics.md 4.3): D_T = TN x C A (1 - LSF) / (TN M_T + M_N). Its log-derivatives
are d ln D_T / d ln TN = M_N / W, d ln D_T / d ln M_T = -TN M_T / W and
d ln D_T / d ln M_N = -M_N / W with W = TN M_T + M_N. For M_T = 0.206 kg, M_N = 1.236 kg,
TN = 3: W = 0.618 + 1.236 = 1.854, so the coefficients are 2/3, -1/3 and -2/3; with 10 %
on each, the variance shares are 4/9, 1/9, 4/9 and the relative SD is
0.1 x sqrt(4/9 + 1/9 + 4/9) = 10 %.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from y90dose.cli.main import main
from y90dose.errors import InputError
from y90dose.models.bsa import BsaPlanInput, plan_bsa
from y90dose.models.mird import MirdDoseInput, MirdPlanInput, dose_mird, plan_mird
from y90dose.models.partition import (
    PartitionDoseInput,
    PartitionPlanInput,
    dose_partition,
    plan_partition,
)
from y90dose.uncertainty.propagation import Distribution, UncertainInput, propagate
from y90dose.validation import parse

NO_OTHER_SD = {"sd_lsf": 0, "sd_activity_percent": 0, "sd_lung_mass_percent": 0}
"""Only the volume varies."""

# 3 GBq, 1165 mL at 1.03 g/mL = 1.19995 kg, LSF 0.08, glass C = 50 J/GBq:
# D = 50 x 3 x 0.92 / 1.19995 = 138 / 1.19995 = 115.0048 Gy
MIRD_DOSE_GY = 50 * 3 * 0.92 / 1.19995


def _mird(sd_volume_percent: float, draws: int = 10_000) -> MirdDoseInput:
    return MirdDoseInput(
        activity_gbq=3,
        perfused_volume_ml=1165,
        lsf=0.08,
        sd_volume_percent=sd_volume_percent,
        uncertainty_draws=draws,
        **NO_OTHER_SD,
    )


def test_no_uncertainty_unless_asked() -> None:
    assert (
        plan_mird(MirdPlanInput(target_dose_gy=120, perfused_volume_ml=1165, lsf=0.08)).uncertainty
        is None
    )


def test_small_sd_of_mass_alone_gives_the_same_relative_sd_of_dose() -> None:
    u = dose_mird(_mird(2.0)).uncertainty
    assert u is not None
    perfused = u.doses_gy["perfused"]
    assert perfused.nominal == pytest.approx(MIRD_DOSE_GY, rel=1e-12)
    # first order: exactly 2 % of D
    assert perfused.sd_first_order == pytest.approx(0.02 * MIRD_DOSE_GY, rel=1e-6)
    # sampled: 0.02 x (1 + 0.02^2) = 0.020008 of D, within the 0.7 % sampling error
    assert perfused.sd == pytest.approx(0.020008 * MIRD_DOSE_GY, rel=0.03)
    assert u.drivers == [type(u.drivers[0])(input="perfused_volume_ml", share=1.0)]
    # the lung dose does not depend on the perfused volume: no spread, no driver
    assert u.doses_gy["lung"].sd == 0.0
    assert u.drivers_by_output["lung"] == []


def test_large_sd_of_mass_separates_sampling_from_first_order() -> None:
    u = dose_mird(_mird(30.0, draws=100_000)).uncertainty
    assert u is not None
    perfused = u.doses_gy["perfused"]
    assert perfused.sd_first_order == pytest.approx(0.3 * MIRD_DOSE_GY, rel=1e-6)
    # sampled: 0.3 x (1 + 0.09) = 0.327 of D (100,000 draws: ~0.3 % sampling error)
    assert perfused.sd == pytest.approx(0.327 * MIRD_DOSE_GY, rel=0.015)
    # percentiles: D / D_nominal = exp(s^2/2 -/+ 1.96 s), s^2 = ln 1.09 = 0.086178
    s = math.sqrt(math.log(1.09))
    assert perfused.low == pytest.approx(
        math.exp(s * s / 2 - 1.959964 * s) * MIRD_DOSE_GY, rel=0.01
    )
    assert perfused.high == pytest.approx(
        math.exp(s * s / 2 + 1.959964 * s) * MIRD_DOSE_GY, rel=0.01
    )
    assert perfused.sd / (0.3 * MIRD_DOSE_GY) - 1 > 0.07  # 1.09 - 1 = 9 % above first order
    assert any("perfused: sampled SD" in note and "nonlinear" in note for note in u.notes)


def test_partition_tumour_dose_budget_by_hand() -> None:
    inputs = PartitionDoseInput(
        activity_gbq=1.8,
        tumor_volume_ml=[200],
        tn_ratio=[3],
        normal_volume_ml=1200,
        lsf=0.06,
        sd_volume_percent=10,
        sd_tn_percent=10,
        **NO_OTHER_SD,
    )
    u = dose_partition(inputs).uncertainty
    assert u is not None
    tumor = u.doses_gy["tumor"]
    # D_T = 3 x 50 x 1.8 x 0.94 / 1.854 = 136.89 Gy; relative SD 10 % (module docstring)
    assert tumor.nominal == pytest.approx(3 * 50 * 1.8 * 0.94 / 1.854, rel=1e-12)
    assert tumor.sd_first_order == pytest.approx(0.1 * tumor.nominal, rel=1e-6)
    assert tumor.sd == pytest.approx(0.1 * tumor.nominal, rel=0.05)
    shares = {d.input: d.share for d in u.drivers}
    assert u.drivers_of == "tumor"
    assert shares == pytest.approx(
        {"tn_ratio": 4 / 9, "normal_volume_ml": 4 / 9, "tumor_volume_ml": 1 / 9}, rel=1e-6
    )
    # sorted by share: the two 4/9 first, tumour volume last
    assert u.drivers[-1].input == "tumor_volume_ml"
    # normal-liver dose: d ln D_N / d ln TN = -TN M_T / W = -1/3, M_T -1/3, M_N -2/3
    normal = u.doses_gy["normal"]
    assert normal.sd_first_order == pytest.approx(
        0.1 * math.sqrt(1 / 9 + 1 / 9 + 4 / 9) * normal.nominal, rel=1e-6
    )


def test_lung_dose_shares_by_hand() -> None:
    """D_L = C A LSF / M_L: LSF 0.08 with SD 0.02 is 25 %, like the lung mass's 25 %."""
    inputs = MirdDoseInput(
        activity_gbq=3,
        perfused_volume_ml=1165,
        lsf=0.08,
        sd_volume_percent=0,
        sd_activity_percent=0,
        sd_lsf=0.02,
        sd_lung_mass_percent=25,
    )
    u = dose_mird(inputs).uncertainty
    assert u is not None
    lung = u.doses_gy["lung"]
    assert lung.nominal == pytest.approx(50 * 3 * 0.08, rel=1e-12)  # 12 Gy
    assert lung.sd_first_order == pytest.approx(12 * math.sqrt(0.25**2 + 0.25**2), rel=1e-6)
    assert {d.input: d.share for d in u.drivers_by_output["lung"]} == pytest.approx(
        {"lsf": 0.5, "lung_mass_kg": 0.5}, rel=1e-6
    )
    # perfused dose: d D / d LSF = -D / (1 - LSF): SD 0.02 / 0.92 of D
    perfused = u.doses_gy["perfused"]
    assert perfused.sd_first_order == pytest.approx(MIRD_DOSE_GY * 0.02 / 0.92, rel=1e-6)


def test_plan_activity_follows_the_mass_and_the_dose_of_the_planned_activity() -> None:
    """A = D M / (C (1 - LSF)): 10 % on M is 10 % on the needed activity, and the planned
    activity's dose to the true mass spreads by the same 10 % (first order)."""
    inputs = MirdPlanInput(
        target_dose_gy=120, perfused_volume_ml=1165, lsf=0.08, sd_volume_percent=10, **NO_OTHER_SD
    )
    result = plan_mird(inputs)
    u = result.uncertainty
    assert u is not None and u.activity_gbq is not None
    assert u.activity_gbq.nominal == result.activity_gbq
    assert u.activity_gbq.sd_first_order == pytest.approx(0.1 * result.activity_gbq, rel=1e-6)
    assert u.doses_gy["perfused"].sd_first_order == pytest.approx(12.0, rel=1e-6)
    # the needed activity is proportional to M (lognormal, mean preserved): sampled SD 10 %
    assert u.activity_gbq.sd == pytest.approx(0.1 * result.activity_gbq, rel=0.03)
    assert u.meaning.startswith("plan:")


def test_activity_calibration_alone() -> None:
    """Dose calibrator 5 %: every dose spreads by 5 %, the activity to draw by 5 % too."""
    inputs = MirdPlanInput(
        target_dose_gy=120,
        perfused_volume_ml=1165,
        lsf=0.08,
        sd_activity_percent=5,
        sd_volume_percent=0,
        sd_lsf=0,
        sd_lung_mass_percent=0,
    )
    u = plan_mird(inputs).uncertainty
    assert u is not None and u.activity_gbq is not None
    assert u.doses_gy["perfused"].sd_first_order == pytest.approx(6.0, rel=1e-6)
    assert u.doses_gy["lung"].sd_first_order == pytest.approx(
        0.05 * u.doses_gy["lung"].nominal, rel=1e-6
    )
    assert u.activity_gbq.sd_first_order == pytest.approx(0.05 * u.activity_gbq.nominal, rel=1e-6)


def test_small_sds_agree_everywhere_in_a_partition_plan() -> None:
    inputs = PartitionPlanInput(
        tumor_dose_gy=200,
        tumor_volume_ml=[200, 50],
        tn_ratio=[3, 5],
        normal_volume_ml=1200,
        lsf=0.06,
        sd_volume_percent=1,
        sd_tn_percent=1,
        sd_lsf=0.002,
        sd_activity_percent=1,
        sd_lung_mass_percent=1,
    )
    u = plan_partition(inputs).uncertainty
    assert u is not None and u.activity_gbq is not None
    for name, interval in {**u.doses_gy, "activity_gbq": u.activity_gbq}.items():
        assert interval.sd_first_order is not None
        assert interval.sd == pytest.approx(interval.sd_first_order, rel=0.04), name
    # the lowest-TN tumour (index 0) is the target: its drivers at the top level
    assert u.drivers_of == "tumors[0]"
    assert set(u.doses_gy) == {
        "perfused",
        "normal",
        "tumors[0]",
        "tumors[1]",
        "lung",
        "lung_cumulative",
    }


def test_defaults_are_used_and_said() -> None:
    u = plan_mird(
        MirdPlanInput(target_dose_gy=120, perfused_volume_ml=1165, lsf=0.08, uncertainty=True)
    ).uncertainty
    assert u is not None
    assert u.defaults_used == [
        "sd_activity_percent",
        "sd_lsf",
        "sd_lung_mass_percent",
        "sd_volume_percent",
    ]
    by_input = {item.input: item for item in u.inputs}
    assert by_input["perfused_volume_ml"].sd == pytest.approx(116.5)  # 10 % of 1165 mL
    assert by_input["lsf"].sd == 0.02
    assert by_input["lung_mass_kg"].sd == pytest.approx(0.25)  # 25 %: 1 kg assumed
    assert all(item.source.startswith("default: ") for item in u.inputs)
    given = plan_mird(
        MirdPlanInput(
            target_dose_gy=120, perfused_volume_ml=1165, lsf=0.08, lung_mass_kg=0.8, sd_lsf=0.01
        )
    ).uncertainty
    assert given is not None
    by_input = {item.input: item for item in given.inputs}
    assert by_input["lung_mass_kg"].sd == pytest.approx(0.08)  # 10 % of a given mass
    assert by_input["lsf"].given and by_input["lsf"].source == "given"
    assert "sd_lsf" not in given.defaults_used


def test_same_seed_same_draws_other_seed_other_draws() -> None:
    def run(seed: int) -> float:
        inputs = MirdDoseInput(
            activity_gbq=3, perfused_volume_ml=1165, lsf=0.08, uncertainty_seed=seed
        )
        u = dose_mird(inputs).uncertainty
        assert u is not None
        return u.doses_gy["perfused"].high

    assert run(1) == run(1)
    assert run(1) != run(2)
    assert run(1) == pytest.approx(run(2), rel=0.03)


def test_bsa_band_edge_has_no_first_order_sd() -> None:
    base = {
        "height_cm": 175,
        "weight_kg": 75,
        "tumor_volume_ml": 450,
        "liver_volume_ml": 1500,
        "uncertainty": True,
    }
    at_edge = plan_bsa(BsaPlanInput(**base, lsf=0.10)).uncertainty
    assert at_edge is not None and at_edge.activity_gbq is not None
    assert at_edge.activity_gbq.sd_first_order is None
    assert at_edge.drivers_method["activity_gbq"] == "sampled"
    assert at_edge.drivers_by_output["activity_gbq"][0].input == "lsf"
    # the perfused dose of the planned activity has no step in LSF: first order exists
    assert at_edge.doses_gy["perfused"].sd_first_order is not None
    inside = plan_bsa(BsaPlanInput(**base, lsf=0.05)).uncertainty
    assert inside is not None and inside.activity_gbq is not None
    # away from the edges the band is flat: the activity's LSF coefficient is 0
    assert "lsf" not in {d.input for d in inside.drivers_by_output["activity_gbq"]}


def test_an_evaluation_that_is_not_the_model_is_refused() -> None:
    with pytest.raises(RuntimeError, match="would not be of this model"):
        propagate(
            [UncertainInput("m", 1.0, 0.1, "sd_m", True, "given")],
            lambda v: {"d": 51.0 / v["m"]},
            expected={"d": 50.0},
            draws=1000,
            seed=0,
            drivers_of="d",
            meaning="",
        )


def test_lsf_draws_stay_in_their_range() -> None:
    u = propagate(
        [UncertainInput("lsf", 0.01, 0.05, "sd_lsf", True, "given", Distribution.FRACTION)],
        lambda v: {"lsf_out": np.asarray(v["lsf"]) * 1.0},
        expected={"lsf_out": 0.01},
        draws=10_000,
        seed=0,
        drivers_of="lsf_out",
        meaning="",
    )
    assert u.doses_gy["lsf_out"].low >= 0.0
    # N(0.01, 0.05) kept on [0, 1): P(x < 0) = 42 % is drawn again, so the 2.5th
    # percentile lies in [0, 0.01)
    assert 0.0 <= u.doses_gy["lsf_out"].low < 0.01


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"sd_volume_percent": -1}, "sd_volume_percent"),
        ({"sd_lsf": 0.8}, "sd_lsf"),
        ({"uncertainty_draws": 10}, "uncertainty_draws"),
        ({"sd_tn_percent": 10}, "sd_tn_percent"),  # MIRD has no TN ratio
        ({"uncertainty": False, "sd_lsf": 0.01}, "input"),
    ],
)
def test_bad_uncertainty_inputs_are_refused(data: dict[str, object], field: str) -> None:
    with pytest.raises(InputError) as caught:
        parse(
            MirdPlanInput,
            {"target_dose_gy": 120, "perfused_volume_ml": 1165, "lsf": 0.08, **data},
        )
    assert caught.value.field == field


def test_written_inputs_with_an_sd_validate_again() -> None:
    """An SD asks for the uncertainty; the written input says so (``uncertainty`` true),
    so a stored plan's inputs sent back (a revision) are not refused as "uncertainty
    false with an SD"."""
    given = {"target_dose_gy": 120, "perfused_volume_ml": 1165, "lsf": 0.08, "sd_lsf": 0.03}
    written = MirdPlanInput.model_validate(given).model_dump(mode="json")
    assert written["uncertainty"] is True
    again = MirdPlanInput.model_validate(written)
    assert again.uncertainty_requested() and again.sd_lsf == 0.03
    plain = {"target_dose_gy": 120, "perfused_volume_ml": 1165, "lsf": 0.08}
    assert MirdPlanInput.model_validate(plain).model_dump()["uncertainty"] is False


def test_cli_json_and_text(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "plan",
        "mird",
        "--target-dose-gy",
        "120",
        "--perfused-volume-ml",
        "1165",
        "--lsf",
        "0.08",
    ]
    assert main([*argv, "--sd-volume-percent", "10", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["uncertainty"]["level"] == 0.95
    assert "sd_volume_percent" not in data["uncertainty"]["defaults_used"]
    assert data["uncertainty"]["drivers"][0]["input"] == "perfused_volume_ml"
    assert main([*argv, "--uncertainty"]) == 0
    text = capsys.readouterr().out
    assert "uncertainty (95 % interval of 10000 draws" in text
    assert "drivers of perfused: perfused_volume_ml" in text
    assert main([*argv]) == 0
    assert "uncertainty" not in capsys.readouterr().out


def test_cumulative_lung_dose_is_the_lung_interval_plus_the_prior() -> None:
    inputs = MirdDoseInput(
        activity_gbq=3, perfused_volume_ml=1165, lsf=0.08, prior_lung_dose_gy=10, uncertainty=True
    )
    u = dose_mird(inputs).uncertainty
    assert u is not None
    lung, cumulative = u.doses_gy["lung"], u.doses_gy["lung_cumulative"]
    assert cumulative.nominal == pytest.approx(lung.nominal + 10)  # 12 + 10 Gy
    assert (cumulative.low, cumulative.high) == pytest.approx((lung.low + 10, lung.high + 10))
    assert cumulative.sd == lung.sd
    assert u.drivers_by_output["lung_cumulative"] == u.drivers_by_output["lung"]


def test_a_plan_without_uncertainty_loads_no_numpy() -> None:
    """The propagation (numpy) is imported only when asked for: plans start as fast as
    before (benchmarks/bench_startup.py)."""
    import subprocess
    import sys

    probe = (
        "import sys, io, contextlib\n"
        "from y90dose.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['plan', 'partition', '--tumor-dose-gy', '200', '--tumor-volume-ml', '200',\n"
        "          '--tn-ratio', '3', '--normal-volume-ml', '1200', '--lsf', '0.08'])\n"
        "print('numpy' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
