"""Activity-dose curves: how a plan's doses move with the activity, the TN ratio and the LSF.

A plan's compartment doses are linear in the administered activity; against the TN ratio
and the lung shunt fraction (at the planned activity) they are not. The curves are
evaluated through the model's own functions (the same arrays the uncertainty propagates
through, :class:`~y90dose.uncertainty.propagation.ModelArrays`), one input swept and the
others at their values:

- against the activity: 2.5 % to 200 % of the planned (or given) activity;
- against the TN ratio (partition): every tumour's TN scaled by 0.25 to 3;
- against the LSF: 0 to max(0.3, 2 x LSF), at most 0.5.

A compartment model gives one dose per compartment (its mean): D70 and V100 belong to dose
distributions, so the plan curves hold ``mean_gy`` only; a voxel run's curves
(:mod:`y90dose.pipeline.curves`) add ``d70_gy`` and ``v100_percent``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from y90dose.models.bsa import BsaPlanInput, bsa_arrays
from y90dose.models.common import PlanResult
from y90dose.models.mird import MirdDoseInput, MirdPlanInput, mird_arrays
from y90dose.models.partition import PartitionDoseInput, PartitionPlanInput, partition_arrays
from y90dose.settings import DEFAULT_SETTINGS, ClinicalSettings
from y90dose.uncertainty.model import ACTIVITY_OUTPUT, ModelArrays

CURVE_POINTS = 41
"""Evenly spaced points of each curve (the plan's own value is added to them)."""
ACTIVITY_RANGE = (0.025, 2.0)
"""The activity axis, as fractions of the planned activity."""
TN_SCALE_RANGE = (0.25, 3.0)
"""The TN axis, as factors on every tumour's TN ratio."""
LSF_AXIS_MIN_TOP = 0.3
LSF_AXIS_MAX_TOP = 0.5
"""The LSF axis ends at max(0.3, 2 x LSF), at most 0.5."""


class Curve(BaseModel):
    """Doses against one swept quantity; ``series[name][metric]`` pairs with ``x``."""

    model_config = ConfigDict(frozen=True)

    x_name: str = Field(description="activity_gbq, tn_scale or lsf")
    x_label: str
    x: list[float]
    nominal_x: float = Field(description="the plan's (or run's) own value of x")
    held: str = Field(description="what is held at its value while x varies")
    series: dict[str, dict[str, list[float]]] = Field(
        description="compartment or VOI -> metric (mean_gy, d70_gy, v100_percent) -> values"
    )


class ActivityDoseCurves(BaseModel):
    """The activity-dose curves of a plan or a voxel run (``curves`` in ``--json``)."""

    model_config = ConfigDict(frozen=True)

    source: str = Field(description="plan (model) or voxel run")
    activity_gbq: float = Field(description="the plan's or run's activity (GBq)")
    against_activity: Curve
    against_tn: Curve | None = Field(None, description="partition plans")
    against_lsf: Curve | None = Field(None, description="plans")
    limits_gy: dict[str, float] = Field(description="dose limits drawn on the figure")
    notes: list[str] = Field(default_factory=list)

    def curves(self) -> list[Curve]:
        """The curves present, in figure order."""
        return [c for c in (self.against_activity, self.against_tn, self.against_lsf) if c]


def plan_arrays(inputs: BaseModel, result: PlanResult) -> ModelArrays:
    """The model of ``result`` as arrays (see each model's ``*_arrays``)."""
    if isinstance(inputs, MirdPlanInput):
        return mird_arrays(inputs, result, inputs.target_dose_gy)
    if isinstance(inputs, MirdDoseInput):
        return mird_arrays(inputs, result, None)
    if isinstance(inputs, PartitionPlanInput):
        return partition_arrays(inputs, result, inputs.normal_dose_gy, inputs.tumor_dose_gy)
    if isinstance(inputs, PartitionDoseInput):
        return partition_arrays(inputs, result)
    if isinstance(inputs, BsaPlanInput):
        return bsa_arrays(inputs, result)
    raise TypeError(f"no activity-dose curves for {type(inputs).__name__}")


def axis(low: float, high: float, nominal: float, points: int) -> np.ndarray:
    """``points`` evenly spaced values from ``low`` to ``high``, and ``nominal`` among them
    (the plan's own point is on every curve)."""
    return np.union1d(np.linspace(low, high, points), [nominal])


def _sweep(model: ModelArrays, swept: dict[str, Any]) -> dict[str, dict[str, list[float]]]:
    """Every dose of ``model`` with the ``swept`` inputs set and the others at their values."""
    count = len(next(iter(swept.values())))
    values = {item.name: np.full(count, item.value) for item in model.inputs}
    values.update({name: np.asarray(x, dtype=np.float64) for name, x in swept.items()})
    outputs = model.evaluate(values)
    return {
        name: {"mean_gy": np.broadcast_to(np.asarray(value, dtype=np.float64), count).tolist()}
        for name, value in outputs.items()
        if name != ACTIVITY_OUTPUT
    }


def plan_curves(
    inputs: BaseModel,
    result: PlanResult,
    settings: ClinicalSettings = DEFAULT_SETTINGS,
    *,
    points: int = CURVE_POINTS,
) -> ActivityDoseCurves:
    """Doses of a plan against the activity and, at the planned activity, the TN and LSF.

    Examples
    --------
    MIRD, 3 GBq to 1165 mL (1.19995 kg), LSF 0.08: D = 50 x A x 0.92 / 1.19995, i.e.
    38.335 Gy per GBq; at 6 GBq (the last point) 230.0 Gy.

    >>> from y90dose.models.mird import dose_mird
    >>> i = MirdDoseInput(activity_gbq=3, perfused_volume_ml=1165, lsf=0.08)
    >>> c = plan_curves(i, dose_mird(i))
    >>> c.against_activity.x[-1], round(c.against_activity.series["perfused"]["mean_gy"][-1], 1)
    (6.0, 230.0)
    """
    model = plan_arrays(inputs, result)
    activity = model.input("activity_gbq").value
    low, high = ACTIVITY_RANGE
    x_activity = axis(low * activity, high * activity, activity, points)
    held = f"the {'planned' if result.direction == 'plan' else 'given'} activity {activity:.4g} GBq"
    against_activity = Curve(
        x_name="activity_gbq",
        x_label="administered activity (GBq)",
        x=x_activity.tolist(),
        nominal_x=activity,
        held="every other input at its value",
        series=_sweep(model, {"activity_gbq": x_activity}),
    )
    tn_names = [item.name for item in model.inputs if item.name.startswith("tn_ratio")]
    against_tn = None
    if tn_names:
        scale = axis(*TN_SCALE_RANGE, 1.0, points)
        tn_values = {name: model.input(name).value * scale for name in tn_names}
        against_tn = Curve(
            x_name="tn_scale",
            x_label="TN ratio / planned TN ratio",
            x=scale.tolist(),
            nominal_x=1.0,
            held=f"{held}; every tumour's TN scaled alike",
            series=_sweep(model, tn_values),
        )
    lsf = model.input("lsf").value
    top = min(LSF_AXIS_MAX_TOP, max(LSF_AXIS_MIN_TOP, 2.0 * lsf))
    x_lsf = axis(0.0, top, lsf, points)
    notes = []
    if result.model == "bsa":
        notes.append(
            "BSA: the curves against the LSF hold the planned activity; the method's own "
            "activity changes in steps with the LSF (its reduction bands)"
        )
    return ActivityDoseCurves(
        source=f"plan ({result.model}, {result.direction})",
        activity_gbq=activity,
        against_activity=against_activity,
        against_tn=against_tn,
        against_lsf=Curve(
            x_name="lsf",
            x_label="lung shunt fraction",
            x=x_lsf.tolist(),
            nominal_x=lsf,
            held=held,
            series=_sweep(model, {"lsf": x_lsf}),
        ),
        limits_gy={"lung": settings.lung_dose_limit_gy},
        notes=notes,
    )
