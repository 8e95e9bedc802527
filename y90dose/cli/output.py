"""What a subcommand returns and how it is printed (JSON or human)."""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CommandOutput:
    """A subcommand's result: one JSON-able object and its human rendering.

    ``exit_code`` lets a command that ran but found a problem (a failed validation
    case) say so without raising.
    """

    data: dict[str, Any]
    human: str
    exit_code: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def _clean(value: Any) -> Any:
    """JSON has no NaN or infinity: refuse to print them silently as invalid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def emit(output: CommandOutput, *, as_json: bool) -> None:
    """Print ``output`` on stdout: one JSON object, or the human text."""
    if as_json:
        json.dump(_clean(output.data), sys.stdout, indent=2, sort_keys=False, default=str)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(output.human.rstrip("\n") + "\n")


def add_json_flag(parser: Any) -> None:
    """The ``--json`` flag every subcommand accepts."""
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
