"""Vial choice and timing for glass and resin microspheres.

Glass (TheraSphere) vials hold 3, 5, 7, 10, 15 or 20 GBq at a weekly calibration instant
(by convention Sunday 12:00 US Eastern; a product setting here). Given the activity a plan
needs at a treatment instant, the smallest vial whose decayed activity is at least that
much is chosen; the instant at which the chosen vial holds exactly the prescription is
reported too. Resin (SIR-Spheres) comes as a 3 GBq vial calibrated at the instant on its
label; the prescribed activity is drawn from it.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from y90dose.constants import (
    CALIBRATION_IMMINENT_H,
    GLASS_CALIBRATION_HOUR,
    GLASS_CALIBRATION_TIMEZONE,
    GLASS_CALIBRATION_WEEKDAY,
    GLASS_VIALS_GBQ,
    RESIN_VIAL_GBQ,
    Y90_HALF_LIFE_H,
)
from y90dose.decay import Instant, activity_at, elapsed_hours, hours_until_activity
from y90dose.devices import Product
from y90dose.errors import InputError
from y90dose.findings import Code, Finding, Severity
from y90dose.models.common import (
    MAX_ACTIVITY_GBQ,
    MAX_DOSE_GY,
    MIN_ACTIVITY_GBQ,
    MIN_VOLUME_ML,
    Spheres,
)
from y90dose.spheres import embolic_load_findings, spheres_delivered
from y90dose.units import gbq_to_mci


class GlassCalibrationConvention(BaseModel):
    """When glass vials are calibrated: a weekday, an hour and a time zone."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    weekday: int = Field(
        GLASS_CALIBRATION_WEEKDAY, ge=0, le=6, description="0 = Monday ... 6 = Sunday"
    )
    hour: int = Field(GLASS_CALIBRATION_HOUR, ge=0, le=23)
    timezone: str = Field(GLASS_CALIBRATION_TIMEZONE, description="IANA time zone name")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name such as 'America/New_York'"
            ) from None
        return value

    def last_calibration(self, when: datetime) -> datetime:
        """The latest calibration instant at or before ``when`` (wall-clock hour, DST-safe)."""
        zone = ZoneInfo(self.timezone)
        local = when.astimezone(zone)
        day = local.date() - timedelta(days=(local.weekday() - self.weekday) % 7)
        candidate = datetime.combine(day, time(self.hour), tzinfo=zone)
        if candidate.astimezone(UTC) > when.astimezone(UTC):  # UTC: no wall-clock compare
            candidate = datetime.combine(day - timedelta(days=7), time(self.hour), tzinfo=zone)
        return candidate

    def next_calibration(self, when: datetime) -> datetime:
        """The first calibration instant after ``when`` (a week after the last, wall clock)."""
        last = self.last_calibration(when)
        return datetime.combine(
            last.date() + timedelta(days=7), time(self.hour), tzinfo=last.tzinfo
        )


class VialInput(BaseModel):
    """The activity needed at a treatment instant, and the product."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    activity_gbq: float = Field(
        ge=MIN_ACTIVITY_GBQ, le=MAX_ACTIVITY_GBQ, description="activity needed at treatment (GBq)"
    )
    treatment_time: Instant = Field(description="treatment instant, with time zone")
    product: Product = Field(Product.GLASS)
    calibration_time: Instant | None = Field(
        None,
        description="vial calibration instant; glass default: the last weekly calibration "
        "(Sunday 12:00 US Eastern); "
        "resin: required (the label's calibration instant)",
    )
    prescribed_dose_gy: float | None = Field(
        None,
        gt=0.0,
        le=MAX_DOSE_GY,
        description="dose the needed activity gives (Gy), to report the vial's dose",
    )
    perfused_volume_ml: float | None = Field(
        None,
        ge=MIN_VOLUME_ML,
        le=10000.0,
        description="perfused volume (mL), to report the spheres per mL perfused",
    )
    convention: GlassCalibrationConvention = Field(default_factory=GlassCalibrationConvention)


class VialResult(BaseModel):
    """The vial chosen and what it gives at treatment."""

    model_config = ConfigDict(frozen=True)

    product: Product
    vial_gbq: float = Field(description="nominal vial activity at calibration (GBq)")
    vial_mci: float = Field(description="nominal vial activity at calibration (mCi)")
    calibration_time: datetime
    treatment_time: datetime
    required_activity_gbq: float
    activity_at_treatment_gbq: float = Field(description="the vial's activity at treatment (GBq)")
    activity_at_treatment_mci: float
    dose_gy: float | None = Field(
        None, description="dose the vial gives at treatment, scaling the prescribed dose"
    )
    exact_time: datetime = Field(
        description="instant at which the vial holds exactly the required activity"
    )
    half_life_h: float
    findings: list[Finding]
    spheres: Spheres = Field(
        description="spheres given at treatment: glass the whole vial, resin the activity "
        "drawn (the drawn share of the vial's spheres)"
    )


def _glass_choice(required_gbq: float, calibration: datetime, treatment: datetime) -> float | None:
    for vial in sorted(GLASS_VIALS_GBQ):
        if activity_at(vial, calibration, treatment, when_field="treatment_time") >= required_gbq:
            return vial
    return None


def choose_vial(inputs: VialInput) -> VialResult:
    """Choose the vial for ``inputs.activity_gbq`` at ``inputs.treatment_time``.

    Raises
    ------
    InputError
        For resin without a calibration instant, or a treatment instant so far before the
        calibration that the activity overflows (a mistyped year).
    """
    findings: list[Finding] = []
    if inputs.product is Product.GLASS:
        calibration = inputs.calibration_time or inputs.convention.last_calibration(
            inputs.treatment_time
        )
        chosen = _glass_choice(inputs.activity_gbq, calibration, inputs.treatment_time)
        vial = chosen if chosen is not None else max(GLASS_VIALS_GBQ)
    else:
        if inputs.calibration_time is None:
            raise InputError(
                "calibration_time", None, "the resin vial's calibration instant from its label"
            )
        calibration = inputs.calibration_time
        vial = RESIN_VIAL_GBQ.value
    at_treatment = activity_at(
        vial, calibration, inputs.treatment_time, when_field="treatment_time"
    )
    # in UTC: aware + timedelta adds wall-clock time, an hour off across a DST change
    exact = (
        calibration.astimezone(UTC)
        + timedelta(hours=hours_until_activity(vial, inputs.activity_gbq))
    ).astimezone(calibration.tzinfo)
    if at_treatment < inputs.activity_gbq:
        findings.append(
            Finding(
                severity=Severity.BLOCK,
                code=Code.ACTIVITY_ABOVE_LARGEST_VIAL,
                message=f"no single {inputs.product.value} vial holds "
                f"{inputs.activity_gbq:.2f} GBq at treatment: the {vial:g} GBq vial holds "
                f"{at_treatment:.2f} GBq then "
                f"(it holds the prescription at {exact.isoformat()})",
            )
        )
    if inputs.product is Product.GLASS and inputs.calibration_time is None:
        upcoming = inputs.convention.next_calibration(inputs.treatment_time)
        before_h = elapsed_hours(inputs.treatment_time, upcoming)
        if before_h <= CALIBRATION_IMMINENT_H:
            findings.append(
                Finding(
                    severity=Severity.WARNING,
                    code=Code.VIAL_CALIBRATION_IMMINENT,
                    message=f"treatment {inputs.treatment_time.isoformat()} is {before_h:.1f} h "
                    f"before the calibration instant {upcoming.isoformat()}: the weekly "
                    f"convention gives the previous one ({calibration.isoformat()}); if the vial "
                    "is calibrated for the coming instant, give its calibration_time",
                )
            )
    if elapsed_hours(calibration, inputs.treatment_time) < 0:
        findings.append(
            Finding(
                severity=Severity.WARNING,
                code=Code.VIAL_USED_BEFORE_CALIBRATION,
                message=f"treatment {inputs.treatment_time.isoformat()} precedes the vial's "
                f"calibration {calibration.isoformat()}",
            )
        )
    # glass: the whole vial is given (its dose scales the prescription); resin: the draw
    given_gbq = at_treatment if inputs.product is Product.GLASS else inputs.activity_gbq
    spheres = spheres_delivered(
        inputs.product,
        given_gbq,
        elapsed_hours(calibration, inputs.treatment_time),
        inputs.perfused_volume_ml,
    )
    findings += embolic_load_findings(inputs.product, spheres)
    dose = (
        None
        if inputs.prescribed_dose_gy is None
        else inputs.prescribed_dose_gy * at_treatment / inputs.activity_gbq
    )
    return VialResult(
        product=inputs.product,
        vial_gbq=vial,
        vial_mci=gbq_to_mci(vial),
        calibration_time=calibration,
        treatment_time=inputs.treatment_time,
        required_activity_gbq=inputs.activity_gbq,
        activity_at_treatment_gbq=at_treatment,
        activity_at_treatment_mci=gbq_to_mci(at_treatment),
        dose_gy=dose,
        exact_time=exact,
        half_life_h=Y90_HALF_LIFE_H.value,
        findings=findings,
        spheres=spheres,
    )
