"""Small argument checks shared by every layer of the package (public names, no dependencies).

* :func:`is_int` -- Python and NumPy integers, but not ``bool`` (``True`` is not a stride);
* :func:`as_array` -- an operand as a plain ndarray, masked arrays refused.
"""

from __future__ import annotations

import numbers
from typing import TypeGuard

import numpy as np

from .errors import ParameterTypeError, ShapeError

__all__ = ["is_int", "as_array"]


def is_int(value: object) -> TypeGuard[int]:
    """True for Python and NumPy integers, False for bool (``True`` is not a stride).

    (Typed as a guard for ``int``: NumPy integers behave as ints wherever the package uses them.)

    Examples
    --------
    >>> is_int(3), is_int(np.int64(3)), is_int(True), is_int(3.0)
    (True, True, False, False)
    """
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def as_array(name: str, value: object) -> np.ndarray:
    """``value`` as a plain ndarray (a view of an ndarray subclass; masked arrays are refused)."""
    if type(value) is np.ndarray:
        return value
    if isinstance(value, np.ma.MaskedArray):
        raise ParameterTypeError(
            f"{name} is a masked array; masked entries have no value to convolve, so pass "
            f"{name}.filled(v) with the value v they should take"
        )
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise ShapeError(f"{name} cannot be made into a rectangular array of numbers ({exc})") from exc
