"""Each VOI's mean-dose uncertainty in a voxel run (:mod:`y90dose.uncertainty.voi`), with
the run's defaults: the calibration SD and the image resolution.

- calibration: ``sd_calibration_percent`` if given; else the dose calibrator's
  (:data:`~y90dose.constants.SD_ACTIVITY_PERCENT`, 5 %) when the image was scaled to an
  administered (or planned) activity, or the image's own Bq/mL calibration's
  (:data:`~y90dose.constants.SD_IMAGE_CALIBRATION_PERCENT`, 10 %) when it was not;
- resolution: ``resolution_fwhm_mm`` if given; else by the image's modality
  (:data:`~y90dose.constants.RESOLUTION_FWHM_MM`: PET 8 mm, SPECT and unknown 15 mm).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from y90dose.constants import (
    RESOLUTION_FWHM_MM,
    SD_ACTIVITY_PERCENT,
    SD_IMAGE_CALIBRATION_PERCENT,
)
from y90dose.dvh import VoiDoseMetrics
from y90dose.imaging.image import Image
from y90dose.pipeline.options import VoxelOptions
from y90dose.uncertainty.voi import VoiMeanUncertainty, voi_mean_uncertainty


def calibration_sd(options: VoxelOptions) -> tuple[float, str]:
    """The calibration SD (percent) of a run and where it comes from."""
    if options.sd_calibration_percent is not None:
        return options.sd_calibration_percent, "given"
    if options.activity_gbq is not None:
        constant = SD_ACTIVITY_PERCENT
        return constant.value, f"default, image scaled to activity_gbq: {constant.source}"
    constant = SD_IMAGE_CALIBRATION_PERCENT
    return constant.value, f"default, the image's own calibration: {constant.source}"


def resolution_fwhm(options: VoxelOptions, image: Image) -> tuple[float, str]:
    """The image resolution (FWHM, mm) of a run and where it comes from."""
    if options.resolution_fwhm_mm is not None:
        return options.resolution_fwhm_mm, "given"
    constant = RESOLUTION_FWHM_MM.get(image.modality or "", RESOLUTION_FWHM_MM["NM"])
    return constant.value, f"default for modality {image.modality or 'unknown'}: {constant.source}"


def voi_uncertainties(
    dose_gy: npt.NDArray[np.floating],
    vois: Mapping[str, npt.NDArray[np.bool_]],
    spacing_zyx_mm: tuple[float, float, float],
    metrics: Mapping[str, VoiDoseMetrics],
    options: VoxelOptions,
    image: Image,
) -> dict[str, VoiMeanUncertainty]:
    """The mean-dose uncertainty of every VOI of ``metrics``."""
    sd_percent, sd_source = calibration_sd(options)
    fwhm_mm, fwhm_source = resolution_fwhm(options, image)
    return {
        name: voi_mean_uncertainty(
            dose_gy,
            vois[name],
            spacing_zyx_mm,
            voi.mean_gy,
            calibration_sd_percent=sd_percent,
            calibration_source=sd_source,
            resolution_fwhm_mm=fwhm_mm,
            resolution_source=fwhm_source,
        )
        for name, voi in metrics.items()
    }
