"""Inputs shared by the planning models and the result every model returns.

These pydantic models are the single set of validation rules behind the library, the CLI
and the service: a field's constraints and description (with its unit) live here once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from y90dose.constants import (
    LIVER_DENSITY_G_ML,
    LUNG_MASS_KG,
    Y90_HALF_LIFE_H,
)
from y90dose.delivery import Delivery
from y90dose.devices import Product, default_energy_j_per_gbq
from y90dose.findings import Finding
from y90dose.segments import Segment, normalise
from y90dose.uncertainty.result import Uncertainty

# Smallest inputs accepted: below these a value is a typing error, not a patient, and the
# arithmetic would run into float underflow (5e-324 mL gave a division by zero).
MIN_VOLUME_ML = 0.1
"""~ one SPECT voxel ((4.4 mm)^3 = 0.085 mL): no smaller volume can be measured."""
MIN_LUNG_MASS_KG = 0.1
"""A tenth of the 1 kg adult default (MIRD Pamphlet 21 reference lungs ~1 kg)."""
MIN_DENSITY_G_ML = 0.5
"""Half of soft tissue; liver and tumour are ~1.03-1.06 g/mL."""
MIN_TN_RATIO = 0.01
"""Tumour-to-normal uptake ratios below 1 occur (hypovascular tumours), not below 1/100."""
MAX_DOSE_GY = 5000.0
"""Largest dose any plan input accepts (segmentectomy prescriptions reach ~1000 Gy)."""
MAX_ACTIVITY_GBQ = 100.0
"""Largest administered activity any input accepts, GBq: several times the largest
treatments (a few to ~20 GBq); a larger value is a unit error (MBq typed as GBq)."""
MIN_ACTIVITY_GBQ = 0.001
"""Smallest activity any input accepts, GBq (1 MBq, 0.027 mCi): a three-thousandth of the
smallest glass vial and far below any Y-90 treatment (a one-segment segmentectomy of 10 mL
at 200 Gy needs 0.04 GBq); a smaller value is a unit error, and 1e-300 GBq underflows."""
MIN_TIME_SINCE_CALIBRATION_H = -72.0
MAX_TIME_SINCE_CALIBRATION_H = 336.0
"""Treatment from 3 days before to 14 days after the vial's calibration (y90dose policy:
the sphere count only; beyond, a value is a mistyped date or unit, not a vial in use)."""
SEGMENT_DELIVERIES = (Delivery.SEGMENTAL, Delivery.SEGMENTECTOMY)
"""Deliveries that name the Couinaud segments they treat."""


def liver_volume_field() -> Any:
    """The optional whole-liver volume of the MIRD and partition inputs (BSA requires it)."""
    return Field(
        None,
        ge=MIN_VOLUME_ML,
        le=10000.0,
        description="whole liver volume incl. tumour (mL), optional, only with segments: "
        "checks that the perfused volume fits the named segments",
    )


def check_liver_used(liver_ml: float | None, data: Mapping[str, Any]) -> None:
    """Refuse a whole-liver volume where nothing uses it: it only checks the named segments.

    ``data`` holds the fields validated before it (``delivery``, ``segments``); when one of
    them failed, its own error is reported and this check waits.
    """
    if liver_ml is None or "delivery" not in data or "segments" not in data:
        return
    if data["delivery"] not in SEGMENT_DELIVERIES or data["segments"] is None:
        raise ValueError(
            "only with segments (delivery segmental or segmentectomy): it is used only to "
            "check that the perfused volume fits the named segments (delivery is "
            f"{data['delivery'].value!r}, "
            f"{'no segments given' if data['segments'] is None else 'segments given'})"
        )


def check_liver_holds(liver_ml: float | None, perfused_ml: float | None, name: str) -> None:
    """Refuse a whole-liver volume smaller than the perfused volume it contains."""
    if liver_ml is not None and perfused_ml is not None and liver_ml < perfused_ml:
        raise ValueError(
            f"at least {name} ({perfused_ml:g} mL): the whole liver holds the perfused volume"
        )


class PlanOptions(BaseModel):
    """Options common to every planning model (MIRD, partition, BSA)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    lsf: float = Field(ge=0.0, lt=1.0, description="lung shunt fraction (a fraction, not %)")
    residual: float = Field(
        0.0, ge=0.0, lt=1.0, description="fraction of activity left in vial and tubing"
    )
    lung_mass_kg: float = Field(
        LUNG_MASS_KG.value,
        ge=MIN_LUNG_MASS_KG,
        le=5.0,
        description="lung mass (kg); 1 kg when not measured",
    )
    density_g_ml: float = Field(
        LIVER_DENSITY_G_ML.value,
        ge=MIN_DENSITY_G_ML,
        le=3.0,
        description="liver and tumour density (g/mL)",
    )
    product: Product = Field(Product.GLASS, description="microsphere product: glass or resin")
    energy_j_per_gbq: float | None = Field(
        None,
        ge=45.0,
        le=55.0,
        description="energy absorbed per GBq decayed (J/GBq); default: the product's "
        "(glass 50, resin 49.38; EANM 49.67)",
    )
    delivery: Delivery = Field(
        Delivery.WHOLE, description="whole, lobar, segmental or segmentectomy"
    )
    time_since_calibration_h: float = Field(
        0.0,
        ge=MIN_TIME_SINCE_CALIBRATION_H,
        le=MAX_TIME_SINCE_CALIBRATION_H,
        description="hours from the vial's calibration to treatment, for the sphere count "
        "and the activity per sphere (default 0: at calibration; negative: before it)",
    )
    prior_lung_dose_gy: float = Field(
        0.0, ge=0.0, description="lung dose of previous treatments (Gy), for the cumulative limit"
    )
    segments: list[Segment] | None = Field(
        None,
        min_length=1,
        description="treated Couinaud segments (segmental or segmentectomy delivery): I, II, "
        "III, IV (= IVa + IVb), IVa, IVb, V, VI, VII, VIII",
    )

    @field_validator("segments")
    @classmethod
    def _segments_once(
        cls, segments: list[Segment] | None, info: ValidationInfo
    ) -> list[Segment] | None:
        if segments is None:
            return None
        delivery = info.data.get("delivery")
        if delivery is not None and delivery not in SEGMENT_DELIVERIES:
            raise ValueError(
                f"segments only with delivery segmental or segmentectomy (delivery is "
                f"{delivery.value!r})"
            )
        return normalise(segments)

    def energy(self) -> float:
        """The energy constant C (J/GBq) this calculation uses."""
        if self.energy_j_per_gbq is not None:
            return self.energy_j_per_gbq
        return default_energy_j_per_gbq(self.product).value

    def energy_source(self) -> str:
        """Where C came from: the product default's source, or the caller."""
        if self.energy_j_per_gbq is not None:
            return "given by the caller"
        return default_energy_j_per_gbq(self.product).source


class ConstantsUsed(BaseModel):
    """The constants a result was computed with, so that it can be reproduced."""

    model_config = ConfigDict(frozen=True)

    energy_j_per_gbq: float = Field(description="energy absorbed per GBq decayed (J/GBq)")
    energy_source: str
    half_life_h: float = Field(description="Y-90 half-life (h)")
    density_g_ml: float = Field(description="liver and tumour density (g/mL)")
    lung_mass_kg: float = Field(description="lung mass (kg)")


def constants_used(options: PlanOptions) -> ConstantsUsed:
    """The provenance block of a result computed with ``options``."""
    return ConstantsUsed(
        energy_j_per_gbq=options.energy(),
        energy_source=options.energy_source(),
        half_life_h=Y90_HALF_LIFE_H.value,
        density_g_ml=options.density_g_ml,
        lung_mass_kg=options.lung_mass_kg,
    )


class SegmentectomyCheck(BaseModel):
    """Which definition of radiation segmentectomy a plan was checked against."""

    model_config = ConfigDict(frozen=True)

    definition: str = Field(description="definition, lewandowski2018 or eanm2022")
    floor_gy: float = Field(description="perfused dose a segmentectomy reaches at least (Gy)")
    floor_citation: str = Field(description="short citation of the floor")
    floor_source: str
    ablative_gy: float | None = Field(
        None, description="EANM 2022 ablative level (glass), below which an info finding is given"
    )
    segment_count: int | None = Field(
        None, description="Couinaud segments named (IVa and IVb together count once)"
    )

    def statement(self) -> str:
        """One line for reports and pages: the floor, its definition and source, and the
        ablative level where one applies."""
        ablative = (
            f"; ablative level {self.ablative_gy:g} Gy (EANM 2022 Table 2)"
            if self.ablative_gy is not None
            else ""
        )
        return (
            f"{self.floor_gy:g} Gy to the perfused volume "
            f"({self.definition}: {self.floor_citation}){ablative}"
        )


class Spheres(BaseModel):
    """The microspheres a plan or vial delivers (``y90dose.spheres`` computes them).

    A drawn share of a vial carries that share of its spheres: the count is the activity
    over the activity of one sphere at treatment (its calibration value, decayed).
    """

    model_config = ConfigDict(frozen=True)

    count: float = Field(description="number of spheres delivered (an estimate)")
    count_sd: float | None = Field(
        None,
        description="standard deviation of the count from the vial's sphere count "
        "(resin: 2.6 of 44 million); null when the product data give none (glass)",
    )
    activity_per_sphere_bq: float = Field(description="activity of one sphere at treatment (Bq)")
    per_ml_perfused: float | None = Field(
        None, description="spheres per mL of perfused tissue; null without a perfused volume"
    )
    time_since_calibration_h: float | None = Field(
        description="hours from the vial's calibration to treatment used for the decay; "
        "null for a sum over territories treated at different times"
    )
    source: str = Field(description="the product data the count comes from")


class PlanResult(BaseModel):
    """What every planning model returns: activity, doses, findings and provenance.

    ``doses_gy`` holds only the keys that apply: ``perfused``, ``normal``, ``tumor``
    (a single tumour) or ``tumors`` (a list in input order), ``lung`` and
    ``lung_cumulative`` (this treatment plus the prior lung doses).
    """

    model_config = ConfigDict(frozen=True)

    model: str = Field(description="mird, partition or bsa")
    direction: str = Field(description="plan (dose -> activity) or dose (activity -> doses)")
    product: Product
    delivery: Delivery
    activity_gbq: float = Field(description="activity to administer (GBq), before residual")
    delivered_activity_gbq: float = Field(
        description="activity that leaves the vial and tubing (GBq): activity x (1 - residual)"
    )
    doses_gy: dict[str, float | list[float]] = Field(description="absorbed doses (Gy)")
    masses_kg: dict[str, float | list[float]] = Field(description="compartment masses (kg)")
    lsf: float
    residual: float
    findings: list[Finding]
    constants: ConstantsUsed
    details: dict[str, Any] = Field(default_factory=dict)
    segments: list[Segment] | None = Field(
        None, description="treated Couinaud segments (IV given as IVa, IVb)"
    )
    segmentectomy: SegmentectomyCheck | None = Field(
        None, description="the segmentectomy definition checked (segmentectomy delivery only)"
    )
    lsf_bound: float | None = Field(
        None,
        description="the lung shunt fraction at which this plan's lung dose would reach its "
        "limit (the lower of the per-treatment limit and what the cumulative limit leaves "
        "after the prior lung dose); null when no fraction below 1 (BSA: up to the resin "
        "limit) reaches it (docs/physics.md)",
    )
    spheres: Spheres | None = Field(
        None, description="microspheres delivered: count, activity per sphere, per mL perfused"
    )
    uncertainty: Uncertainty | None = Field(
        None,
        description="95 % intervals, SDs and drivers of the activity and doses, when asked "
        "for (uncertainty or an sd_* input)",
    )

    def dose_gy(self, name: str) -> float:
        """One compartment's dose (Gy): ``perfused``, ``normal``, ``tumor``, ``lung``, ..."""
        value = self.doses_gy[name]
        if isinstance(value, list):
            raise KeyError(f"doses_gy[{name!r}] is a list; use tumor_doses_gy()")
        return value

    def tumor_doses_gy(self) -> list[float]:
        """Every tumour's dose (Gy) in input order; empty for single-compartment models."""
        value = self.doses_gy.get("tumors", [])
        return list(value) if isinstance(value, list) else [value]

    def mass_kg(self, name: str) -> float:
        """One compartment's mass (kg)."""
        value = self.masses_kg[name]
        if isinstance(value, list):
            raise KeyError(f"masses_kg[{name!r}] is a list; use tumor_masses_kg()")
        return value

    def tumor_masses_kg(self) -> list[float]:
        """Every tumour's mass (kg) in input order."""
        value = self.masses_kg.get("tumors", [])
        return list(value) if isinstance(value, list) else [value]

    def json_dict(self) -> dict[str, Any]:
        """The result as plain JSON types (what the CLI prints and the service returns)."""
        return self.model_dump(mode="json")
