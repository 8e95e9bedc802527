"""Propagation of input uncertainties through a model's own functions.

A model supplies its uncertain inputs (:class:`UncertainInput`) and a vectorised
``evaluate(values) -> outputs`` built from its own formula functions (``mird_dose_gy``,
``partition_doses``...), so that what is propagated is what the model computes, not a
copy of its formulas. Two propagations, both reported:

- **First order** (GUM, JCGM 100:2008 section 5): sensitivity coefficients c_i = df/dx_i
  by central differences with a step of 1e-4 SD (one-sided at the edge of an input's
  range), and u(f)^2 = sum_i (c_i u_i)^2 for independent inputs. Where the forward and
  backward differences disagree (a step in the model, such as the BSA method's lung-shunt
  bands), the model is not differentiable there and no first-order SD is given.
- **Sampling** (GUM Supplement 1, JCGM 101:2008): ``draws`` seeded draws of every input
  at once, evaluated as arrays; the interval is the 2.5th-97.5th percentile and the SD
  the draws' SD. Relative inputs are lognormal with mean = the value and SD = the given
  fraction of it (positive, and normal for small SDs); the lung shunt fraction is normal
  truncated to [0, 1) (a draw outside is drawn again).

The two agree for small SDs and a smooth model, and differ where the model is nonlinear
over the SDs' range: for D = k / M with M lognormal of relative SD s the sampled relative
SD is s (1 + s^2), first order gives s.

The inputs' shares of the variance ("drivers") are the first-order budget
(c_i u_i)^2 / u(f)^2; where the model is not differentiable they are sampled one input
at a time (the variance with only that input varying, normalised to add up to 1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from y90dose.uncertainty.model import (
    ACTIVITY_OUTPUT,
    Distribution,
    Evaluate,
    ModelArrays,
    UncertainInput,
    Values,
)
from y90dose.uncertainty.result import LEVEL, Driver, Interval, Uncertainty

__all__ = [
    "ACTIVITY_OUTPUT",
    "Distribution",
    "Evaluate",
    "ModelArrays",
    "UncertainInput",
    "Values",
    "propagate",
]

STEP_FRACTION_OF_SD = 1e-4
"""Finite-difference step, as a fraction of the input's SD."""
KINK_TOLERANCE = 1e-3
"""Forward and backward differences further apart than this (relative) mark a kink/step."""
NONLINEAR_NOTE_FRACTION = 0.05
"""A sampled SD more than 5 % from the first-order one is pointed out in the notes."""
NOMINAL_TOLERANCE = 1e-9
"""The evaluation at the nominal inputs must reproduce the result to this relative
tolerance: a check that ``evaluate`` computes what the model computed."""
_MAX_REDRAWS = 1000


@dataclass(frozen=True)
class _FirstOrder:
    coefficients: dict[str, dict[str, float | None]]  # output -> input -> c_i (None: kink)


def _steps(item: UncertainInput) -> tuple[float, float]:
    """Forward and backward steps (0 where the input's range ends)."""
    h = STEP_FRACTION_OF_SD * item.sd
    forward = h
    backward = h
    if item.value - h <= 0.0:  # both distributions are >= 0 (lognormal > 0)
        backward = 0.0
    if item.distribution is Distribution.FRACTION and item.value + h >= 1.0:
        forward = 0.0
    return forward, backward


def _first_order(
    inputs: Sequence[UncertainInput], evaluate: Evaluate, nominal: dict[str, float]
) -> _FirstOrder:
    """Sensitivity coefficients by central (or one-sided) differences, in one evaluation."""
    varied = [item for item in inputs if item.sd > 0]
    columns = 1 + 2 * len(varied)
    values = {item.name: np.full(columns, item.value, dtype=np.float64) for item in inputs}
    steps = {}
    for k, item in enumerate(varied):
        forward, backward = _steps(item)
        steps[item.name] = (forward, backward)
        values[item.name][1 + 2 * k] = item.value + forward
        values[item.name][2 + 2 * k] = item.value - backward
    outputs = evaluate(values)
    coefficients: dict[str, dict[str, float | None]] = {}
    for output, result in outputs.items():
        f0 = nominal[output]
        per_input: dict[str, float | None] = {}
        for k, item in enumerate(varied):
            forward, backward = steps[item.name]
            plus, minus = float(result[1 + 2 * k]), float(result[2 + 2 * k])
            d_plus = (plus - f0) / forward if forward > 0 else None
            d_minus = (f0 - minus) / backward if backward > 0 else None
            if d_plus is not None and d_minus is not None:
                spread = abs(d_plus - d_minus) * item.sd
                scale = max(abs(d_plus), abs(d_minus)) * item.sd
                smooth = spread <= KINK_TOLERANCE * scale + NOMINAL_TOLERANCE * abs(f0)
                per_input[item.name] = 0.5 * (d_plus + d_minus) if smooth else None
            else:
                per_input[item.name] = d_plus if d_plus is not None else d_minus
        coefficients[output] = per_input
    return _FirstOrder(coefficients)


def _draw(
    inputs: Sequence[UncertainInput], draws: int, rng: np.random.Generator
) -> dict[str, NDArray[np.float64]]:
    """``draws`` values of every input (one standard normal column per input)."""
    normals = rng.standard_normal((len(inputs), draws))
    samples: dict[str, NDArray[np.float64]] = {}
    for item, z in zip(inputs, normals, strict=True):
        if item.sd <= 0:
            samples[item.name] = np.full(draws, item.value, dtype=np.float64)
        elif item.distribution is Distribution.LOGNORMAL:
            cv = item.sd / item.value
            s = math.sqrt(math.log1p(cv * cv))
            samples[item.name] = item.value * np.exp(s * z - 0.5 * s * s)
        else:
            x = item.value + item.sd * z
            for _ in range(_MAX_REDRAWS):
                outside = (x < 0.0) | (x >= 1.0)
                count = int(outside.sum())
                if not count:
                    break
                x[outside] = item.value + item.sd * rng.standard_normal(count)
            else:  # pragma: no cover - needs an SD far beyond the accepted range
                raise RuntimeError(f"{item.name}: no draws inside [0, 1) after redrawing")
            samples[item.name] = x
    return samples


def _interval(values: NDArray[np.float64], nominal: float, sd_first: float | None) -> Interval:
    low, high = np.quantile(values, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return Interval(
        nominal=nominal,
        low=float(low),
        high=float(high),
        sd=float(values.std(ddof=1)),
        sd_first_order=sd_first,
    )


def _sorted_drivers(variances: Mapping[str, float]) -> list[Driver]:
    total = sum(variances.values())
    if total <= 0:
        return []
    drivers = [
        Driver(input=name, share=v / total)
        for name, v in variances.items()
        if v > NOMINAL_TOLERANCE * total  # rounding noise of an input that plays no part
    ]
    return sorted(drivers, key=lambda d: d.share, reverse=True)


def propagate(
    inputs: Sequence[UncertainInput],
    evaluate: Evaluate,
    *,
    expected: Mapping[str, float],
    draws: int,
    seed: int,
    drivers_of: str,
    meaning: str,
) -> Uncertainty:
    """First-order and sampled uncertainty of every output of ``evaluate``.

    Parameters
    ----------
    inputs
        The uncertain inputs, each with its SD (0: held at its value).
    evaluate
        The model as arrays: input name -> values, to output name -> values.
    expected
        The result's own value of every output: the evaluation at the nominal inputs must
        reproduce it (else ``RuntimeError``: ``evaluate`` would not be the model).
    draws, seed
        Sampled propagation: number of draws and the seed of the generator.
    drivers_of
        The output whose drivers are reported at the top level.
    meaning
        What the intervals are intervals of (plan or dose).

    Examples
    --------
    D = 50 / M with M = 1 kg, SD 2 %: first order and sampled SD both 2 % of 50 Gy.

    >>> u = propagate(
    ...     [UncertainInput("m", 1.0, 0.02, "sd_m", True, "given")],
    ...     lambda v: {"d": 50.0 / v["m"]},
    ...     expected={"d": 50.0}, draws=10000, seed=0, drivers_of="d", meaning="")
    >>> round(u.doses_gy["d"].sd_first_order, 3), round(u.doses_gy["d"].sd, 1)
    (1.0, 1.0)
    """
    names = [item.name for item in inputs]
    if len(set(names)) != len(names):
        raise ValueError(f"inputs named twice: {names}")
    nominal_values = {item.name: np.array([item.value], dtype=np.float64) for item in inputs}
    nominal = {key: float(value[0]) for key, value in evaluate(nominal_values).items()}
    if set(nominal) != set(expected):
        raise RuntimeError(f"evaluate gives {sorted(nominal)}, the result {sorted(expected)}")
    for key, value in nominal.items():
        if not math.isclose(value, expected[key], rel_tol=NOMINAL_TOLERANCE, abs_tol=1e-12):
            raise RuntimeError(
                f"evaluate gives {key} = {value!r} at the nominal inputs, the result "
                f"{expected[key]!r}: the propagation would not be of this model"
            )
    first = _first_order(inputs, evaluate, nominal)
    rng = np.random.default_rng(seed)
    samples = _draw(inputs, draws, rng)
    sampled = {
        key: np.broadcast_to(np.asarray(value, dtype=np.float64), (draws,))
        for key, value in evaluate(samples).items()
    }
    bad = [key for key, value in sampled.items() if not np.all(np.isfinite(value))]
    if bad:
        raise RuntimeError(f"non-finite sampled values of {bad}")
    sds = {item.name: item.sd for item in inputs}
    intervals: dict[str, Interval] = {}
    drivers: dict[str, list[Driver]] = {}
    methods: dict[str, str] = {}
    notes: list[str] = []
    for key, values in sampled.items():
        coefficients = first.coefficients[key]
        if all(c is not None for c in coefficients.values()):
            budget = {name: (c * sds[name]) ** 2 for name, c in coefficients.items() if c}
            sd_first: float | None = math.sqrt(sum(budget.values()))
            drivers[key] = _sorted_drivers(budget)
            methods[key] = "first_order"
        else:
            sd_first = None
            drivers[key] = _sorted_drivers(_one_at_a_time(inputs, samples, evaluate, key))
            methods[key] = "sampled"
            kinks = [name for name, c in coefficients.items() if c is None]
            notes.append(
                f"{key}: the model is not differentiable in {', '.join(kinks)} at its value "
                "(a step); no first-order SD, drivers sampled one input at a time"
            )
        intervals[key] = _interval(values, nominal[key], sd_first)
        sd_sampled = intervals[key].sd
        if sd_first and abs(sd_sampled - sd_first) > NONLINEAR_NOTE_FRACTION * sd_first:
            notes.append(
                f"{key}: sampled SD {sd_sampled:.4g} differs from the first-order SD "
                f"{sd_first:.4g} by {100 * (sd_sampled / sd_first - 1):+.0f} % (the model is "
                "nonlinear over these SDs); the interval is from the draws"
            )
    activity = intervals.pop(ACTIVITY_OUTPUT, None)
    return Uncertainty(
        doses_gy=intervals,
        activity_gbq=activity,
        drivers=drivers.get(drivers_of, []),
        drivers_of=drivers_of,
        drivers_by_output=drivers,
        drivers_method=methods,
        inputs=[item.record() for item in inputs],
        defaults_used=sorted({item.sd_field for item in inputs if not item.given}),
        method=(
            "first order (GUM: central differences through the model's functions) and "
            f"sampling (GUM-S1: {draws} seeded draws, percentiles)"
        ),
        draws=draws,
        seed=seed,
        meaning=meaning,
        notes=notes,
    )


def _one_at_a_time(
    inputs: Sequence[UncertainInput],
    samples: Mapping[str, NDArray[np.float64]],
    evaluate: Evaluate,
    output: str,
) -> dict[str, float]:
    """Variance of ``output`` with one input drawn and the others at their values."""
    variances: dict[str, float] = {}
    draws = len(next(iter(samples.values())))
    for item in inputs:
        if item.sd <= 0:
            continue
        values = {
            other.name: samples[other.name] if other is item else np.array([other.value])
            for other in inputs
        }
        result = np.broadcast_to(np.asarray(evaluate(values)[output]), (draws,))
        variances[item.name] = float(np.var(result, ddof=1))
    return variances
