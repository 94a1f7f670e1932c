"""Explainer: the trace model of a transposed convolution (see :mod:`.trace`)."""

from .trace import *  # noqa: F401,F403
from .trace import __all__ as _trace_all

__all__ = list(_trace_all)
