"""The package's layering holds: each layer, imported alone in a fresh interpreter, pulls in no layer
above it, and ``import convtranspose`` loads no optional dependency.

Layers, bottom to top (README "Layout")::

    errors, _checks -> spec, shape -> plan -> engine -> functional -> modules
        -> explain (trace model) -> render -> cli

A layer is imported with the package's ``__init__`` bypassed (the package is registered as a bare
namespace), so that what gets loaded is exactly what the layer's own imports reach.
"""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import convtranspose

PACKAGE = Path(convtranspose.__file__).parent

_ISOLATED = """
import importlib, importlib.util, json, sys, types
location = importlib.util.find_spec("convtranspose").submodule_search_locations
package = types.ModuleType("convtranspose")
package.__path__ = list(location)
sys.modules["convtranspose"] = package  # the layer alone, without the package's __init__
importlib.import_module(sys.argv[1])
print(json.dumps(sorted(sys.modules)))
"""

ABOVE_SHAPE = ["convtranspose.plan", "convtranspose.engine", "convtranspose.functional", "convtranspose.modules",
               "convtranspose.explain", "convtranspose.render", "convtranspose.cli", "convtranspose.bench"]
ABOVE_ENGINE = ABOVE_SHAPE[2:]
OPTIONAL = ["numba", "matplotlib", "torch", "PIL", "onnx", "onnxruntime", "scipy", "dask"]

#: Layer -> module prefixes it must not load.
RULES = {
    "convtranspose.errors": ABOVE_SHAPE + ["convtranspose.spec", "convtranspose.shape"] + OPTIONAL,
    "convtranspose._checks": ABOVE_SHAPE + ["convtranspose.spec", "convtranspose.shape"] + OPTIONAL,
    "convtranspose.spec": ABOVE_SHAPE + ["convtranspose.shape"] + OPTIONAL,
    "convtranspose.shape": ABOVE_SHAPE + OPTIONAL,
    "convtranspose.plan": ABOVE_SHAPE[1:] + OPTIONAL,
    "convtranspose.engine": ABOVE_ENGINE + OPTIONAL,
    "convtranspose.engine.cost": ABOVE_ENGINE + OPTIONAL,
    "convtranspose.engine.gemm_jit": ABOVE_ENGINE + OPTIONAL,  # the path module: numba only on first use
    "convtranspose.functional": ABOVE_ENGINE[1:] + OPTIONAL,
    "convtranspose.modules": ABOVE_ENGINE[2:] + OPTIONAL,
    "convtranspose.explain": ["convtranspose.render", "convtranspose.cli", "convtranspose.bench"] + OPTIONAL,
    "convtranspose.render.text": ["convtranspose.cli", "convtranspose.bench", "matplotlib", "numba", "torch"],
    # The zh/en catalogue: used by render, cli and web, it loads no engine and no numba.
    "convtranspose.i18n": ABOVE_SHAPE + ["convtranspose.spec", "convtranspose.shape"] + OPTIONAL,
    # The web API's parsing and the page need no server stack (Starlette, uvicorn) and no CLI.
    "convtranspose.web.api": ["convtranspose.cli", "convtranspose.bench", "starlette", "uvicorn"] + OPTIONAL,
    "convtranspose.web.page": ["convtranspose.cli", "convtranspose.bench", "starlette", "uvicorn"] + OPTIONAL,
}


def _loaded(module: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", _ISOLATED, module], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"importing {module} alone failed:\n{result.stderr[-2000:]}"
    return json.loads(result.stdout)


def _offenders(loaded: list[str], forbidden: list[str]) -> list[str]:
    return [m for m in loaded if any(m == f or m.startswith(f + ".") for f in forbidden)]


@pytest.mark.parametrize("layer", list(RULES))
def test_a_layer_pulls_in_no_layer_above_it(layer):
    assert not _offenders(_loaded(layer), RULES[layer]), f"{layer} imports layers above it or optional packages"


def test_the_catalogue_through_the_package_loads_no_engine():
    """``convtranspose/__init__`` loads its public names lazily, so the catalogue stays light."""
    result = subprocess.run(
        [sys.executable, "-c", "import convtranspose.i18n, json, sys; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True, text=True, timeout=120, check=True,
    )
    assert not _offenders(json.loads(result.stdout), ABOVE_SHAPE + ["convtranspose.spec"] + OPTIONAL)


def test_importing_the_package_loads_no_optional_dependency():
    result = subprocess.run(
        [sys.executable, "-c", "import convtranspose, json, sys; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True, text=True, timeout=120, check=True,
    )
    assert not _offenders(json.loads(result.stdout), OPTIONAL)


def _imported_names(path: Path) -> list[tuple[str, str]]:
    """``(module, name)`` for every ``from module import name`` in a source file (relative
    modules resolved against the package)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(("convtranspose",) + path.relative_to(PACKAGE).parent.parts)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            found += [(base, alias.name) for alias in node.names]
    return found


SOURCES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_private_name_is_imported_across_modules(path):
    private = [
        f"{module}.{name}" for module, name in _imported_names(path)
        if module.startswith("convtranspose") and name.startswith("_") and not name.startswith("__")
    ]
    assert not private, f"{path.name} imports private names: {private}"


@pytest.mark.parametrize("path", sorted((PACKAGE / "engine").glob("*.py")), ids=lambda p: p.name)
def test_the_engine_reads_the_geometry_not_the_padding_arguments(path):
    """Kernels see crops only as ``AxisGeometry.crop_start`` and ``output`` lengths, so new padding
    forms (asymmetric, 'same') need no engine change."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    uses = sorted({node.attr for node in ast.walk(tree)
                   if isinstance(node, ast.Attribute) and node.attr in ("padding", "pads", "pad_before", "pad_after")})
    assert not uses, f"{path.name} reads {uses}; use the geometry's crop_start and output"
