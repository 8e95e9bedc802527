"""The worked examples in the planning and voxel modules' docstrings are run as tests."""

import doctest
import importlib

import pytest

MODULES = [
    "y90dose",
    "y90dose.decay",
    "y90dose.lung",
    "y90dose.models.mird",
    "y90dose.models.partition",
    "y90dose.models.bsa",
    "y90dose.models.lsf_bound",
    "y90dose.models.treatment",
    "y90dose.spheres",
    "y90dose.radiobiology",
    "y90dose.dicomnet.destinations",
    "y90dose.pipeline.structure_set",
    "y90dose.pipeline.options",
    "y90dose.pipeline.voxel_run",
    "y90dose.voxel.heterogeneous",
    "y90dose.pipeline.figures",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
