"""Dense layers: one input position whose taps tile the output (DCGAN's 1x1 -> 4x4 first layer),
and pointwise ones: kernel 1, stride 1, nothing cropped (a 1x1 channel projection).

The GEMM paths compute these as one plain GEMM per direction, with no scatter or gather. The
cases below are dense, plus near misses that must not be treated as dense (padding, dilation,
output_padding, a second input position).
"""

import numpy as np
import pytest

from convtranspose.engine.gemm import is_dense
from convtranspose.plan import is_pointwise
from convtranspose.shape import geometries
from convtranspose.spec import make_spec
from oracle import assert_matches_autograd

#: (x shape, weight shape, kwargs, kind): "dense", "pointwise", or None for a near miss of either.
CASES = [
    ((5, 6, 1, 1), (6, 4, 4, 4), dict(), "dense"),
    ((3, 6, 1, 1), (6, 2, 4, 3), dict(groups=3, stride=2), "dense"),
    ((2, 4, 1), (4, 3, 1), dict(dilation=3), "dense"),
    ((0, 4, 1, 1, 1), (4, 2, 2, 3, 2), dict(groups=2), "dense"),
    ((2, 3, 1, 1, 1), (3, 5, 2, 1, 3), dict(stride=(1, 3, 2)), "dense"),
    ((2, 3, 1, 1), (3, 2, 3, 3), dict(padding=1), None),
    ((2, 3, 1, 1), (3, 2, 3, 3), dict(dilation=2), None),
    ((2, 3, 1, 1), (3, 2, 3, 3), dict(stride=2, output_padding=1), None),
    ((2, 3, 2, 1), (3, 2, 3, 3), dict(), None),
    ((3, 6, 5, 4), (6, 4, 1, 1), dict(), "pointwise"),
    ((2, 6, 7), (6, 2, 1), dict(groups=3, dilation=2), "pointwise"),
    ((2, 4, 3, 2, 5), (4, 3, 1, 1, 1), dict(groups=2), "pointwise"),
    ((0, 4, 3), (4, 2, 1), dict(), "pointwise"),
    ((2, 3, 5, 4), (3, 2, 1, 1), dict(padding=1), None),
    ((2, 3, 5, 4), (3, 2, 1, 1), dict(stride=2), None),
    ((2, 3, 5, 4), (3, 2, 1, 1), dict(stride=2, output_padding=1), None),
    ((2, 3, 5), (3, 2, 2), dict(), None),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"x{c[0]}-{c[3] or 'not'}")
def test_dense_and_pointwise_layers_match_torch_autograd(engine_path, case):
    x_shape, w_shape, kwargs, kind = case
    ndim = len(x_shape) - 2
    geometry = geometries(x_shape[2:], w_shape[2:], make_spec(ndim, **kwargs))
    kinds = {"dense": is_dense(geometry), "pointwise": is_pointwise(geometry)}  # a 1-position k1 layer is both
    assert kinds[kind] if kind else not any(kinds.values())
    rng = np.random.default_rng(9)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[1] * kwargs.get("groups", 1))
    assert_matches_autograd(x, w, b, engine_path, **kwargs)
