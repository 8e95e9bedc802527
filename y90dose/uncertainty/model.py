"""A planning model described for uncertainty propagation and curves (no numpy here).

:class:`ModelArrays` holds a model's uncertain inputs (:class:`UncertainInput`), its
vectorised evaluation and the values its result holds; the computation is in
:mod:`y90dose.uncertainty.propagation` (numpy), imported only when a propagation runs, so
that a plan that asks for no uncertainty loads no numpy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from y90dose.uncertainty.result import InputSd, Uncertainty

Values = Mapping[str, Any]
"""Input name -> values: numpy arrays of one length. Typed ``Any`` because the models'
formula functions (``mird_dose_gy``...) are annotated for numbers and take arrays too."""
Evaluate = Callable[[Values], dict[str, Any]]
"""The model as arrays: input values to output name -> values (arrays of the same length)."""

ACTIVITY_OUTPUT = "activity_gbq"
"""The output that is an activity (plans); every other output is a dose in Gy."""


class Distribution(StrEnum):
    """How an input is sampled."""

    LOGNORMAL = "lognormal"
    FRACTION = "normal truncated to [0, 1)"


@dataclass(frozen=True)
class UncertainInput:
    """One input of a model with its SD (absolute, in the input's unit)."""

    name: str
    value: float
    sd: float
    sd_field: str
    given: bool
    source: str
    distribution: Distribution = Distribution.LOGNORMAL

    def record(self) -> InputSd:
        """The input as the result reports it."""
        return InputSd(
            input=self.name,
            value=self.value,
            sd=self.sd,
            sd_field=self.sd_field,
            given=self.given,
            source=self.source,
            distribution=self.distribution.value,
        )


@dataclass(frozen=True)
class ModelArrays:
    """A planning model as arrays: its uncertain inputs, its vectorised evaluation and the
    values its result holds (which the evaluation at the nominal inputs must reproduce).

    The uncertainty propagates through it (:meth:`propagate`) and the activity-dose
    curves sweep one input through it (:mod:`y90dose.models.curves`).
    """

    inputs: tuple[UncertainInput, ...]
    evaluate: Evaluate
    expected: Mapping[str, float]
    drivers_of: str
    meaning: str
    shifted: Mapping[str, tuple[str, float]] = field(default_factory=dict)
    """Outputs that are another output plus an exact number (``lung_cumulative`` is
    ``lung`` + the prior lung dose): reported as that output's interval, shifted."""

    def input(self, name: str) -> UncertainInput:
        """The input called ``name``."""
        return next(item for item in self.inputs if item.name == name)

    def propagate(self, *, draws: int, seed: int) -> Uncertainty:
        """:func:`~y90dose.uncertainty.propagation.propagate` of this model (and its
        shifted outputs)."""
        from y90dose.uncertainty.propagation import propagate

        result = propagate(
            self.inputs,
            self.evaluate,
            expected=self.expected,
            draws=draws,
            seed=seed,
            drivers_of=self.drivers_of,
            meaning=self.meaning,
        )
        doses = dict(result.doses_gy)
        drivers = dict(result.drivers_by_output)
        methods = dict(result.drivers_method)
        for name, (base, offset) in self.shifted.items():
            interval = doses[base]
            doses[name] = interval.model_copy(
                update={
                    "nominal": interval.nominal + offset,
                    "low": interval.low + offset,
                    "high": interval.high + offset,
                }
            )
            drivers[name] = drivers[base]
            methods[name] = methods[base]
        return result.model_copy(
            update={"doses_gy": doses, "drivers_by_output": drivers, "drivers_method": methods}
        )
