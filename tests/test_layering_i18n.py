"""Layering of the zh/en catalogue and the web layer: each imports only what is below it.

Checked in a fresh interpreter, since this test session has long imported everything.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def _loaded_after(statement: str) -> list:
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "statement",
    ["import convtranspose.i18n", "from convtranspose.i18n import tr; tr('zh', 'check_yes')"],
)
def test_catalogue_loads_no_engine_and_no_numba(statement):
    loaded = _loaded_after(statement)
    heavy = [
        name
        for name in loaded
        if name.split(".")[0] == "numba"
        or name.startswith(("convtranspose.engine", "convtranspose.functional", "convtranspose.explain"))
        or name in ("convtranspose.modules", "convtranspose.render", "convtranspose.cli")
    ]
    assert heavy == [], f"{statement!r} pulled in {heavy}"
    assert "convtranspose.i18n" in loaded


def test_public_names_still_load_on_first_use():
    loaded = _loaded_after("import convtranspose; convtranspose.conv_transpose2d; convtranspose.ConvTranspose1d")
    assert "convtranspose.functional" in loaded and "convtranspose.modules" in loaded


def test_web_api_module_imports_no_server_stack():
    """The JSON API's request parsing and serialisation work without Starlette or uvicorn."""
    loaded = _loaded_after("import convtranspose.web.api")
    assert [name for name in loaded if name.split(".")[0] in ("starlette", "uvicorn", "matplotlib")] == []
    assert "convtranspose.cli" not in loaded
