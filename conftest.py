"""Root pytest configuration: skip the doctests of adapters whose optional package is missing.

The adapters (``convtranspose.onnx``, ``convtranspose.torch``, ``convtranspose.scipy``) import their
package lazily or on import; their docstring examples need it. Without it, pytest does not collect
them (the tests under ``tests/`` skip with a reason through ``pytest.importorskip``).
"""

from __future__ import annotations

import importlib.util

_ADAPTERS = {"onnx": "onnx", "torch": "torch", "scipy": "scipy"}

collect_ignore = [
    f"src/convtranspose/{module}.py"
    for module, package in _ADAPTERS.items()
    if importlib.util.find_spec(package) is None
]
