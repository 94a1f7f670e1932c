"""Root pytest configuration, shared by ``tests/`` and the doctests collected from ``src/``.

* The import blocker (``tests/blocker/import_blocker.py``): with
  ``CONVTRANSPOSE_TEST_BLOCK=torch,numba,matplotlib`` those packages cannot be imported, so one
  machine proves that the suite collects and passes without them (``.ci/run``'s second run).
* Doctests of a module that needs an optional package which is not installed are reported as
  SKIPPED with the package's name (``-ra``) instead of failing collection; any other import error
  still fails.
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

#: Optional packages (extras) that a module's doctests may need; a missing one skips them.
OPTIONAL_PACKAGES = frozenset({"matplotlib", "PIL", "numba", "torch", "onnx", "onnxruntime", "tqdm", "threadpoolctl"})


def _module_name(path: Path) -> str:
    """The dotted name of a file inside a package (walking up while ``__init__.py`` exists)."""
    parts = [path.stem]
    folder = path.parent
    while (folder / "__init__.py").exists():
        parts.insert(0, folder.name)
        folder = folder.parent
    return ".".join(parts)


@pytest.hookimpl(tryfirst=True)
def pytest_make_collect_report(collector):
    if not isinstance(collector, DoctestModule) or SOURCE not in collector.path.parents:
        return None
    try:
        importlib.import_module(_module_name(collector.path))
    except ModuleNotFoundError as error:
        package = (error.name or "").partition(".")[0]
        if package in OPTIONAL_PACKAGES:
            reason = f"Skipped: the doctests need the optional package {package!r}, which is not installed"
            return CollectReport(collector.nodeid, "skipped", (str(collector.path), 0, reason), [])
    except Exception:  # noqa: BLE001 - any other import error: the doctest collector reports it
        pass
    return None


def pytest_report_header(config):
    if BLOCKED:
        return [f"import blocker: {', '.join(sorted(BLOCKED))} cannot be imported (CONVTRANSPOSE_TEST_BLOCK)"]
    return []
