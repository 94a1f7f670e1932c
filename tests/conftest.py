"""Shared pytest configuration: hypothesis profiles and engine-path parametrization.

Hypothesis profiles
    ``ci``   -- selected automatically when the environment has ``CI=true``: many examples per
                property (the forward sweeps then check thousands of configurations), derandomized
                so a CI run is reproducible.
    ``dev``  -- the default: a quick local run.
    Override with ``HYPOTHESIS_PROFILE=<name>``. Both profiles disable the per-example deadline
    (the naive reference's Python loops and first-call warm-up would trip it spuriously).

Engine paths
    Any test function with an ``engine_path`` argument is parametrized over
    ``convtranspose.engine.available_paths()``, so every path the library registers -- including
    ones added later -- is exercised without editing the tests. Tests run their numeric calls under
    ``with convtranspose.engine.use_path(engine_path):``. (This is direct parametrization, not a
    fixture, so hypothesis-driven tests can take it too.) A path that cannot run here (``gemm_jit``
    without numba) is still a parameter, marked skip with the reason, so it shows as SKIPPED in
    ``-ra`` instead of vanishing from the run.

The shared oracles, per-dimension tables and ``assert_close`` live in ``oracle.py``; the import
blocker and the doctest handling of missing optional packages in the root ``conftest.py``.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from oracle import ENGINE_PATHS, UNAVAILABLE_PATHS, engine_path_params

_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# ``ci`` keeps CI inside its time budget now that the sweeps include torch double-backward, onnxruntime
# sessions, dask graphs and gradcheck per example; ``thorough`` is the former CI depth, for a local run.
settings.register_profile("ci", max_examples=100, derandomize=True, print_blob=True, **_COMMON)
settings.register_profile("thorough", max_examples=1000, derandomize=True, print_blob=True, **_COMMON)
settings.register_profile("dev", max_examples=60, **_COMMON)


def _selected_profile() -> str:
    explicit = os.environ.get("HYPOTHESIS_PROFILE")
    if explicit:
        return explicit
    return "ci" if os.environ.get("CI", "").lower() == "true" else "dev"


settings.load_profile(_selected_profile())


def pytest_generate_tests(metafunc):
    if "engine_path" in metafunc.fixturenames:
        metafunc.parametrize("engine_path", engine_path_params())


def pytest_report_header(config):
    return [
        f"hypothesis profile: {settings.get_current_profile_name()} "
        f"(max_examples={settings.default.max_examples})",
        f"convtranspose engine paths: {', '.join(ENGINE_PATHS)}"
        + "".join(f"; {name} unavailable: {why}" for name, why in UNAVAILABLE_PATHS.items()),
    ]


@pytest.fixture(scope="session")
def upscale_example():
    """``examples/upscale_large.py`` imported as the module ``upscale_large``.

    The examples directory goes on ``sys.path`` first, so that the dask worker processes the
    tests start (which inherit this process's ``sys.path``) can import it too: they unpickle its
    functions by reference.
    """
    examples = str(Path(__file__).resolve().parent.parent / "examples")
    if examples not in sys.path:
        sys.path.insert(0, examples)
    return importlib.import_module("upscale_large")
