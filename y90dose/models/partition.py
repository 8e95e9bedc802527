"""Partition (multi-compartment) model: tumours T_i, perfused normal liver N, lung L.

Forward from a normal-liver target (physics.md 4.3; Ho S et al., Eur J Nucl Med 1996;
MPPG14a):
    A = D_N x (sum_i TN_i x M_T,i + M_N) / (C x (1 - LSF) x (1 - R)),
    D_T,i = TN_i x D_N,  D_L = C x A x (1 - R) x LSF / M_L.
From a tumour target the normal-liver dose is D_T / TN; with several tumours the target
applies to the tumour of lowest TN (the least-dosed one), so every tumour receives at
least the prescription. Inverse from an activity:
    D_N = C x A x (1 - LSF) x (1 - R) / (sum_i TN_i x M_T,i + M_N).
TN is a ratio of activity *concentrations*. The perfused dose reported is the MIRD mean
over tumours plus normal liver (it is what the segmentectomy threshold is judged on).

Kao form (Kao YH et al., Cardiovasc Intervent Radiol 2014, doi:10.1007/s00270-013-0783-z,
Eqs. 1-3): a centre may give, instead of TN and LSF, the ratio of *total* activities
R_i = A_T,i / A_N (counts in the VOIs) and the tumour-to-lung shunt fraction
TLSF = A_L / (A_T + A_L) (the lungs' activity is shunted by the tumours). With one
density for tumours and normal liver:
    TN_i = R_i x V_N / V_T,i,
    LSF  = A_L / A_total = R x TLSF / (1 + R - TLSF),   R = sum_i R_i = A_T / A_N
(A_N = 1, A_T = R, A_L = TLSF x R / (1 - TLSF); A_total = A_N + A_T + A_L). Either form,
never both, for each of the two quantities.
"""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    SerializerFunctionWrapHandler,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import InitErrorDetails

from y90dose.checks import (
    activity_findings,
    compartment_findings,
    lsf_findings,
    lung_allowance_gy,
    lung_findings,
    segment_findings,
    segmentectomy_check,
    segmentectomy_findings,
)
from y90dose.lung import lung_dose_gy
from y90dose.models.common import (
    MAX_ACTIVITY_GBQ,
    MAX_DOSE_GY,
    MIN_ACTIVITY_GBQ,
    MIN_TN_RATIO,
    MIN_VOLUME_ML,
    PlanOptions,
    PlanResult,
    check_liver_holds,
    check_liver_used,
    constants_used,
    liver_volume_field,
)
from y90dose.models.lsf_bound import with_lsf_bound
from y90dose.settings import DEFAULT_SETTINGS, ClinicalSettings
from y90dose.spheres import embolic_load_findings, spheres_delivered
from y90dose.uncertainty.inputs import (
    DOSE_MEANING,
    PLAN_MEANING,
    UncertaintyOptionsWithTn,
    fraction_input,
    relative_input,
    standard_sds,
)
from y90dose.uncertainty.model import ModelArrays, Values
from y90dose.units import volume_ml_to_mass_kg

TumorVolumeMl = Annotated[float, Field(ge=MIN_VOLUME_ML, le=10000.0)]
NormalVolumeMl = Annotated[float, Field(ge=MIN_VOLUME_ML, le=10000.0)]
TnRatio = Annotated[float, Field(ge=MIN_TN_RATIO, le=1000.0)]
MAX_TN_RATIO = 1000.0
TotalRatio = Annotated[float, Field(gt=0.0, le=1000.0)]
"""R_i = A_T,i / A_N: positive; its TN (R_i x V_N / V_T,i) is held to the TN range."""
Fraction = Annotated[float, Field(ge=0.0, lt=1.0)]

KAO_TN = "tumor_to_normal_total_ratio"
KAO_LSF = "tumor_lung_shunt_fraction"


def _field_error(field: str, value: Any, allowed: str) -> InitErrorDetails:
    return InitErrorDetails(
        type="value_error", loc=(field,), input=value, ctx={"error": ValueError(allowed)}
    )


class _KaoForm(BaseModel):
    """The fields the Kao-form conversion reads, checked before it runs."""

    model_config = ConfigDict(frozen=True, extra="ignore", allow_inf_nan=False)

    tumor_volume_ml: list[TumorVolumeMl] = Field(min_length=1)
    normal_volume_ml: NormalVolumeMl
    tn_ratio: list[TnRatio] | None = Field(None, min_length=1)
    tumor_to_normal_total_ratio: list[TotalRatio] | None = Field(None, min_length=1)
    lsf: Fraction | None = None
    tumor_lung_shunt_fraction: Fraction | None = None

    def converted(self) -> dict[str, Any]:
        """``tn_ratio`` and ``lsf`` from the Kao form where it is given.

        Raises
        ------
        ValidationError
            Both forms given for one quantity, neither, R not paired with the tumours, or
            an R whose TN falls outside the TN range.
        """
        errors: list[InitErrorDetails] = []
        ratios = self.tumor_to_normal_total_ratio
        out: dict[str, Any] = {}
        if ratios is not None and self.tn_ratio is not None:
            errors.append(
                _field_error(
                    KAO_TN,
                    ratios,
                    "either tn_ratio (activity concentrations) or tumor_to_normal_total_ratio "
                    "(total activities, Kao form), not both",
                )
            )
        if self.tumor_lung_shunt_fraction is not None and self.lsf is not None:
            errors.append(
                _field_error(
                    KAO_LSF,
                    self.tumor_lung_shunt_fraction,
                    "either lsf (lung over lung + liver) or tumor_lung_shunt_fraction "
                    "(lung over lung + tumours, Kao form), not both",
                )
            )
        volumes = self.tumor_volume_ml
        if ratios is not None and len(ratios) != len(volumes):
            errors.append(
                _field_error(
                    KAO_TN,
                    ratios,
                    f"one ratio per tumour: {len(volumes)} tumor_volume_ml given but "
                    f"{len(ratios)} tumor_to_normal_total_ratio",
                )
            )
        if errors:
            raise ValidationError.from_exception_data("PartitionInput", errors)
        if ratios is not None:
            tn = [r * self.normal_volume_ml / v for r, v in zip(ratios, volumes, strict=True)]
            for index, (r, value) in enumerate(zip(ratios, tn, strict=True)):
                if not MIN_TN_RATIO <= value <= MAX_TN_RATIO:
                    errors.append(
                        _field_error(
                            KAO_TN,
                            ratios,
                            f"ratios whose TN = R x normal_volume_ml / tumor_volume_ml lies in "
                            f"{MIN_TN_RATIO:g}-{MAX_TN_RATIO:g}; tumour {index + 1}: {r:g} x "
                            f"{self.normal_volume_ml:g} / {volumes[index]:g} = {value:.4g}",
                        )
                    )
            if errors:
                raise ValidationError.from_exception_data("PartitionInput", errors)
            out["tn_ratio"] = tn
        tlsf = self.tumor_lung_shunt_fraction
        if tlsf is not None:
            concentration = out.get("tn_ratio", self.tn_ratio)
            if concentration is None or len(concentration) != len(volumes):
                return out  # the model reports tn_ratio missing or unpaired
            total_ratio = sum(
                tn * v / self.normal_volume_ml for tn, v in zip(concentration, volumes, strict=True)
            )
            out["lsf"] = kao_lsf(total_ratio, tlsf)
        return out


def kao_lsf(total_ratio: float, tumor_lung_shunt_fraction: float) -> float:
    """LSF = A_L / A_total = R x TLSF / (1 + R - TLSF), R = A_T / A_N (module docstring).

    Examples
    --------
    R = 0.5, TLSF = 0.2: A_N = 1, A_T = 0.5, A_L = 0.2 x 0.5 / 0.8 = 0.125, A_total =
    1.625, LSF = 0.125 / 1.625 = 0.076923.

    >>> round(kao_lsf(0.5, 0.2), 6)
    0.076923
    """
    return total_ratio * tumor_lung_shunt_fraction / (1.0 + total_ratio - tumor_lung_shunt_fraction)


class _PartitionGeometry(PlanOptions, UncertaintyOptionsWithTn):
    """Tumour volumes paired by position with their TN ratios, and the normal volume."""

    tumor_volume_ml: list[TumorVolumeMl] = Field(
        min_length=1, description="volume of each tumour (mL), paired with tn_ratio by position"
    )
    tn_ratio: list[TnRatio] = Field(
        min_length=1,
        description="tumour-to-normal activity-concentration ratio of each tumour",
    )
    normal_volume_ml: float = Field(
        ge=MIN_VOLUME_ML, le=10000.0, description="perfused non-tumoral liver volume (mL)"
    )
    liver_volume_ml: float | None = liver_volume_field()
    tumor_to_normal_total_ratio: list[TotalRatio] | None = Field(
        None,
        min_length=1,
        description="Kao form, instead of tn_ratio: each tumour's total activity over the "
        "normal liver's, R = A_T / A_N (VOI counts); TN = R x normal_volume_ml / "
        "tumor_volume_ml",
    )
    tumor_lung_shunt_fraction: float | None = Field(
        None,
        ge=0.0,
        lt=1.0,
        description="Kao form, instead of lsf: the lungs' activity over the tumours' and "
        "lungs', A_L / (A_T + A_L); LSF = A_L / A_total = R x TLSF / (1 + R - TLSF) with "
        "R = A_T / A_N",
    )

    @model_validator(mode="wrap")
    @classmethod
    def _kao_form(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        """Turn the Kao form into tn_ratio and lsf before the fields are validated."""
        if isinstance(data, dict) and (
            data.get(KAO_TN) is not None or data.get(KAO_LSF) is not None
        ):
            data = {**data, **_KaoForm.model_validate(data).converted()}
        return handler(data)

    @model_serializer(mode="wrap")
    def _given_form(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """The inputs as given: the Kao form without what was derived from it (so that
        they validate again), and no Kao keys when it was not used."""
        dumped: dict[str, Any] = handler(self)
        for kao, derived in ((KAO_TN, "tn_ratio"), (KAO_LSF, "lsf")):
            if getattr(self, kao) is None:
                dumped.pop(kao, None)
            else:
                dumped.pop(derived, None)
        return dumped

    def kao_details(self) -> dict[str, object]:
        """What the Kao form gave: the TN ratios and the LSF used (empty without it)."""
        details: dict[str, object] = {}
        if self.tumor_to_normal_total_ratio is not None:
            details["tn_ratio_from_total_ratio"] = list(self.tn_ratio)
        if self.tumor_lung_shunt_fraction is not None:
            details["lsf_from_tumor_lung_shunt_fraction"] = self.lsf
        return details

    @field_validator("tn_ratio")
    @classmethod
    def _paired(cls, ratios: list[float], info: ValidationInfo) -> list[float]:
        volumes = info.data.get("tumor_volume_ml")
        if volumes is not None and len(volumes) != len(ratios):
            raise ValueError(
                f"one tn_ratio per tumour: {len(volumes)} tumor_volume_ml given but "
                f"{len(ratios)} tn_ratio"
            )
        return ratios

    @field_validator("liver_volume_ml")
    @classmethod
    def _liver_holds_perfused(cls, liver_ml: float | None, info: ValidationInfo) -> float | None:
        tumors, normal = info.data.get("tumor_volume_ml"), info.data.get("normal_volume_ml")
        if tumors is not None and normal is not None:
            check_liver_holds(liver_ml, sum(tumors) + normal, "tumor_volume_ml + normal_volume_ml")
        check_liver_used(liver_ml, info.data)
        return liver_ml

    def perfused_volume_ml(self) -> float:
        """Tumours plus perfused normal liver (mL)."""
        return sum(self.tumor_volume_ml) + self.normal_volume_ml


class PartitionPlanInput(_PartitionGeometry):
    """Plan by partition model: exactly one of a normal-liver or a tumour target."""

    normal_dose_gy: float | None = Field(
        None, gt=0.0, le=2000.0, description="perfused normal-liver target dose (Gy)"
    )
    tumor_dose_gy: float | None = Field(
        None,
        gt=0.0,
        le=MAX_DOSE_GY,
        validate_default=True,
        description="target dose of the lowest-TN tumour (Gy)",
    )

    @field_validator("tumor_dose_gy")
    @classmethod
    def _one_target(cls, tumor_gy: float | None, info: ValidationInfo) -> float | None:
        if "normal_dose_gy" not in info.data:
            return tumor_gy  # normal_dose_gy itself failed and is reported
        if (info.data["normal_dose_gy"] is None) == (tumor_gy is None):
            raise ValueError("exactly one target: normal_dose_gy or tumor_dose_gy")
        return tumor_gy


class PartitionDoseInput(_PartitionGeometry):
    """Compartment doses by partition model from an activity."""

    activity_gbq: float = Field(
        ge=MIN_ACTIVITY_GBQ, le=MAX_ACTIVITY_GBQ, description="administered activity (GBq)"
    )


def weighted_mass_kg(
    tumor_masses_kg: list[float], tn_ratios: list[float], normal_mass_kg: float
) -> float:
    """sum_i TN_i x M_T,i + M_N: the mass the activity is shared over, in normal-liver units."""
    return sum(tn * m for tn, m in zip(tn_ratios, tumor_masses_kg, strict=True)) + normal_mass_kg


def partition_doses_gy(
    activity_gbq: Any,
    tumor_masses_kg: list[Any],
    tn_ratios: list[Any],
    normal_mass_kg: Any,
    lsf: Any,
    residual: float,
    energy_j_per_gbq: float,
) -> tuple[Any, Any, list[Any]]:
    """(perfused, normal, [tumour_i]) doses in Gy of ``activity_gbq`` (numbers or arrays).

    D_N = C x A x (1 - R) x (1 - LSF) / (sum_i TN_i x M_T,i + M_N), D_T,i = TN_i x D_N,
    perfused = the same energy over sum_i M_T,i + M_N.
    """
    liver_energy_j = energy_j_per_gbq * activity_gbq * (1.0 - residual) * (1.0 - lsf)
    normal_gy = liver_energy_j / weighted_mass_kg(tumor_masses_kg, tn_ratios, normal_mass_kg)
    perfused_gy = liver_energy_j / (sum(tumor_masses_kg) + normal_mass_kg)
    return perfused_gy, normal_gy, [tn * normal_gy for tn in tn_ratios]


def partition_activity_gbq(
    normal_dose_gy: Any,
    tumor_masses_kg: list[Any],
    tn_ratios: list[Any],
    normal_mass_kg: Any,
    lsf: Any,
    residual: float,
    energy_j_per_gbq: float,
) -> Any:
    """A = D_N x (sum_i TN_i x M_T,i + M_N) / (C x (1 - LSF) x (1 - R)) (numbers or arrays)."""
    return (
        normal_dose_gy
        * weighted_mass_kg(tumor_masses_kg, tn_ratios, normal_mass_kg)
        / (energy_j_per_gbq * (1.0 - lsf) * (1.0 - residual))
    )


def normal_target_gy(tumor_dose_gy: float, tn_ratios: list[Any]) -> Any:
    """Normal-liver dose that gives the lowest-TN tumour ``tumor_dose_gy``: D_T / min TN
    (numbers, or arrays of TN draws: the lowest in each draw)."""
    if all(isinstance(tn, int | float) for tn in tn_ratios):
        return tumor_dose_gy / min(tn_ratios)
    import numpy as np  # arrays: only when the uncertainty or curves are asked for

    return tumor_dose_gy / np.minimum.reduce(np.asarray(tn_ratios), axis=0)


def _partition_result(
    geometry: _PartitionGeometry,
    activity_gbq: float,
    direction: str,
    settings: ClinicalSettings,
    details: dict[str, object],
) -> PlanResult:
    energy = geometry.energy()
    tumor_masses = [
        volume_ml_to_mass_kg(v, geometry.density_g_ml) for v in geometry.tumor_volume_ml
    ]
    normal_mass = volume_ml_to_mass_kg(geometry.normal_volume_ml, geometry.density_g_ml)
    delivered_gbq = activity_gbq * (1.0 - geometry.residual)
    perfused_gy, normal_gy, tumor_gy = partition_doses_gy(
        activity_gbq,
        tumor_masses,
        geometry.tn_ratio,
        normal_mass,
        geometry.lsf,
        geometry.residual,
        energy,
    )
    lung_gy = lung_dose_gy(delivered_gbq, geometry.lsf, geometry.lung_mass_kg, energy)
    allowance_gy = lung_allowance_gy(geometry.prior_lung_dose_gy, settings)
    spheres = spheres_delivered(
        geometry.product,
        delivered_gbq,
        geometry.time_since_calibration_h,
        geometry.perfused_volume_ml(),
    )
    doses: dict[str, float | list[float]] = {"perfused": perfused_gy, "normal": normal_gy}
    if len(tumor_gy) == 1:
        doses["tumor"] = tumor_gy[0]
    doses["tumors"] = tumor_gy
    doses["lung"] = lung_gy
    doses["lung_cumulative"] = geometry.prior_lung_dose_gy + lung_gy
    findings = [
        *lsf_findings(geometry, settings),
        *lung_findings(lung_gy, geometry, settings),
        *segmentectomy_findings(perfused_gy, geometry, settings),
        *segment_findings(geometry, geometry.perfused_volume_ml(), geometry.liver_volume_ml),
        *compartment_findings(normal_gy, tumor_gy, geometry, settings),
        *activity_findings(activity_gbq, geometry),
        *embolic_load_findings(geometry.product, spheres),
    ]
    result = PlanResult(
        model="partition",
        direction=direction,
        product=geometry.product,
        delivery=geometry.delivery,
        activity_gbq=activity_gbq,
        delivered_activity_gbq=delivered_gbq,
        doses_gy=doses,
        masses_kg={
            "tumors": tumor_masses,
            "normal": normal_mass,
            "perfused": sum(tumor_masses) + normal_mass,
            "lung": geometry.lung_mass_kg,
        },
        lsf=geometry.lsf,
        residual=geometry.residual,
        findings=findings,
        constants=constants_used(geometry),
        details={**details, **geometry.kao_details()},
        segments=geometry.segments,
        segmentectomy=segmentectomy_check(geometry, settings),
        spheres=spheres,
    )
    return with_lsf_bound(result, allowance_gy)


def plan_partition(
    inputs: PartitionPlanInput, settings: ClinicalSettings = DEFAULT_SETTINGS
) -> PlanResult:
    """Activity that meets the normal-liver or tumour target, with every compartment dose.

    Examples
    --------
    40 Gy to 1200 mL normal liver, one 200 mL tumour at TN 3, LSF 6 %, glass:
    masses 1.236 kg and 0.206 kg; A = 40 x (3 x 0.206 + 1.236) / (50 x 0.94) = 1.5779 GBq.

    >>> r = plan_partition(PartitionPlanInput(normal_dose_gy=40, tumor_volume_ml=[200],
    ...     tn_ratio=[3], normal_volume_ml=1200, lsf=0.06))
    >>> round(r.activity_gbq, 4), round(r.doses_gy["tumor"], 6)
    (1.5779, 120.0)
    """
    if inputs.normal_dose_gy is not None:
        normal_gy = inputs.normal_dose_gy
        target = {"target": "normal", "target_dose_gy": normal_gy}
    else:
        assert inputs.tumor_dose_gy is not None  # guaranteed by the validator
        lowest = min(range(len(inputs.tn_ratio)), key=lambda i: inputs.tn_ratio[i])
        normal_gy = float(normal_target_gy(inputs.tumor_dose_gy, inputs.tn_ratio))
        target = {
            "target": "tumor",
            "target_dose_gy": inputs.tumor_dose_gy,
            "target_tumor_index": lowest,
        }
    tumor_masses = [volume_ml_to_mass_kg(v, inputs.density_g_ml) for v in inputs.tumor_volume_ml]
    normal_mass = volume_ml_to_mass_kg(inputs.normal_volume_ml, inputs.density_g_ml)
    activity = partition_activity_gbq(
        normal_gy,
        tumor_masses,
        inputs.tn_ratio,
        normal_mass,
        inputs.lsf,
        inputs.residual,
        inputs.energy(),
    )
    result = _partition_result(inputs, activity, "plan", settings, target)
    return _with_uncertainty(inputs, result, inputs.normal_dose_gy, inputs.tumor_dose_gy)


def dose_partition(
    inputs: PartitionDoseInput, settings: ClinicalSettings = DEFAULT_SETTINGS
) -> PlanResult:
    """Compartment doses that ``activity_gbq`` gives (the inverse of plan_partition)."""
    result = _partition_result(inputs, inputs.activity_gbq, "dose", settings, {})
    return _with_uncertainty(inputs, result, None, None)


def _with_uncertainty(
    inputs: _PartitionGeometry,
    result: PlanResult,
    normal_dose_gy: float | None,
    tumor_dose_gy: float | None,
) -> PlanResult:
    if not inputs.uncertainty_requested():
        return result
    model = partition_arrays(inputs, result, normal_dose_gy, tumor_dose_gy)
    uncertainty = model.propagate(draws=inputs.uncertainty_draws, seed=inputs.uncertainty_seed)
    return result.model_copy(update={"uncertainty": uncertainty})


def _tumor_keys(count: int) -> list[str]:
    """The names of the tumour doses: ``tumor`` for one, ``tumors[i]`` for several."""
    return ["tumor"] if count == 1 else [f"tumors[{i}]" for i in range(count)]


def partition_arrays(
    inputs: _PartitionGeometry,
    result: PlanResult,
    normal_dose_gy: float | None = None,
    tumor_dose_gy: float | None = None,
) -> ModelArrays:
    """The partition result as arrays of every tumour and the normal-liver volume, every
    TN ratio, the LSF, the activity and the lung mass, through
    :func:`partition_activity_gbq`, :func:`partition_doses_gy` and
    :func:`~y90dose.lung.lung_dose_gy` (a target dose given: a plan; none: a dose).

    The drivers at the top level are those of the tumour dose (the target tumour's, or the
    first's, with several).
    """
    count = len(inputs.tumor_volume_ml)
    tags = [""] if count == 1 else [f"[{i}]" for i in range(count)]
    sds = standard_sds(inputs, lung_mass_given="lung_mass_kg" in inputs.model_fields_set)
    planned_gbq = result.activity_gbq
    items = [
        *(
            relative_input(f"tumor_volume_ml{tag}", volume, sds["volume"])
            for tag, volume in zip(tags, inputs.tumor_volume_ml, strict=True)
        ),
        relative_input("normal_volume_ml", inputs.normal_volume_ml, sds["volume"]),
        *(
            relative_input(f"tn_ratio{tag}", tn, sds["tn"])
            for tag, tn in zip(tags, inputs.tn_ratio, strict=True)
        ),
        fraction_input("lsf", inputs.lsf, sds["lsf"]),
        relative_input("activity_gbq", planned_gbq, sds["activity"]),
        relative_input("lung_mass_kg", inputs.lung_mass_kg, sds["lung_mass"]),
    ]
    energy, residual, density = inputs.energy(), inputs.residual, inputs.density_g_ml
    tumor_keys = _tumor_keys(count)
    planning = normal_dose_gy is not None or tumor_dose_gy is not None

    def evaluate(v: Values) -> dict[str, Any]:
        tumor_masses = [volume_ml_to_mass_kg(v[f"tumor_volume_ml{t}"], density) for t in tags]
        normal_mass = volume_ml_to_mass_kg(v["normal_volume_ml"], density)
        tn = [v[f"tn_ratio{t}"] for t in tags]
        given_gbq = v["activity_gbq"]
        out: dict[str, Any] = {}
        if planning:
            target_gy = normal_dose_gy
            if target_gy is None:
                assert tumor_dose_gy is not None
                target_gy = normal_target_gy(tumor_dose_gy, tn)
            needed_gbq = partition_activity_gbq(
                target_gy, tumor_masses, tn, normal_mass, v["lsf"], residual, energy
            )
            out["activity_gbq"] = needed_gbq * planned_gbq / given_gbq
        perfused, normal, tumors = partition_doses_gy(
            given_gbq, tumor_masses, tn, normal_mass, v["lsf"], residual, energy
        )
        out["perfused"] = perfused
        out["normal"] = normal
        out.update(zip(tumor_keys, tumors, strict=True))
        lung = lung_dose_gy(given_gbq * (1.0 - residual), v["lsf"], v["lung_mass_kg"], energy)
        out["lung"] = lung
        return out

    expected = {
        "perfused": result.dose_gy("perfused"),
        "normal": result.dose_gy("normal"),
        **dict(zip(tumor_keys, result.tumor_doses_gy(), strict=True)),
        "lung": result.dose_gy("lung"),
    }
    if planning:
        expected["activity_gbq"] = planned_gbq
    target_index = int(result.details.get("target_tumor_index", 0))
    return ModelArrays(
        inputs=tuple(items),
        evaluate=evaluate,
        expected=expected,
        drivers_of=tumor_keys[target_index],
        meaning=PLAN_MEANING if planning else DOSE_MEANING,
        shifted={"lung_cumulative": ("lung", inputs.prior_lung_dose_gy)},
    )
