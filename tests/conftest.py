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

import os

import pytest
from hypothesis import HealthCheck, settings

import convtranspose.engine

_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

settings.register_profile("ci", max_examples=1000, derandomize=True, print_blob=True, **_COMMON)
settings.register_profile("dev", max_examples=60, **_COMMON)


def _selected_profile() -> str:
    explicit = os.environ.get("HYPOTHESIS_PROFILE")
    if explicit:
        return explicit
    return "ci" if os.environ.get("CI", "").lower() == "true" else "dev"


settings.load_profile(_selected_profile())

ENGINE_PATHS = convtranspose.engine.available_paths()


def unavailable_paths() -> dict[str, str]:
    """Engine paths the library has but cannot run here, with the reason.

    Only a missing optional package excuses a path: if numba imports and ``gemm_jit`` is still
    missing, it stays a plain parameter and its tests fail (``use_path`` rejects the name).
    """
    missing: dict[str, str] = {}
    if "gemm_jit" not in ENGINE_PATHS:
        try:
            import numba  # noqa: F401
        except ImportError as error:
            missing["gemm_jit"] = f"numba cannot be imported ({error}; the 'jit' extra): the compiled path is not tested"
    return missing


UNAVAILABLE_PATHS = unavailable_paths()

#: Paths the library ships, whether or not they can run here.
EXPECTED_PATHS = ("gemm", "phase", "small", "gemm_jit")


def engine_path_params() -> list:
    """Every engine path as a pytest parameter; the ones that cannot run here marked skip."""
    skipped = [pytest.param(name, marks=pytest.mark.skip(reason=why)) for name, why in UNAVAILABLE_PATHS.items()]
    broken = [name for name in EXPECTED_PATHS if name not in ENGINE_PATHS and name not in UNAVAILABLE_PATHS]
    return list(ENGINE_PATHS) + skipped + broken


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
