"""Make chosen top-level packages unimportable, to prove the suite runs without optional packages.

``CONVTRANSPOSE_TEST_BLOCK=torch,numba,matplotlib`` names the packages. :func:`install_from_env`
puts a finder first on ``sys.meta_path`` that raises :class:`ModuleNotFoundError` (what a missing
package raises) for them and every submodule, and makes ``importlib.util.find_spec`` return None for
them, so ``import torch``, ``pytest.importorskip("torch")``, ``try: import numba / except
ImportError`` and ``find_spec("torch") is None`` all behave as on a machine without them.

It is installed at interpreter start-up by ``sitecustomize.py`` in this directory (put the directory
on ``PYTHONPATH``: then subprocesses started by the tests are blocked too), and again by the root
``conftest.py`` (harmless if already installed). ``.ci/run``'s second run uses it.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from importlib.abc import MetaPathFinder

ENV = "CONVTRANSPOSE_TEST_BLOCK"


class ImportBlocker(MetaPathFinder):
    """A ``sys.meta_path`` finder refusing the top-level packages in ``blocked``."""

    def __init__(self, blocked: frozenset[str]):
        self.blocked = blocked

    def find_spec(self, fullname, path=None, target=None):
        top = fullname.partition(".")[0]
        if top in self.blocked:
            raise ModuleNotFoundError(f"No module named {fullname!r} (blocked by {ENV})", name=fullname)
        return None


def blocked_names() -> frozenset[str]:
    """The package names in the environment variable (empty if unset)."""
    return frozenset(name.strip() for name in os.environ.get(ENV, "").split(",") if name.strip())


def install_from_env() -> frozenset[str]:
    """Install the blocker for the names in ``CONVTRANSPOSE_TEST_BLOCK`` (once); return them.

    Refuses (RuntimeError) if one of them was already imported: blocking it then would be a lie.
    """
    names = blocked_names()
    if not names or any(isinstance(f, ImportBlocker) for f in sys.meta_path):
        return names
    loaded = sorted(m for m in sys.modules if m.partition(".")[0] in names)
    if loaded:
        raise RuntimeError(f"{ENV}: {', '.join(loaded)} already imported before the blocker was installed")
    sys.meta_path.insert(0, ImportBlocker(names))
    _find_spec = importlib.util.find_spec

    def find_spec(name, package=None):
        """As for a package that is not installed: None (the finder raises only on import)."""
        if name.partition(".")[0] in names:
            return None
        return _find_spec(name, package)

    importlib.util.find_spec = find_spec
    return names
