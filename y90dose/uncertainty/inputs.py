"""The input uncertainties a plan or dose calculation accepts, and their defaults.

Each is one standard deviation: relative (percent) for volumes, TN ratios, the activity
and the lung mass, absolute for the lung shunt fraction (``sd_lsf`` 0.02 = 2 percentage
points). An SD not given takes the literature default of :mod:`y90dose.constants`
(``SD_VOLUME_PERCENT``...), and the result lists it in ``defaults_used``.

The uncertainty is computed when asked for: ``uncertainty`` true, or any of these fields
given (an SD given is a request; it is never ignored). ``uncertainty: false`` together with
an SD is refused as contradictory.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, field_serializer, model_validator

from y90dose.constants import (
    SD_ACTIVITY_PERCENT,
    SD_LSF,
    SD_LUNG_MASS_ASSUMED_PERCENT,
    SD_LUNG_MASS_MEASURED_PERCENT,
    SD_TN_PERCENT,
    SD_VOLUME_PERCENT,
    Constant,
)
from y90dose.uncertainty.model import Distribution, UncertainInput

DEFAULT_DRAWS = 10_000
"""Draws of the sampled propagation: the 2.5th/97.5th percentiles of 10,000 draws are
within about 1 % of their limits for the doses here (the SD's own sampling error is
1/sqrt(2 x 10,000) = 0.7 % of it)."""
MAX_DRAWS = 100_000
"""Most draws accepted (memory: draws x inputs x 8 bytes per array)."""

_REQUESTING_FIELDS = (
    "sd_volume_percent",
    "sd_tn_percent",
    "sd_lsf",
    "sd_activity_percent",
    "sd_lung_mass_percent",
    "uncertainty_draws",
    "uncertainty_seed",
)


class UncertaintyOptions(BaseModel):
    """Input SDs of the MIRD and BSA inputs (no TN ratio); mixed into their input models."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    uncertainty: bool = Field(
        False,
        description="also report the uncertainty: 95 % intervals and SDs of the activity and "
        "doses, and the inputs that drive them (literature SDs for inputs whose SD is not "
        "given); implied by any sd_* option",
    )
    sd_volume_percent: float | None = Field(
        None,
        ge=0.0,
        le=100.0,
        description="SD of each volume, percent (default 10 %, docs/physics.md)",
    )
    sd_lsf: float | None = Field(
        None,
        ge=0.0,
        le=0.5,
        description="SD of the lung shunt fraction, absolute: 0.02 is 2 percentage points "
        "(default 0.02)",
    )
    sd_activity_percent: float | None = Field(
        None,
        ge=0.0,
        le=50.0,
        description="SD of the administered activity (dose calibrator), percent (default 5 %)",
    )
    sd_lung_mass_percent: float | None = Field(
        None,
        ge=0.0,
        le=100.0,
        description="SD of the lung mass, percent (default 25 % for the assumed 1 kg, 10 % "
        "for a given or CT-measured mass)",
    )
    uncertainty_draws: int = Field(
        DEFAULT_DRAWS,
        ge=1000,
        le=MAX_DRAWS,
        description="draws of the sampled propagation",
    )
    uncertainty_seed: int = Field(
        0, ge=0, le=2**32 - 1, description="seed of the sampled propagation (same seed, same draws)"
    )

    def _requesting(self) -> list[str]:
        """The SD and sampling fields given with a value of their own (not null, not the
        default): a stored input written back (every field present) requests nothing."""
        fields = type(self).model_fields
        return [
            name
            for name in _REQUESTING_FIELDS
            if name in fields
            and name in self.model_fields_set
            and getattr(self, name) != fields[name].default
        ]

    @model_validator(mode="after")
    def _not_off_with_sds(self) -> UncertaintyOptions:
        given = self._requesting()
        if "uncertainty" in self.model_fields_set and not self.uncertainty and given:
            raise ValueError(
                f"uncertainty is false but {', '.join(given)} was given: an SD asks for the "
                "uncertainty; leave uncertainty out or set it true"
            )
        return self

    def uncertainty_requested(self) -> bool:
        """True when the caller asked for the uncertainty (the switch or any SD)."""
        return self.uncertainty or bool(self._requesting())

    @field_serializer("uncertainty")
    def _requested_when_written(self, _uncertainty: bool) -> bool:
        """Written as what was computed: ``true`` when an SD asked for it, so that a
        stored input (``sd_lsf`` 0.03 with the switch left out) validates again instead
        of reading as ``uncertainty: false`` with an SD, which is refused."""
        return self.uncertainty_requested()


class UncertaintyOptionsWithTn(UncertaintyOptions):
    """Input SDs of the partition inputs: those of MIRD plus the TN ratio's."""

    sd_tn_percent: float | None = Field(
        None,
        ge=0.0,
        le=100.0,
        description="SD of each tumour-to-normal ratio, percent (default 20 %)",
    )


@dataclass(frozen=True)
class ResolvedSd:
    """An SD field's value for a calculation: the caller's, or the default and its source."""

    field: str
    value: float
    given: bool
    source: str


def resolve_sd(options: BaseModel, field: str, default: Constant) -> ResolvedSd:
    """``options.<field>`` if given, else ``default`` (with its source)."""
    value = getattr(options, field, None)
    if value is not None:
        return ResolvedSd(field, float(value), True, "given")
    return ResolvedSd(field, default.value, False, f"default: {default.source}")


def standard_sds(options: BaseModel, *, lung_mass_given: bool) -> dict[str, ResolvedSd]:
    """The SDs every model uses: volume, LSF, activity and lung mass (and TN if a field)."""
    lung_default = (
        SD_LUNG_MASS_MEASURED_PERCENT if lung_mass_given else SD_LUNG_MASS_ASSUMED_PERCENT
    )
    sds = {
        "volume": resolve_sd(options, "sd_volume_percent", SD_VOLUME_PERCENT),
        "lsf": resolve_sd(options, "sd_lsf", SD_LSF),
        "activity": resolve_sd(options, "sd_activity_percent", SD_ACTIVITY_PERCENT),
        "lung_mass": resolve_sd(options, "sd_lung_mass_percent", lung_default),
    }
    if "sd_tn_percent" in type(options).model_fields:
        sds["tn"] = resolve_sd(options, "sd_tn_percent", SD_TN_PERCENT)
    return sds


def relative_input(name: str, value: float, sd: ResolvedSd) -> UncertainInput:
    """An input with a relative SD (percent of its value), sampled lognormal."""
    return UncertainInput(
        name=name,
        value=float(value),
        sd=float(value) * sd.value / 100.0,
        sd_field=sd.field,
        given=sd.given,
        source=sd.source,
    )


def fraction_input(name: str, value: float, sd: ResolvedSd) -> UncertainInput:
    """A fraction in [0, 1) with an absolute SD (the lung shunt fraction)."""
    return UncertainInput(
        name=name,
        value=float(value),
        sd=sd.value,
        sd_field=sd.field,
        given=sd.given,
        source=sd.source,
        distribution=Distribution.FRACTION,
    )


PLAN_MEANING = (
    "plan: activity_gbq is the activity that would meet the prescription if the inputs "
    "were their true values (as read on the dose calibrator); doses_gy are the doses the "
    "planned activity gives"
)
DOSE_MEANING = "dose: doses_gy are the doses the given activity gives"
