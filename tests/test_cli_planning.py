"""The planning CLI through its real entry point (the installed ``y90dose`` script)."""

import json
import math
import shutil
import subprocess
import sys

import pytest

from y90dose.cli.main import main
from y90dose.decay import hours_until_activity

ENTRY = shutil.which("y90dose") or str(
    __import__("pathlib").Path(sys.executable).with_name("y90dose")
)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ENTRY, *args], capture_output=True, text=True, timeout=60, check=False)


def test_plan_mird_json_through_the_script() -> None:
    done = run(
        "plan",
        "mird",
        "--target-dose-gy",
        "120",
        "--perfused-volume-ml",
        "1165",
        "--lsf",
        "0.08",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["model"] == "mird"
    assert data["activity_gbq"] == pytest.approx(3.130304, abs=1e-6)  # see test_mird
    assert set(data["doses_gy"]) >= {"perfused", "lung"}
    assert data["constants"]["energy_j_per_gbq"] == 50.0
    assert data["constants"]["half_life_h"] == 64.1
    assert data["constants"]["density_g_ml"] == 1.03
    assert all(set(f) == {"severity", "code", "message"} for f in data["findings"])


def test_bad_volume_is_one_line_without_traceback() -> None:
    done = run(
        "plan", "mird", "--target-dose-gy", "120", "--perfused-volume-ml", "-5", "--lsf", "0.08"
    )
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "--perfused-volume-ml" in lines[0] and ">= 0.1" in lines[0]
    assert "Traceback" not in done.stderr


def json_of(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    assert main([*args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_plan_partition_pairs_volumes_and_ratios(capsys: pytest.CaptureFixture[str]) -> None:
    data = json_of(
        capsys,
        "plan",
        "partition",
        "--tumor-dose-gy",
        "205",
        "--tumor-volume-ml",
        "200",
        "--tumor-volume-ml",
        "50",
        "--tn-ratio",
        "3",
        "--tn-ratio",
        "5",
        "--normal-volume-ml",
        "1200",
        "--lsf",
        "0.06",
    )
    assert data["activity_gbq"] == pytest.approx(3.069911, abs=1e-6)  # see test_partition
    assert data["doses_gy"]["tumors"] == pytest.approx([205.0, 341.6667], abs=1e-4)


def test_plan_bsa(capsys: pytest.CaptureFixture[str]) -> None:
    data = json_of(
        capsys,
        "plan",
        "bsa",
        "--height-cm",
        "175",
        "--weight-kg",
        "75",
        "--tumor-volume-ml",
        "450",
        "--liver-volume-ml",
        "1500",
        "--lsf",
        "0.12",
        "--treated-volume-ml",
        "900",
    )
    # 2.003112 x 0.6 (900/1500) x 0.8 (LSF 12 %) = 0.961494 GBq
    assert data["activity_gbq"] == pytest.approx(0.961494, abs=1e-6)


def test_dose_commands(capsys: pytest.CaptureFixture[str]) -> None:
    mird = json_of(
        capsys,
        "dose",
        "mird",
        "--activity-gbq",
        "3.0",
        "--perfused-volume-ml",
        "1165",
        "--lsf",
        "0.08",
    )
    # 50 x 3 x 0.92 / 1.19995 = 115.0048 Gy
    assert mird["doses_gy"]["perfused"] == pytest.approx(115.0048, abs=1e-4)
    partition = json_of(
        capsys,
        "dose",
        "partition",
        "--activity-gbq",
        "1.577872",
        "--tumor-volume-ml",
        "200",
        "--tn-ratio",
        "3",
        "--normal-volume-ml",
        "1200",
        "--lsf",
        "0.06",
    )
    assert partition["doses_gy"]["normal"] == pytest.approx(40.0, abs=1e-4)


def test_lsf_decay_vial(capsys: pytest.CaptureFixture[str]) -> None:
    lsf = json_of(
        capsys,
        "lsf",
        "--lung-ant",
        "12000",
        "--lung-post",
        "10000",
        "--liver-ant",
        "150000",
        "--liver-post",
        "180000",
    )
    assert lsf["lsf"] == pytest.approx(0.0625, abs=1e-5)
    decayed = json_of(
        capsys,
        "decay",
        "--activity-gbq",
        "5",
        "--from",
        "2026-03-01T12:00:00-05:00",
        "--to",
        "2026-03-03T12:00:00-05:00",
    )
    assert decayed["activity_gbq"] == pytest.approx(5 * 2 ** (-48 / 64.1))
    vial = json_of(
        capsys, "vial", "--activity-gbq", "3.1", "--treatment-time", "2026-03-04T10:00:00-05:00"
    )
    assert vial["vial_gbq"] == 7.0
    assert vial["activity_at_treatment_gbq"] == pytest.approx(7 * 2 ** (-70 / 64.1))


def test_human_output_names_units(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "plan",
                "mird",
                "--target-dose-gy",
                "120",
                "--perfused-volume-ml",
                "1165",
                "--lsf",
                "0.08",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "3.130 GBq" in out and "mCi" in out and "J/GBq" in out


def test_blocking_plan_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            ["dose", "mird", "--activity-gbq", "4", "--perfused-volume-ml", "1500", "--lsf", "0.16"]
        )
        == 0
    )
    assert "BLOCK" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (
            [
                "plan",
                "mird",
                "--target-dose-gy",
                "120",
                "--perfused-volume-ml",
                "0",
                "--lsf",
                "0.1",
            ],
            "--perfused-volume-ml",
        ),
        (
            [
                "plan",
                "mird",
                "--target-dose-gy",
                "120",
                "--perfused-volume-ml",
                "100",
                "--lsf",
                "1",
            ],
            "--lsf",
        ),
        (
            [
                "plan",
                "mird",
                "--target-dose-gy",
                "120",
                "--perfused-volume-ml",
                "100",
                "--lsf",
                "-0.1",
            ],
            "--lsf",
        ),
        (["plan", "mird", "--target-dose-gy", "120", "--lsf", "0.1"], "--perfused-volume-ml"),
        (
            [
                "plan",
                "partition",
                "--normal-dose-gy",
                "40",
                "--tumor-volume-ml",
                "200",
                "--tumor-volume-ml",
                "50",
                "--tn-ratio",
                "3",
                "--normal-volume-ml",
                "1200",
                "--lsf",
                "0.06",
            ],
            "--tn-ratio",
        ),
        (
            [
                "plan",
                "partition",
                "--tumor-volume-ml",
                "200",
                "--tn-ratio",
                "3",
                "--normal-volume-ml",
                "1200",
                "--lsf",
                "0.06",
            ],
            "--normal-dose-gy",
        ),
        (
            [
                "decay",
                "--activity-gbq",
                "5",
                "--from",
                "yesterday",
                "--to",
                "2026-03-03T12:00:00-05:00",
            ],
            "--from",
        ),
        (
            [
                "decay",
                "--activity-gbq",
                "5",
                "--from",
                "2026-03-01T12:00:00",
                "--to",
                "2026-03-03T12:00:00-05:00",
            ],
            "--from",
        ),
        (
            ["lsf", "--lung-ant", "1", "--lung-post", "1", "--liver-ant", "0", "--liver-post", "1"],
            "--liver-ant",
        ),
        (
            [
                "plan",
                "mird",
                "--target-dose-gy",
                "nan",
                "--perfused-volume-ml",
                "1",
                "--lsf",
                "0.1",
            ],
            "--target-dose-gy",
        ),
        (
            [
                "plan",
                "mird",
                "--product",
                "silver",
                "--target-dose-gy",
                "100",
                "--perfused-volume-ml",
                "100",
                "--lsf",
                "0.1",
            ],
            "--product",
        ),
        (["plan", "nonsense"], "MODEL"),
        (["plan", "mird", "--no-such-option", "1"], "--no-such-option"),
        # a single-valued option given twice: which one was meant?
        (
            ["plan", "mird", "--target-dose-gy", "120", "--target-dose-gy", "130"],
            "argument --target-dose-gy: '130' is not allowed; expected the option once "
            "(already given as '120')",
        ),
        (["plan", "partition", "--lsf", "0.1", "--lsf", "0.1"], "argument --lsf"),
        (["voxel", "--spect", "a", "--spect", "b", "--rois", "r"], "argument --spect: 'b'"),
        (["compare", "--planned", "a", "--planned", "b"], "argument --planned: 'b'"),
        # refused by plan_bsa after the schema accepted it: still named by option
        (
            [
                "plan",
                "bsa",
                "--height-cm",
                "175",
                "--weight-kg",
                "75",
                "--lsf",
                "0.05",
                "--tumor-volume-ml",
                "100",
                "--liver-volume-ml",
                "1500",
                "--treated-volume-ml",
                "800",
                "--delivery",
                "whole",
            ],
            "--delivery: 'whole' is not allowed; expected lobar, segmental or segmentectomy "
            "when --treated-volume-ml is below --liver-volume-ml",
        ),
    ],
)
def test_bad_input_names_the_option(
    capsys: pytest.CaptureFixture[str], args: list[str], names: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        code = main(args)
        raise SystemExit(code)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert names in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def _all_command_paths() -> list[list[str]]:
    from y90dose.cli.main import COMMANDS, build_parser, command_module

    build_parser()  # imports every command module
    paths: list[list[str]] = []
    for name in COMMANDS:
        module = __import__(command_module(name), fromlist=["MODELS"])
        models = getattr(module, "MODELS", None)
        paths += [[name, model] for model in models] if models else [[name]]
    return paths


@pytest.mark.parametrize("path", _all_command_paths(), ids=" ".join)
def test_every_command_has_help(capsys: pytest.CaptureFixture[str], path: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*path, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: y90dose")
    if path[0] in {"plan", "dose", "lsf", "decay", "vial"}:
        assert "--json" in out


def test_vial_for_a_tiny_activity_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """1e-308 GBq once overflowed to an internal error, then was accepted; issue 9 (defect
    6) asks for a plausible lower limit: activities below 0.001 GBq are refused (exit 2)."""
    code = main(
        [
            "vial",
            "--activity-gbq", "1e-308",
            "--treatment-time", "2026-03-04T10:00:00-05:00",
            "--calibration-time", "2026-03-01T17:00:00+00:00",
        ]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 2
    assert "--activity-gbq: '1e-308' is not allowed; expected a number >= 0.001" in captured.err
    # the library's log-difference stays finite for any positive target (~7.5 years)
    expected_h = 64.1 * (math.log2(3.0) + 308 * math.log2(10.0))
    assert hours_until_activity(3.0, 1e-308) == pytest.approx(expected_h, rel=1e-9)


@pytest.mark.parametrize(
    ("option", "instant"),
    [
        ("--treatment-time", "0001-01-01T00:00:00-12:00"),  # was OverflowError, exit 70
        ("--treatment-time", "9999-12-31T23:59:59+14:00"),
        ("--calibration-time", "1026-03-01T12:00:00-05:00"),
    ],
)
def test_vial_instant_at_the_calendar_ends_names_the_option(
    option: str, instant: str, capsys: pytest.CaptureFixture[str]
) -> None:
    times = {"--treatment-time": "2026-03-04T10:00:00-05:00", option: instant}
    argv = ["vial", "--activity-gbq", "3", *(x for kv in times.items() for x in kv)]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"y90dose vial: error: {option}: ")
    assert "1900-2999" in captured.err


MIRD = ["plan", "mird", "--target-dose-gy", "120", "--lsf", "0.05"]
PARTITION = ["plan", "partition", "--tumor-dose-gy", "5000", "--lsf", "0.05"]


@pytest.mark.parametrize(
    ("args", "option", "allowed"),
    [
        # each of these once ended in ZeroDivisionError (exit 70) or printed 'inf GBq'
        ([*MIRD, "--perfused-volume-ml", "5e-324"], "--perfused-volume-ml", ">= 0.1"),
        (
            ["dose", "mird", "--activity-gbq", "3", "--lsf", "0", "--perfused-volume-ml", "1e-300"],
            "--perfused-volume-ml",
            ">= 0.1",
        ),
        (
            [*MIRD, "--perfused-volume-ml", "1000", "--lung-mass-kg", "1e-308"],
            "--lung-mass-kg",
            ">= 0.1",
        ),
        (
            [*MIRD, "--perfused-volume-ml", "1000", "--density-g-ml", "1e-308"],
            "--density-g-ml",
            ">= 0.5",
        ),
        (
            [
                *PARTITION,
                "--tumor-volume-ml",
                "50",
                "--tn-ratio",
                "5e-324",
                "--normal-volume-ml",
                "1000",
            ],
            "--tn-ratio",
            ">= 0.01",
        ),
        (
            [
                *PARTITION,
                "--tumor-volume-ml",
                "5e-324",
                "--tn-ratio",
                "3",
                "--normal-volume-ml",
                "5e-324",
            ],
            "--tumor-volume-ml",
            ">= 0.1",
        ),
        (
            [
                "vial",
                "--activity-gbq",
                "3",
                "--treatment-time",
                "2026-03-04T10:00:00-05:00",
                "--prescribed-dose-gy",
                "1e308",
            ],
            "--prescribed-dose-gy",
            "<= 5000",
        ),
    ],
)
def test_values_that_would_underflow_or_overflow_are_refused(
    capsys: pytest.CaptureFixture[str], args: list[str], option: str, allowed: str
) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert option in err and allowed in err, err
    assert len(err.strip().splitlines()) == 1


def test_smallest_accepted_inputs_give_finite_plans(capsys: pytest.CaptureFixture[str]) -> None:
    # at every lower bound at once the arithmetic stays finite: 0.1 mL at 0.5 g/mL, 120 Gy
    # A = D M / (C (1 - LSF)) = 120 x 5e-5 kg / (50 x 0.95) = 1.2632e-4 GBq
    data = json_of(
        capsys,
        *MIRD,
        "--perfused-volume-ml",
        "0.1",
        "--density-g-ml",
        "0.5",
        "--lung-mass-kg",
        "0.1",
    )
    assert data["activity_gbq"] == pytest.approx(120 * 5e-5 / (50 * 0.95), rel=1e-9)
    assert math.isfinite(data["doses_gy"]["lung"])


def test_help_shows_each_options_limits(capsys: pytest.CaptureFixture[str]) -> None:
    # the limits shown are the schema's own, list items (one per tumour) included
    with pytest.raises(SystemExit):
        main(["plan", "partition", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "perfused non-tumoral liver volume (mL); >= 0.1, <= 10000" in out
    assert "ratio of each tumour; >= 0.01, <= 1000" in out
    assert "lung shunt fraction (a fraction, not %); >= 0, < 1" in out


def test_human_report_names_the_target_tumour_from_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # TN 4 and 2: the tumour target applies to the second (lowest TN), index 1 in the JSON
    args = [*PARTITION[:3], "200", "--lsf", "0.05", "--normal-volume-ml", "1200"]
    args += ["--tumor-volume-ml", "50", "--tn-ratio", "4", "--tumor-volume-ml", "30"]
    args += ["--tn-ratio", "2"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "target_tumor_index: 1 (tumour 2:" in out
    assert json_of(capsys, *args)["details"]["target_tumor_index"] == 1


def test_human_report_says_yes_not_true(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["plan", "bsa", "--height-cm", "170", "--weight-kg", "70", "--tumor-volume-ml"]
    args += ["100", "--liver-volume-ml", "1500", "--treated-volume-ml", "900", "--lsf", "0.05"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "delivery_inferred_from_treated_volume: yes" in out and "True" not in out


def test_option_error_names_each_option_of_a_combined_field() -> None:
    from y90dose.cli.model_options import option_error
    from y90dose.errors import InputError
    from y90dose.models.bsa import BsaPlanInput

    exc = InputError("height_cm/weight_kg", "51 cm, 21 kg", "a size whose liver_volume_ml is")
    worded = option_error(exc, BsaPlanInput)
    assert worded.field == "--height-cm/--weight-kg"
    assert worded.allowed == "a size whose --liver-volume-ml is"


@pytest.mark.parametrize("given", ["2026-03-04T10:00:00", "yesterday"])
def test_decay_time_without_zone_says_what_is_allowed(
    capsys: pytest.CaptureFixture[str], given: str
) -> None:
    """The review found pydantic's own words ("Input should have timezone info") in the
    message; it now names the form allowed, with an example."""
    from y90dose.cli.main import main

    code = main(
        ["decay", "--activity-gbq", "3", "--from", given, "--to", "2026-03-05T10:00:00-05:00"]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "ISO 8601 date and time with its UTC offset" in err and "Input should" not in err
