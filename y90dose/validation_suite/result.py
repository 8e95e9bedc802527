"""One validation check's outcome, the suite's outcome, and their renderings."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    """Outcome of a check. Only ``fail`` and ``error`` make the suite fail.

    ``info`` is a comparison that is shown on purpose but has no pass criterion (a known
    limitation, e.g. a soft-tissue kernel in lung); ``skip`` a check that could not run
    here (missing optional tool), with the reason in the note.
    """

    PASS = "pass"
    FAIL = "fail"
    INFO = "info"
    SKIP = "skip"
    ERROR = "error"


@dataclass(frozen=True)
class CheckResult:
    """One row of the validation table.

    Attributes
    ----------
    case
        Group and case (``"planning/decay"``, ``"phantom/liver"``).
    quantity
        What is compared, with its unit.
    expected, computed
        The reference value and y90dose's value (None when not applicable).
    difference
        ``computed - expected`` relative to ``expected`` (``mode="relative"``) or absolute.
    tolerance
        Largest accepted ``|difference|`` in the same mode (None: no criterion).
    mode
        ``"relative"`` or ``"absolute"``.
    status
        See :class:`Status`.
    source
        Where the expected value comes from (publication, formula, Monte Carlo).
    note
        Why this tolerance, or what went wrong.
    """

    case: str
    quantity: str
    expected: float | None
    computed: float | None
    difference: float | None
    tolerance: float | None
    mode: str
    status: Status
    source: str
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able row."""
        data = asdict(self)
        data["status"] = self.status.value
        return data


def compare(
    case: str,
    quantity: str,
    expected: float,
    computed: float,
    *,
    source: str,
    rel_tol: float | None = None,
    abs_tol: float | None = None,
    note: str = "",
    info_only: bool = False,
) -> CheckResult:
    """Compare ``computed`` with ``expected`` within a relative or an absolute tolerance.

    Exactly one of ``rel_tol`` / ``abs_tol`` is given unless ``info_only`` (then the
    difference is reported relative, or absolute when ``abs_tol`` is given).
    """
    expected_f = float(expected)
    computed_f = float(computed)
    absolute = abs_tol is not None or (rel_tol is None and expected_f == 0.0)
    if absolute:
        difference = computed_f - expected_f
        tolerance = abs_tol
    else:
        difference = (computed_f - expected_f) / expected_f if expected_f != 0 else math.inf
        tolerance = rel_tol
    if not math.isfinite(computed_f):
        status = Status.FAIL
    elif info_only or tolerance is None:
        status = Status.INFO
    else:
        status = Status.PASS if abs(difference) <= tolerance else Status.FAIL
    return CheckResult(
        case=case,
        quantity=quantity,
        expected=expected_f,
        computed=computed_f,
        difference=difference,
        tolerance=None if info_only else tolerance,
        mode="absolute" if absolute else "relative",
        status=status,
        source=source,
        note=note,
    )


def boolean_check(
    case: str, quantity: str, ok: bool, *, source: str, note: str = ""
) -> CheckResult:
    """A yes/no check (e.g. "dciodvfy reports no error")."""
    return CheckResult(
        case=case,
        quantity=quantity,
        expected=1.0,
        computed=1.0 if ok else 0.0,
        difference=None,
        tolerance=None,
        mode="boolean",
        status=Status.PASS if ok else Status.FAIL,
        source=source,
        note=note,
    )


def skipped(case: str, quantity: str, reason: str, *, source: str = "") -> CheckResult:
    """A check that could not run here."""
    return CheckResult(case, quantity, None, None, None, None, "none", Status.SKIP, source, reason)


def errored(case: str, quantity: str, error: BaseException) -> CheckResult:
    """A check that raised: reported as an error (fails the suite), never hidden."""
    return CheckResult(
        case,
        quantity,
        None,
        None,
        None,
        None,
        "none",
        Status.ERROR,
        "",
        f"{type(error).__name__}: {error}",
    )


@dataclass(frozen=True)
class SuiteResult:
    """All rows plus timing and environment."""

    results: tuple[CheckResult, ...]
    seconds: float
    environment: dict[str, Any] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True when no row failed or errored."""
        return not any(r.status in (Status.FAIL, Status.ERROR) for r in self.results)

    def counts(self) -> dict[str, int]:
        """Rows per status."""
        out = {s.value: 0 for s in Status}
        for r in self.results:
            out[r.status.value] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-able suite result."""
        return {
            "passed": self.passed,
            "counts": self.counts(),
            "seconds": round(self.seconds, 1),
            "timings_s": {k: round(v, 2) for k, v in self.timings_s.items()},
            "environment": self.environment,
            "results": [r.to_dict() for r in self.results],
        }


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if 1e-3 <= magnitude < 1e5:
        return f"{value:.5g}"
    return f"{value:.4e}"


def _fmt_diff(row: CheckResult) -> tuple[str, str]:
    if row.difference is None:
        return "-", "-"
    if row.mode == "relative":
        tol = "-" if row.tolerance is None else f"{row.tolerance * 100:.3g} %"
        return f"{row.difference * 100:+.3g} %", tol
    return _fmt(row.difference), "-" if row.tolerance is None else _fmt(row.tolerance)


def render_text(suite: SuiteResult) -> str:
    """A plain-text table, one row per check, and a summary line."""
    header = (
        "case",
        "quantity",
        "expected",
        "computed",
        "difference",
        "tolerance",
        "result",
        "source",
    )
    rows = []
    for r in suite.results:
        diff, tol = _fmt_diff(r)
        rows.append(
            (
                r.case,
                r.quantity,
                _fmt(r.expected),
                _fmt(r.computed),
                diff,
                tol,
                r.status.value.upper(),
                r.source,
            )
        )
    widths = [min(max(len(str(x)) for x in col), 60) for col in zip(header, *rows, strict=False)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(str(c)[:60].ljust(w) for c, w in zip(row, widths, strict=True)))
    notes = [
        f"  [{r.status.value}] {r.case} / {r.quantity}: {r.note}"
        for r in suite.results
        if r.status in (Status.FAIL, Status.ERROR, Status.SKIP) and r.note
    ]
    if notes:
        lines.append("")
        lines.append("notes:")
        lines.extend(notes)
    counts = suite.counts()
    lines.append("")
    lines.append(
        f"{'PASSED' if suite.passed else 'FAILED'}: {counts['pass']} pass, {counts['fail']} fail, "
        f"{counts['error']} error, {counts['info']} info, {counts['skip']} skipped "
        f"in {suite.seconds:.0f} s"
    )
    return "\n".join(lines)


def render_markdown(
    suite: SuiteResult,
    *,
    title: str = "y90dose validation report",
    preamble: str = "",
    appendix: str = "",
) -> str:
    """The validation report as Markdown (``docs/validation.md``)."""
    counts = suite.counts()
    out = [f"# {title}", ""]
    if preamble:
        out += [preamble.strip(), ""]
    out += [
        f"**Result: {'PASSED' if suite.passed else 'FAILED'}** - {counts['pass']} pass, "
        f"{counts['fail']} fail, {counts['error']} error, {counts['info']} info, "
        f"{counts['skip']} skipped; {suite.seconds:.0f} s.",
        "",
        "Environment: " + ", ".join(f"{k} {v}" for k, v in suite.environment.items()),
        "",
    ]
    groups: dict[str, list[CheckResult]] = {}
    for r in suite.results:
        groups.setdefault(r.case.split("/")[0], []).append(r)
    for group, rows in groups.items():
        out += [
            f"## {group}",
            "",
            "| case | quantity | expected | computed | difference | tolerance | result | source |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            diff, tol = _fmt_diff(r)
            cells = [
                r.case,
                r.quantity,
                _fmt(r.expected),
                _fmt(r.computed),
                diff,
                tol,
                f"**{r.status.value}**" if r.status is not Status.PASS else "pass",
                r.source,
            ]
            out.append("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |")
        noted = [r for r in rows if r.note]
        if noted:
            out += ["", "Notes:", ""]
            out += [f"- *{r.case} / {r.quantity}*: {r.note}" for r in noted]
        out.append("")
    if appendix:
        out += [appendix.strip(), ""]
    return "\n".join(out)


def as_float(value: object) -> float:
    """A scalar from a result mapping (``doses_gy`` values are float or list)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {type(value).__name__}: {value!r}")
    return float(value)
