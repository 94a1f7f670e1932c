"""SciPy adapter: a transposed convolution and its exact adjoint as a ``LinearOperator``.

For inverse problems (deconvolution, super-resolution by optimisation, tomography):
``as_linear_operator(weight, input_shape, **params)`` is the matrix ``A`` of
``x -> conv_transpose(x, weight, **params)`` on flattened arrays, with ``A.H`` its exact adjoint
(the input gradient, i.e. :func:`convtranspose.conv` with the conjugated weight), for every padding
form and ``padding_mode`` the library accepts. Use it with ``scipy.sparse.linalg.lsqr``, ``cg`` on
``A.H @ A``, ``svds``, ... SciPy is an optional extra (``pip install convtranspose[scipy]``).

Examples
--------
>>> import numpy as np
>>> from convtranspose.scipy import as_linear_operator
>>> A = as_linear_operator(np.ones((1, 1, 3)), (1, 1, 4), stride=2)
>>> A.shape
(9, 4)
>>> rng = np.random.default_rng(0)
>>> x, y = rng.standard_normal(4), rng.standard_normal(9)
>>> bool(abs(np.vdot(A @ x, y) - np.vdot(x, A.H @ y)) < 1e-12)      # the dot test
True
"""

from __future__ import annotations

from math import prod
from typing import Any, Sequence

import numpy as np
from scipy.sparse.linalg import LinearOperator

from .errors import ShapeError
from ._checks import as_array
from .functional import conv_transpose, conv_transpose_input_grad

__all__ = ["as_linear_operator"]


def as_linear_operator(weight: np.ndarray, input_shape: Sequence[int], **params: Any) -> LinearOperator:
    """The transposed convolution with ``weight`` on inputs of ``input_shape``, as a LinearOperator.

    Parameters
    ----------
    weight : array_like, shape (C_in, C_out / groups, *kernel)
        float32, float64 (or any dtype the library computes, e.g. complex128).
    input_shape : sequence of int
        ``(N, C_in, *S_in)`` or ``(C_in, *S_in)``.
    **params
        ``stride``, ``padding``, ``output_padding``, ``groups``, ``dilation``, ``output_size``,
        ``padding_mode``: as in :func:`convtranspose.conv_transpose` (no bias: the operator is linear).

    Returns
    -------
    scipy.sparse.linalg.LinearOperator
        Shape ``(prod(output_shape), prod(input_shape))`` and the weight's dtype. ``matvec`` is the
        transposed convolution of the vector reshaped to ``input_shape``, ``rmatvec`` its adjoint
        ``A^H``; both return flat arrays. The shapes are attributes ``input_shape`` and
        ``output_shape``. Real operators apply to complex vectors part by part.

    Raises
    ------
    ShapeError, ParameterError, ...
        As :func:`convtranspose.conv_transpose` would for an input of ``input_shape``.
    """
    w = as_array("weight", weight)
    in_shape = tuple(int(n) for n in input_shape)
    if "bias" in params:
        raise ShapeError("as_linear_operator: a bias makes the map affine, not linear; add it outside the operator")
    # One forward on a zero-stride stand-in validates everything and gives the output shape.
    out_shape = conv_transpose(np.broadcast_to(np.zeros((), w.dtype), in_shape), w, **params).shape
    dtype = w.dtype

    def forward(v: np.ndarray) -> np.ndarray:
        return conv_transpose(v.reshape(in_shape), w, **params).ravel()

    def adjoint(u: np.ndarray) -> np.ndarray:
        return conv_transpose_input_grad(u.reshape(out_shape), in_shape, w, **params).ravel()

    def parts(fn: Any) -> Any:
        def apply(v: np.ndarray) -> np.ndarray:
            v = np.asarray(v).ravel()
            if np.iscomplexobj(v) and not np.iscomplexobj(w):
                return fn(v.real.astype(dtype)) + 1j * fn(v.imag.astype(dtype))
            return fn(v.astype(np.result_type(dtype, v.dtype) if np.iscomplexobj(w) else dtype, copy=False))

        return apply

    operator = LinearOperator(
        (prod(out_shape), prod(in_shape)), matvec=parts(forward), rmatvec=parts(adjoint), dtype=dtype
    )
    operator.input_shape, operator.output_shape = in_shape, out_shape
    return operator
