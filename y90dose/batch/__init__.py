"""Cohort dosimetry: one ``y90dose voxel`` run per manifest row, on Dask, resumable.

- :mod:`.manifest`: the CSV of studies and their options, checked before anything runs;
- :mod:`.study_run`: one study on a worker (skipped when done for the same inputs;
  written to a temporary folder, then renamed);
- :mod:`.engine`: :func:`run_batch` over a local cluster or a scheduler's address;
- :mod:`.summary`: ``summary.csv`` / ``summary.parquet`` and ``failures.csv``.

Dask is the ``batch`` extra (``pip install 'y90dose[batch]'``); nothing else in the
library imports this package.
"""
