"""Operand dtypes: which are accepted, what each is computed in, and what is returned.

======================  ===============  ===================================================
operand dtype           computed in      notes
======================  ===============  ===================================================
float32, float64        itself
float16, bfloat16       float32          rounded back on return (bfloat16 is ``ml_dtypes``')
complex64, complex128   itself           gradients are PyTorch's: ``A^H g`` (conjugate)
int64                   int64            exact integer arithmetic, wraps on overflow (torch's
                                         CPU kernel); no other integer dtype, as in torch
======================  ===============  ===================================================

All operands share one dtype (PyTorch's rule: a real and a complex operand are not mixed, an
integer and a float operand neither). bfloat16 arrays are ``ml_dtypes.bfloat16`` NumPy arrays
(``pip install ml_dtypes``, the ``bf16`` extra); a torch ``bfloat16`` tensor can be passed directly
and comes back as such a NumPy array.
"""

from __future__ import annotations

import sys
from typing import Optional

import numpy as np

from ._checks import as_array
from .errors import DTypeError

__all__ = [
    "BFLOAT16",
    "SUPPORTED_DTYPES",
    "compute_dtype",
    "is_complex",
    "supported_names",
    "check_dtype",
    "from_torch_bfloat16",
    "as_operand",
]

try:  # optional: NumPy has no bfloat16 of its own
    import ml_dtypes

    BFLOAT16: Optional[np.dtype] = np.dtype(ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover - depends on the environment
    BFLOAT16 = None

_BASE = tuple(np.dtype(t) for t in (np.float16, np.float32, np.float64, np.complex64, np.complex128, np.int64))
#: Operand dtypes accepted by the public functions.
SUPPORTED_DTYPES: tuple[np.dtype, ...] = _BASE if BFLOAT16 is None else _BASE[:1] + (BFLOAT16,) + _BASE[1:]
_FLOAT32 = np.dtype(np.float32)


def compute_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype the engine computes in: float16 and bfloat16 in float32, the others in their own.

    Examples
    --------
    >>> compute_dtype(np.dtype(np.float16)), compute_dtype(np.dtype(np.complex64))
    (dtype('float32'), dtype('complex64'))
    """
    if dtype == np.float16 or (BFLOAT16 is not None and dtype == BFLOAT16):
        return _FLOAT32
    return np.dtype(dtype)


def is_complex(dtype: np.dtype) -> bool:
    """True for complex64 and complex128."""
    return np.dtype(dtype).kind == "c"


def supported_names() -> str:
    """The accepted dtypes as a phrase for messages."""
    names = [str(d) for d in SUPPORTED_DTYPES]
    return ", ".join(names[:-1]) + " or " + names[-1]


def check_dtype(name: str, dtype: np.dtype) -> None:
    """Raise :class:`DTypeError` naming ``name`` unless ``dtype`` is supported.

    Examples
    --------
    >>> check_dtype("input", np.dtype(np.int32))
    Traceback (most recent call last):
    ...
    convtranspose.errors.DTypeError: input has dtype int32, which is not supported: of the integer dtypes only int64 is (as in PyTorch's CPU kernel); cast with .astype(np.int64) or to a floating-point dtype
    """
    if dtype in SUPPORTED_DTYPES:
        return
    if dtype.kind in "iub":
        raise DTypeError(
            f"{name} has dtype {dtype}, which is not supported: of the integer dtypes only int64 is "
            f"(as in PyTorch's CPU kernel); cast with .astype(np.int64) or to a floating-point dtype"
        )
    hint = ""
    if BFLOAT16 is None and "bfloat16" in str(dtype):  # pragma: no cover - depends on the environment
        hint = " (bfloat16 needs the ml_dtypes package: pip install ml_dtypes)"
    raise DTypeError(f"{name} must be an array of dtype {supported_names()}, got dtype {dtype}{hint}")


def from_torch_bfloat16(name: str, value: object) -> Optional[np.ndarray]:
    """A torch bfloat16 CPU tensor as an ``ml_dtypes.bfloat16`` array (zero-copy), else None.

    NumPy cannot take a bfloat16 tensor through ``np.asarray``; every other torch dtype can, so
    only this one is special-cased. torch is never imported here: a tensor's module already is.
    """
    torch = sys.modules.get("torch")
    if torch is None or not isinstance(value, torch.Tensor) or value.dtype != torch.bfloat16:
        return None
    if BFLOAT16 is None:  # pragma: no cover - depends on the environment
        raise DTypeError(f"{name} is a torch bfloat16 tensor: bfloat16 needs the ml_dtypes package (pip install ml_dtypes)")
    if value.device.type != "cpu":
        raise DTypeError(f"{name} is a torch tensor on {value.device}; move it to the CPU first ({name}.cpu())")
    return value.detach().contiguous().view(torch.int16).numpy().view(BFLOAT16)


def as_operand(name: str, value: object) -> np.ndarray:
    """``value`` as an ndarray of a supported dtype (no copy when it already is one).

    A torch bfloat16 tensor becomes an ``ml_dtypes.bfloat16`` array (zero-copy); anything else goes
    through :func:`numpy.asarray`.

    Examples
    --------
    >>> as_operand("input", [[1.0, 2.0]]).dtype
    dtype('float64')
    """
    array = from_torch_bfloat16(name, value) if type(value) is not np.ndarray else None
    if array is None:
        array = as_array(name, value)
    check_dtype(name, array.dtype)
    return array
