"""Uncertainty of planned and measured doses.

- :mod:`~y90dose.uncertainty.inputs`: the input SDs a plan or dose calculation accepts
  (``sd_volume_percent``, ``sd_tn_percent``, ``sd_lsf``, ``sd_activity_percent``,
  ``sd_lung_mass_percent``) and the literature defaults used for those not given;
- :mod:`~y90dose.uncertainty.propagation`: first-order (numerical derivatives) and
  sampled (seeded, vectorised) propagation through a model's own functions;
- :mod:`~y90dose.uncertainty.result`: the typed ``uncertainty`` block of a result;
- :mod:`~y90dose.uncertainty.recovery` and :mod:`~y90dose.uncertainty.voi`: the
  uncertainty of a VOI's mean dose in a voxel run (calibration, partial volume,
  delineation).

Importing this package imports none of its modules (a plan does not load scipy).
"""
