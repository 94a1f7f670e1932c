"""Root pytest configuration, shared by ``tests/`` and the doctests collected from ``src/``.

* The import blocker (``tests/blocker/import_blocker.py``): with
  ``CONVTRANSPOSE_TEST_BLOCK=torch,numba,matplotlib`` those packages cannot be imported, so one
  machine proves that the suite collects and passes without them (``.ci/run``'s second run).
* Doctests of a module that needs an optional package which is not installed -- the adapters
  (``convtranspose.onnx``, ``convtranspose.torch``, ``convtranspose.scipy``), the figures, the
  compiled kernels -- are reported as SKIPPED with the package's name (``-ra``) instead of failing
  collection. NumPy is the only runtime dependency, so a missing module other than ``numpy`` or
  ``convtranspose.*`` is an optional one; those still fail.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

import pytest
from _pytest.doctest import DoctestModule
from _pytest.reports import CollectReport

ROOT = Path(__file__).resolve().parent
SOURCE = ROOT / "src"


def _load_blocker():
    spec = importlib.util.spec_from_file_location("import_blocker", ROOT / "tests" / "blocker" / "import_blocker.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BLOCKED = _load_blocker().install_from_env()

#: Modules that import an optional package lazily (so importing the module works without it) while
#: their docstring examples need it.
DOCTESTS_NEED = {"convtranspose.onnx": "onnx"}

_REQUIRED = frozenset({"numpy", "convtranspose"})


def _module_name(path: Path) -> str:
    """The dotted name of a file inside a package (walking up while ``__init__.py`` exists)."""
    parts = [path.stem]
    folder = path.parent
    while (folder / "__init__.py").exists():
        parts.insert(0, folder.name)
        folder = folder.parent
    return ".".join(parts)


def _skipped(collector: DoctestModule, package: str) -> CollectReport:
    reason = f"Skipped: the doctests need the optional package {package!r}, which is not installed"
    return CollectReport(collector.nodeid, "skipped", (str(collector.path), 0, reason), [])


@pytest.hookimpl(tryfirst=True)
def pytest_make_collect_report(collector):
    if not isinstance(collector, DoctestModule) or SOURCE not in collector.path.parents:
        return None
    name = _module_name(collector.path)
    needed = DOCTESTS_NEED.get(name)
    if needed is not None and importlib.util.find_spec(needed) is None:
        return _skipped(collector, needed)
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as error:
        package = (error.name or "").partition(".")[0]
        if package and package not in _REQUIRED:
            return _skipped(collector, package)
    except Exception:  # noqa: BLE001 - any other import error: the doctest collector reports it
        pass
    return None


def pytest_report_header(config):
    if BLOCKED:
        return [f"import blocker: {', '.join(sorted(BLOCKED))} cannot be imported (CONVTRANSPOSE_TEST_BLOCK)"]
    return []
