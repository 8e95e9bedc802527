"""Entry point of the ``y90dose`` command.

Each subcommand lives in its own module of this package and exposes
``register(subparsers) -> None``; the parser it adds sets ``handler`` to a function
``(args) -> CommandOutput``. This module owns the only translation of domain errors
into exit codes: a bad input prints one line naming the option and exits 2; nothing
prints a traceback unless ``Y90DOSE_DEBUG=1``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

from y90dose.cli.output import CommandOutput, emit
from y90dose.errors import InputError, Y90DoseError

# One line per subcommand module (``y90dose/cli/<name>.py``), in help order.
COMMANDS: tuple[str, ...] = (
    "plan",
    "dose",
    "lsf",
    "decay",
    "vial",
    "serve",
    "keys",
    "kernel",
    "voxel",
    "compare",
    "validate",
)

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


def build_parser() -> argparse.ArgumentParser:
    """The full parser with every registered subcommand."""
    parser = _Parser(
        prog="y90dose",
        description="Y-90 radioembolization dosimetry. Every quantity carries its unit "
        "in the option name; --json prints one JSON object.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for name in COMMANDS:
        module = importlib.import_module(f"y90dose.cli.{name}")
        module.register(subparsers)
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = os.environ.get("Y90DOSE_DEBUG") == "1"
    try:
        output: CommandOutput = args.handler(args)
    except InputError as exc:
        # name the option when there is one; a computed quantity (dose_gy) keeps its name
        name = option_name(exc.field)
        shown = name if name in command_options(parser, args) else exc.field
        print(f"y90dose {args.command}: error: {exc.describe(shown)}", file=sys.stderr)
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
