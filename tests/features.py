"""Which of the library's newer arguments exist yet (padding forms, modes, dtypes: issue 12).

Tests of the adapters sweep whatever the library accepts; the checks that need a missing feature
skip with the reason, so a run shows what was not covered.
"""

from __future__ import annotations

import numpy as np

import convtranspose as ct


def library_accepts(x: np.ndarray = np.ones((1, 1, 3)), w: np.ndarray = np.ones((1, 1, 2)), **kwargs) -> bool:
    """Whether ``conv_transpose(x, w, **kwargs)`` runs (a TypeError/ValueError means: not yet)."""
    try:
        ct.conv_transpose(x, w, **kwargs)
    except (TypeError, ValueError):
        return False
    return True


HAS_MODES = library_accepts(padding=1, padding_mode="reflect")
HAS_FORMS = library_accepts(padding="same") and library_accepts(padding=((1, 0),))
HAS_COMPLEX = library_accepts(np.ones((1, 1, 3), complex), np.ones((1, 1, 2), complex))
