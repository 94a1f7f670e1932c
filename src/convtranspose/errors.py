"""Exception types raised by convtranspose.

Every error about the arguments is a subclass of the built-in :class:`ValueError` or
:class:`TypeError`, so code that already catches those keeps working, and code that wants to tell
convtranspose's own errors apart can catch :class:`ConvTransposeError`. A call whose arguments are
valid but whose arrays do not fit in memory raises :class:`OutOfMemoryError`, a
:class:`MemoryError`.
"""

from __future__ import annotations

__all__ = [
    "ConvTransposeError",
    "ParameterError",
    "ParameterTypeError",
    "ShapeError",
    "OutputSizeError",
    "DTypeError",
    "OutOfMemoryError",
]


class ConvTransposeError(Exception):
    """Base class of every error raised by convtranspose."""


class ParameterError(ConvTransposeError, ValueError):
    """A hyper-parameter (stride, padding, dilation, groups, ...) has an invalid value."""


class ParameterTypeError(ConvTransposeError, TypeError):
    """A hyper-parameter has the wrong type (e.g. a float stride, a tuple of the wrong kind)."""


class ShapeError(ConvTransposeError, ValueError):
    """An array's shape does not fit the operation (rank, channels, bias length, ...)."""


class OutputSizeError(ShapeError):
    """The requested or computed output size is impossible for the given input and parameters."""


class DTypeError(ConvTransposeError, TypeError):
    """An array has an unsupported dtype, or the operands' dtypes do not match."""


class OutOfMemoryError(ConvTransposeError, MemoryError):
    """A valid call needs more memory than the machine can give (e.g. an enormous output)."""
