"""The generators are deterministic: regenerated known answers equal the committed ones.

``y90dose/phantoms/known_answers/<name>.json`` are written by ``python -m phantoms known-answers``
and committed; this check regenerates each phantom in memory and compares every number
(relative 1e-9: the same code and seed on another machine may differ in the last bits of
floating-point sums, not more).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from y90dose.validation_suite.result import CheckResult, boolean_check, skipped

COMMITTED = Path(__file__).resolve().parents[1] / "phantoms" / "known_answers"


def _diff(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                out.append(f"{path}/{key}: missing on one side")
            else:
                out += _diff(a[key], b[key], f"{path}/{key}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: lengths {len(a)} vs {len(b)}"]
        out = []
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            out += _diff(x, y, f"{path}[{i}]")
        return out
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        if not math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12):
            return [f"{path}: {a!r} vs {b!r}"]
        return []
    return [] if a == b else [f"{path}: {a!r} vs {b!r}"]


def reproducibility_checks() -> list[CheckResult]:
    """One row per phantom."""
    from y90dose.phantoms.base import document
    from y90dose.phantoms.generators import GENERATORS, generate

    rows: list[CheckResult] = []
    for name in GENERATORS:
        path = COMMITTED / f"{name}.json"
        case = "reproducibility/generators"
        if not path.is_file():
            rows.append(skipped(case, f"{name} known answers", f"{path} not found"))
            continue
        fresh = json.loads(json.dumps(document(generate(name))))
        problems = _diff(json.loads(path.read_text()), fresh)
        rows.append(
            boolean_check(
                case,
                f"{name}: regenerated known answers equal the committed file",
                not problems,
                source=f"y90dose/phantoms/known_answers/{name}.json",
                note="; ".join(problems[:3]) if problems else "identical (rel 1e-9)",
            )
        )
    return rows
