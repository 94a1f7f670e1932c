"""The engine path registry: every registered path and variant kernel is reached and correct.

Driven by ``convtranspose.engine.registry.PATHS``: a path added to the registry is tested here
(and by every test that takes ``engine_path``) without editing the tests; a path that cannot run
here (numba not installed) shows as skipped with the reason, not as missing.
"""

import numpy as np
import pytest

import convtranspose as ct
from convtranspose import engine
from convtranspose.engine import registry
from convtranspose.errors import ParameterError
from convtranspose.plan import build_plan
from oracle import assert_close, conv_transpose_naive

#: One call of each kind the dispatcher routes differently: (input shape, weight shape, hyper).
KINDS = {
    "general": ((2, 4, 3, 5), (4, 3, 3, 2), dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)),
    "depthwise": ((2, 3, 4, 5), (3, 2, 3, 3), dict(stride=2, padding=1, output_padding=1, groups=3)),
    "dense": ((2, 3, 1, 1), (3, 4, 4, 4), dict()),
    "pointwise": ((2, 4, 3, 5), (4, 3, 1, 1), dict(groups=2)),
}

PATH_NAMES = [path.name for path in registry.PATHS]


def _expected_kernel(path: str, kind: str) -> str:
    entry = registry.entry(path)
    variant = {"depthwise": entry.depthwise, "dense": entry.dense, "pointwise": entry.dense}.get(kind)
    return variant or entry.module


def _routed(x, w, hyper):
    spec_args = (hyper.get("stride", 1), hyper.get("padding", 0), hyper.get("output_padding", 0),
                 hyper.get("groups", 1), hyper.get("dilation", 1))
    return engine.route(build_plan("test", None, x.shape, x.dtype, w.shape, w.dtype, None, None, spec_args))


def test_every_registered_path_is_available_or_says_why():
    missing = engine.unavailable_paths()
    assert set(engine.available_paths()) | set(missing) == set(PATH_NAMES)
    assert not set(engine.available_paths()) & set(missing)
    assert all(isinstance(reason, str) and reason for reason in missing.values())


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("path", PATH_NAMES)
def test_every_path_and_variant_matches_the_reference(path, kind):
    """Forced path ``path`` on a ``kind`` call runs the kernel the registry names for it; its
    forward equals the naive loops and its gradients satisfy the adjoint identities."""
    missing = engine.unavailable_paths()
    if path in missing:
        pytest.skip(f"engine path {path!r} is not available here: {missing[path]}")
    x_shape, w_shape, hyper = KINDS[kind]
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[1] * hyper.get("groups", 1))
    with engine.use_path(path):
        plan = _routed(x, w, hyper)
        assert (plan.forward_path, plan.backward_path) == (path, path)
        assert engine.kernel_name(plan, "forward") == _expected_kernel(path, kind)
        out = ct.conv_transpose(x, w, b, **hyper)
        gy = rng.standard_normal(out.shape)
        gx, gw, gb = ct.conv_transpose_backward(gy, x, w, **hyper)
    assert_close(out, conv_transpose_naive(x, w, b, **hyper), np.float64)
    # <T(v) w, gy> = <v, grad_x> and <T(x) v, gy> = <v, grad_w>: the gradients are the adjoints.
    v_x, v_w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    np.testing.assert_allclose(np.vdot(conv_transpose_naive(v_x, w, **hyper), gy), np.vdot(v_x, gx), rtol=1e-10)
    np.testing.assert_allclose(np.vdot(conv_transpose_naive(x, v_w, **hyper), gy), np.vdot(v_w, gw), rtol=1e-10)
    np.testing.assert_allclose(gb, gy.sum(axis=(0, 2, 3)), rtol=1e-10)


def test_a_forced_path_that_cannot_take_a_call_says_so():
    x, w = np.ones((1, 1, 64, 64)), np.ones((1, 1, 9, 9))  # a placement matrix of 9**2 * 64**2 * 72**2 entries
    with engine.use_path("small"), pytest.raises(
        ParameterError, match=r"engine path 'small' cannot take this call: .*placement matrices of at most"
    ):
        ct.conv_transpose2d(x, w)


def test_the_cost_model_chooses_only_applicable_paths():
    x, w = np.ones((1, 1, 64, 64)), np.ones((1, 1, 9, 9))
    plan = _routed(x, w, {})
    assert plan.forward_path != "small" and plan.backward_path != "small"
    assert set((plan.forward_path, plan.backward_path)) <= set(engine.available_paths())


def test_an_unknown_or_unavailable_path_is_refused():
    with pytest.raises(ParameterError, match="unknown engine path 'fft'"):
        with engine.use_path("fft"):
            pass
