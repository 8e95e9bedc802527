"""Entry point of the ``y90dose`` command.

Each subcommand lives in its own module of this package and exposes
``register(subparsers) -> None``; the parser it adds (help: ``COMMANDS[name]``) sets
``handler`` to a function ``(args) -> CommandOutput``. This module owns the only
translation of domain errors into exit codes: a bad input prints one line naming the
option and exits 2; nothing prints a traceback unless ``Y90DOSE_DEBUG=1``.

Start-up: only the module of the command being run is imported (``y90dose plan mird``
never imports the imaging pipeline, SimpleITK, scipy or matplotlib); the other commands
are listed by name and summary. ``benchmarks/bench_startup.py`` measures it.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from collections.abc import Sequence
from typing import Any

from y90dose.cli.output import CommandOutput, emit
from y90dose.errors import ImageError, InputError, Y90DoseError

COMMANDS: dict[str, str] = {
    "plan": "activity for a prescription (mird, partition, bsa; treatment: several "
    "territories together; from-images: partition from MAA SPECT/CT VOIs)",
    "dose": "doses from an activity (mird, partition)",
    "lsf": "lung shunt fraction from planar MAA counts (geometric means)",
    "decay": "decay an activity between two time-zone-aware instants (ISO 8601)",
    "vial": "choose the vial that gives an activity at a treatment instant",
    "serve": "run the planning service (HTTP API)",
    "keys": "manage the planning service's API keys",
    "kernel": "Y-90 voxel S values (mGy per MBq s) for a voxel size",
    "voxel": "voxel dosimetry: absorbed dose to complete decay (Gy) from a Y-90 SPECT/PET or "
    "a Tc-99m MAA SPECT (--predictive), per-VOI metrics, DVHs, RT Dose and NIfTI maps",
    "compare": "planned (MAA) vs delivered (post-treatment) dose: per-VOI mean dose and D70 "
    "of two `y90dose voxel` output folders of the same patient",
    "register": "register two images (CT to CT, rigid by mutual information; --deformable "
    "adds a B-spline stage): an ITK transform file and a quality figure",
    "batch": "voxel dosimetry of every study of a CSV manifest on Dask (a local cluster or "
    "a scheduler's address), resumable: per-study outputs, summary.csv, failures.csv",
    "send": "send DICOM files (RT Dose, structure set...) to a PACS by C-STORE or to a "
    "DICOMweb server by STOW-RS",
    "validate": "run the validation suite (phantoms, kernels, Monte Carlo, planning cases)",
    "lung-mass": "lung volume and mass from a CT (thresholds, airways removed, vessels "
    "filled; mass from the HU-to-density curve), left and right when they separate",
}
"""Subcommand -> its one-line help, in help order; the module is ``y90dose/cli/<name>.py``
with ``-`` written ``_`` (``lung-mass`` is ``lung_mass.py``)."""


def command_module(name: str) -> str:
    """The module of command ``name``: ``lung-mass`` -> ``y90dose.cli.lung_mass``."""
    return f"y90dose.cli.{name.replace('-', '_')}"


EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 70


class _StoreOnce(argparse.Action):
    """argparse's ``store``, refusing an option given twice (argparse keeps the last value).

    ``--target-dose-gy 120 --target-dose-gy 130`` is ambiguous: the user meant one of the
    two. Options that take several values say so with ``action="append"``.
    """

    _GIVEN = "_y90dose_given_options"

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        given: dict[str, Any] = namespace.__dict__.setdefault(self._GIVEN, {})
        if self.dest in given and option_string is not None:
            raise argparse.ArgumentError(
                self,
                f"{values!r} is not allowed; expected the option once "
                f"(already given as {given[self.dest]!r})",
            )
        given[self.dest] = values
        setattr(namespace, self.dest, values)


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line in one line, without the usage block.

    Single-valued options (argparse's default ``store`` action) may be given only once.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.register("action", None, _StoreOnce)
        self.register("action", "store", _StoreOnce)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser: every command's options, or, given ``argv``, only its command's.

    With ``argv`` the command it names (its first word) is the only module imported; the
    others are listed by name and summary, so that ``y90dose --help`` and ``y90dose plan
    mird`` import nothing they do not use.
    """
    chosen = None if argv is None else next((a for a in argv if not a.startswith("-")), "")
    parser = _Parser(
        prog="y90dose",
        description="Y-90 radioembolization dosimetry. Every quantity carries its unit "
        "in the option name; --json prints one JSON object.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for name, summary in COMMANDS.items():
        if chosen is None or name == chosen:
            importlib.import_module(command_module(name)).register(subparsers)
        else:
            subparsers.add_parser(name, help=summary, add_help=False)
    return parser


def option_name(field: str) -> str:
    """``perfused_volume_ml`` -> ``--perfused-volume-ml`` (the CLI's name for a field)."""
    if field.startswith("--"):
        return field
    head = field.split(".")[0]
    return "--" + head.replace("_", "-")


def command_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> set[str]:
    """The option strings of the (sub)command ``args`` ran, e.g. ``{"--lsf", "--json"...}``."""
    options: set[str] = set()
    current: argparse.ArgumentParser | None = parser
    while current is not None:
        chosen = None
        for action in current._actions:
            options.update(action.option_strings)
            if isinstance(action, argparse._SubParsersAction):
                chosen = action.choices.get(str(getattr(args, action.dest, "")))
        current = chosen
    return options


def _shown_field(
    field: str | None, parser: argparse.ArgumentParser, args: argparse.Namespace
) -> str | None:
    """The option a library field is given as in this command, else the field itself.

    A command whose options differ from the library's names (``vois`` is ``--rois``)
    sets ``field_options`` (field -> option name without dashes) in its defaults.
    """
    if field is None:
        return None
    renames: dict[str, str] = getattr(args, "field_options", None) or {}
    head, dot, rest = field.partition(".")
    name = option_name(renames.get(head, head) + dot + rest)
    return name if name in command_options(parser, args) else field


def _mentioned_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, str]:
    """Field -> option for the fields a library message may name in its text: the command's
    ``field_options`` and its options whose name has an underscore (``lung_roi``: a field,
    never an English word, so that ``out`` or ``planned`` in a sentence stay words)."""
    renames: dict[str, str] = getattr(args, "field_options", None) or {}
    names: dict[str, str] = {}
    current: argparse.ArgumentParser | None = parser
    while current is not None:
        chosen = None
        for action in current._actions:
            long = [o for o in action.option_strings if o.startswith("--")]
            if long and "_" in action.dest:
                names[action.dest] = long[0]
            if isinstance(action, argparse._SubParsersAction):
                chosen = action.choices.get(str(getattr(args, action.dest, "")))
        current = chosen
    options = command_options(parser, args)
    for field, name in renames.items():
        if option_name(name) in options:
            names[field] = option_name(name)
    return names


def _with_options(text: str, names: dict[str, str]) -> str:
    """``text`` with each field of ``names`` written as its option; a name inside a path or
    a quoted value (a VOI called ``lung_roi``) is left as it is."""
    for field in sorted(names, key=len, reverse=True):
        pattern = rf"(?<![-\w/\\.'\"]){re.escape(field)}(?![\w/'\"-])"
        text = re.sub(pattern, names[field], text)
    return text


def error_message(
    exc: InputError | ImageError, parser: argparse.ArgumentParser, args: argparse.Namespace
) -> str:
    """A library error as the command shows it: its field, and the fields its text names,
    written as this command's options (``lsf: ... or lung_roi`` -> ``--lsf: ... or
    --lung-roi``); a computed quantity (``dose_gy``) keeps its name."""
    shown = _shown_field(exc.field, parser, args)
    names = _mentioned_options(parser, args)
    if isinstance(exc, InputError):
        return InputError(exc.field, exc.value, _with_options(exc.allowed, names)).describe(shown)
    return ImageError(_with_options(exc.detail, names), field=exc.field).describe(shown)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    debug = os.environ.get("Y90DOSE_DEBUG") == "1"
    try:
        output: CommandOutput = args.handler(args)
    except (InputError, ImageError) as exc:
        print(f"y90dose {args.command}: error: {error_message(exc, parser, args)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Y90DoseError as exc:
        print(f"y90dose {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"y90dose {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the last line of defence: no tracebacks for users
        if debug:
            raise
        print(
            f"y90dose {args.command}: internal error: {type(exc).__name__}: {exc} "
            "(set Y90DOSE_DEBUG=1 for details)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    try:
        emit(output, as_json=getattr(args, "json", False))
        sys.stdout.flush()
    except BrokenPipeError:  # the reader stopped early (``| head``): nothing left to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no flush error at exit
    return output.exit_code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
