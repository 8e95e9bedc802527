"""The command line imports only what the command it runs needs (issue 9, defect 9).

Not timed (``benchmarks/bench_startup.py`` measures the CPU time against its baseline):
these tests guard the property behind the time, in a fresh interpreter each.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = (
    "matplotlib",
    "SimpleITK",
    "scipy",
    "pydicom",
    "y90dose.pipeline",
    "y90dose.imaging",
    "reportlab",
    "y90dose.reports",
)

_PROBE = """
import json, sys
from y90dose.cli.main import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


def _loaded_modules(*argv: str) -> tuple[int, set[str]]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, check=False
    )
    report = json.loads(done.stderr.strip().splitlines()[-1])
    return report["code"], set(report["modules"])


PLAN_MIRD = ("plan", "mird", "--target-dose-gy", "120", "--perfused-volume-ml", "1165")
DECAY = (
    "decay",
    "--activity-gbq",
    "5",
    "--from",
    "2026-03-01T12:00:00Z",
    "--to",
    "2026-03-03T12:00:00Z",
)
LSF = (
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


@pytest.mark.parametrize(
    "argv",
    [(*PLAN_MIRD, "--lsf", "0.08", "--json"), (*DECAY, "--json"), (*LSF, "--json"), ("--help",)],
    ids=lambda argv: argv[0],
)
def test_planning_commands_import_no_imaging_stack(argv: tuple[str, ...]) -> None:
    code, modules = _loaded_modules(*argv)
    assert code == 0
    assert [name for name in HEAVY if name in modules] == []


def test_help_imports_no_command_module() -> None:
    code, modules = _loaded_modules("--help")
    assert code == 0
    assert not [
        m
        for m in modules
        if m.startswith("y90dose.cli.") and m not in {"y90dose.cli.main", "y90dose.cli.output"}
    ]
    assert "y90dose.models.mird" not in modules


def test_plan_mird_builds_only_its_command() -> None:
    code, modules = _loaded_modules(*PLAN_MIRD, "--lsf", "0.08")
    assert code == 0
    assert "y90dose.cli.plan" in modules
    assert not {"y90dose.cli.voxel", "y90dose.cli.vial", "y90dose.cli.serve"} & modules


def test_every_command_is_listed_with_its_summary(capsys: pytest.CaptureFixture[str]) -> None:
    """The summary ``y90dose --help`` lists is the one the command's own parser has."""
    from y90dose.cli.main import COMMANDS, build_parser, main

    with pytest.raises(SystemExit):
        main(["--help"])
    lazy_help = capsys.readouterr().out
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    full_help = capsys.readouterr().out
    assert lazy_help == full_help
    for name in COMMANDS:
        assert f"    {name}" in lazy_help


def test_package_names_resolve_lazily() -> None:
    """``y90dose.<name>`` for every public name, and ``decay`` stays the function."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, y90dose.errors, y90dose.decay, y90dose\n"
            "assert 'y90dose.models.mird' not in sys.modules\n"
            "from y90dose import decay\n"
            "assert callable(decay) and not isinstance(decay, type(sys))\n"
            "assert y90dose.decay is decay\n"
            "for name in y90dose.__all__: getattr(y90dose, name)\n"
            "assert y90dose.plan_mird.__module__ == 'y90dose.models.mird'\n",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
