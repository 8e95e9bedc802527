"""The ``uncertainty`` block of a plan or dose result (typed, JSON-able)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

LEVEL = 0.95
"""Coverage of the reported intervals: the 2.5th and 97.5th percentiles of the draws."""


class Interval(BaseModel):
    """One output's nominal value, its 95 % interval and its standard deviation."""

    model_config = ConfigDict(frozen=True)

    nominal: float = Field(description="the value of the result itself")
    low: float = Field(description="2.5th percentile of the sampled values")
    high: float = Field(description="97.5th percentile of the sampled values")
    sd: float = Field(description="standard deviation of the sampled values")
    sd_first_order: float | None = Field(
        description="first-order (linearised) standard deviation; None where the model is "
        "not differentiable at the inputs (a BSA lung-shunt band edge)"
    )


class Driver(BaseModel):
    """An input's share of an output's variance."""

    model_config = ConfigDict(frozen=True)

    input: str = Field(description="input field, with the tumour index where there are several")
    share: float = Field(description="fraction of the variance (the shares add up to 1)")


class InputSd(BaseModel):
    """One uncertain input as it was propagated."""

    model_config = ConfigDict(frozen=True)

    input: str
    value: float = Field(description="nominal value, in the input's unit")
    sd: float = Field(description="standard deviation, in the input's unit")
    sd_field: str = Field(description="the option that sets it (sd_volume_percent...)")
    given: bool = Field(description="true when the caller gave it, false for a default")
    source: str = Field(description="'given', or the literature source of the default")
    distribution: str = Field(
        description="lognormal (mean = value, positive) or normal truncated to [0, 1) (lsf)"
    )


class Uncertainty(BaseModel):
    """Uncertainty of a result: 95 % intervals, SDs and the inputs that drive them.

    For a plan, ``activity_gbq`` is the spread of the activity that would meet the
    prescription if the inputs were their true values (as read on the dose calibrator),
    and ``doses_gy`` the spread of the doses the planned activity gives; for a dose
    calculation, the doses the given activity gives.
    """

    model_config = ConfigDict(frozen=True)

    level: float = Field(LEVEL, description="coverage of low..high")
    doses_gy: dict[str, Interval]
    activity_gbq: Interval | None = Field(None, description="plans only")
    drivers: list[Driver] = Field(
        description="the inputs sorted by their share of the variance of drivers_of"
    )
    drivers_of: str = Field(description="the output the top-level drivers are of")
    drivers_by_output: dict[str, list[Driver]]
    drivers_method: dict[str, str] = Field(
        description="per output: first_order (GUM budget) or sampled (one input at a time, "
        "where the model is not differentiable)"
    )
    inputs: list[InputSd]
    defaults_used: list[str] = Field(
        description="the sd_* fields that took a literature default (docs/physics.md)"
    )
    method: str
    draws: int
    seed: int
    meaning: str
    notes: list[str] = Field(default_factory=list)
