"""ConvTranspose1d/2d/3d modules: initialisation, repr, state dicts and forward vs torch modules."""

from __future__ import annotations

import math

import numpy as np
import pytest

import convtranspose
from convtranspose import ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from convtranspose.engine import use_path
from oracle import OURS_MODULE, TORCH_MODULE, assert_close, requires_torch, torch

OURS = OURS_MODULE
THEIRS = TORCH_MODULE

# (ndim, in_channels, out_channels, kwargs) -- also used for repr and torch round trips.
CONFIGS = [
    (1, 3, 2, dict(kernel_size=3)),
    (1, 4, 6, dict(kernel_size=4, stride=3, padding=1, output_padding=2, groups=2, bias=False)),
    (2, 2, 3, dict(kernel_size=2)),
    (2, 32, 64, dict(kernel_size=4, stride=2, padding=1)),
    (2, 4, 4, dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), output_padding=(1, 1), groups=4)),
    (2, 3, 6, dict(kernel_size=3, dilation=2, output_padding=1, groups=3, bias=False)),
    (3, 2, 2, dict(kernel_size=2, stride=2)),
    (3, 4, 6, dict(kernel_size=(1, 2, 3), stride=2, padding=(0, 1, 1), dilation=(3, 1, 1), output_padding=(1, 0, 1), groups=2)),
]


def ids(config):
    ndim, cin, cout, kwargs = config
    return f"{ndim}d-{cin}-{cout}-" + "-".join(f"{k}={v}" for k, v in kwargs.items())


def fan_in(weight_shape):
    return weight_shape[1] * math.prod(weight_shape[2:])


# --------------------------------------------------------------------------------------------
# Initialisation: PyTorch's kaiming-uniform(a=sqrt(5)), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in))
# --------------------------------------------------------------------------------------------


@requires_torch
@pytest.mark.parametrize("config", CONFIGS, ids=ids)
def test_init_bounds_and_shapes_match_torch(config):
    ndim, cin, cout, kwargs = config
    ours = OURS[ndim](cin, cout, rng=0, **kwargs)
    theirs = THEIRS[ndim](cin, cout, **kwargs)
    assert ours.weight.shape == tuple(theirs.weight.shape)
    assert ours.weight.dtype == np.float32
    torch_fan_in, _ = torch.nn.init._calculate_fan_in_and_fan_out(theirs.weight)
    assert fan_in(ours.weight.shape) == torch_fan_in
    bound = 1.0 / math.sqrt(torch_fan_in)
    assert np.abs(ours.weight).max() <= bound
    assert float(theirs.weight.detach().abs().max()) <= bound
    if theirs.bias is None:
        assert ours.bias is None
    else:
        assert ours.bias.shape == (cout,) and ours.bias.dtype == np.float32
        assert np.abs(ours.bias).max() <= bound


def _uniform_statistics(values, bound):
    values = np.asarray(values, dtype=np.float64).ravel()
    return values.min() / bound, values.max() / bound, values.mean() / bound, values.std() / bound


@requires_torch
def test_init_fills_the_range_like_torch():
    """Large layers: the values fill [-b, b] uniformly (min/max near -b/b, std near b/sqrt(3))."""
    torch.manual_seed(0)
    # (config, which parameters have enough values -- >= 4096 -- for the statistics)
    for (ndim, cin, cout, k), names in [((2, 64, 64, 3), ("weight",)), ((1, 8, 4096, 1), ("weight", "bias"))]:
        ours = OURS[ndim](cin, cout, k, rng=1)
        theirs = THEIRS[ndim](cin, cout, k)
        bound = 1.0 / math.sqrt(fan_in(ours.weight.shape))
        for name in names:
            mine = _uniform_statistics(getattr(ours, name), bound)
            reference = _uniform_statistics(getattr(theirs, name).detach().numpy(), bound)
            for stats in (mine, reference):
                low, high, mean, std = stats
                assert -1.0 <= low < -0.99 and 0.99 < high <= 1.0, (name, stats)
                assert abs(mean) < 0.05, (name, stats)
                assert abs(std - 1 / math.sqrt(3)) < 0.02, (name, stats)


def test_init_reproducible_with_seed_and_generator():
    a = ConvTranspose2d(3, 4, 3, rng=123)
    b = ConvTranspose2d(3, 4, 3, rng=123)
    c = ConvTranspose2d(3, 4, 3, rng=np.random.default_rng(123))
    d = ConvTranspose2d(3, 4, 3, rng=124)
    for name in ("weight", "bias"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        np.testing.assert_array_equal(getattr(a, name), getattr(c, name))
        assert not np.array_equal(getattr(a, name), getattr(d, name))
    # a shared Generator advances: two layers drawn from it differ
    shared = np.random.default_rng(5)
    e, f = ConvTranspose2d(3, 4, 3, rng=shared), ConvTranspose2d(3, 4, 3, rng=shared)
    assert not np.array_equal(e.weight, f.weight)
    # no rng: fresh entropy
    assert not np.array_equal(ConvTranspose2d(3, 4, 3).weight, ConvTranspose2d(3, 4, 3).weight)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_init_dtype(dtype):
    layer = ConvTranspose1d(2, 3, 2, dtype=dtype, rng=0)
    assert layer.weight.dtype == dtype and layer.bias.dtype == dtype
    assert layer.weight.flags.c_contiguous


# --------------------------------------------------------------------------------------------
# repr
# --------------------------------------------------------------------------------------------


@requires_torch
@pytest.mark.parametrize("config", CONFIGS, ids=ids)
def test_repr_matches_torch(config):
    ndim, cin, cout, kwargs = config
    assert repr(OURS[ndim](cin, cout, rng=0, **kwargs)) == str(THEIRS[ndim](cin, cout, **kwargs))


@requires_torch
def test_repr_with_tuple_and_int_forms():
    assert repr(ConvTranspose2d(1, 2, (3, 1), stride=(1, 1))) == str(torch.nn.ConvTranspose2d(1, 2, (3, 1)))
    assert repr(ConvTranspose1d(1, 2, 3, padding=0, dilation=1)) == "ConvTranspose1d(1, 2, kernel_size=(3,), stride=(1,))"


# --------------------------------------------------------------------------------------------
# State dicts
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("config", CONFIGS, ids=ids)
def test_state_dict_round_trip(config, engine_path):
    ndim, cin, cout, kwargs = config
    source = OURS[ndim](cin, cout, rng=1, **kwargs)
    target = OURS[ndim](cin, cout, rng=2, **kwargs)
    state = source.state_dict()
    assert set(state) == ({"weight", "bias"} if kwargs.get("bias", True) else {"weight"})
    state["weight"][...] = state["weight"] + 1  # a copy: the layer is unaffected ...
    assert not np.array_equal(state["weight"], source.weight)
    state["weight"][...] = source.weight
    target.load_state_dict(state)
    state["weight"][...] = 0  # ... and loading copies too
    for name, array in source.state_dict().items():
        np.testing.assert_array_equal(target.state_dict()[name], array)
    x = np.random.default_rng(0).standard_normal((2, cin) + (3,) * ndim).astype(np.float32)
    with use_path(engine_path):
        np.testing.assert_array_equal(target(x), source(x))


@requires_torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("config", CONFIGS, ids=ids)
def test_load_torch_state_dict_then_forward_agrees(config, dtype, engine_path):
    ndim, cin, cout, kwargs = config
    theirs = THEIRS[ndim](cin, cout, dtype=getattr(torch, dtype), **kwargs)
    ours = OURS[ndim](cin, cout, dtype=dtype, rng=0, **kwargs)
    ours.load_state_dict(theirs.state_dict())  # torch tensors
    np.testing.assert_array_equal(ours.weight, theirs.weight.detach().numpy())
    x = np.random.default_rng(1).standard_normal((2, cin) + (4,) * ndim).astype(dtype)
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x)).numpy()
        expected_unbatched = theirs(torch.from_numpy(x[0])).numpy()
    with use_path(engine_path):
        assert_close(ours(x), expected, dtype, "batched")
        assert_close(ours(x[0]), expected_unbatched, dtype, "unbatched")


@requires_torch
def test_load_state_dict_converts_dtype_like_torch_copy():
    layer = ConvTranspose2d(2, 3, 2, dtype=np.float32)
    layer.load_state_dict({"weight": np.full((2, 3, 2, 2), 0.25), "bias": torch.ones(3, dtype=torch.float64)})
    assert layer.weight.dtype == np.float32 and layer.bias.dtype == np.float32
    assert np.all(layer.weight == 0.25) and np.all(layer.bias == 1)


def test_parameters_are_live_and_assignment_copies():
    layer = ConvTranspose2d(2, 3, 2, rng=0)
    params = layer.parameters()
    assert params["weight"] is layer.weight and params["bias"] is layer.bias
    new = np.zeros((2, 3, 2, 2), dtype=np.float32)
    layer.weight = new
    new[...] = 1
    assert np.all(layer.weight == 0)
    layer.weight -= 0.5  # in-place update is allowed
    assert np.all(layer.weight == -0.5)
    layer.bias = None
    assert layer.bias is None and "bias" not in layer.parameters()


# --------------------------------------------------------------------------------------------
# forward(output_size=...) against torch's module
# --------------------------------------------------------------------------------------------

OUTPUT_SIZE_CASES = [
    # (ndim, cin, cout, kwargs, input spatial, output_size)
    (2, 2, 3, dict(kernel_size=3, stride=2, padding=1), (5, 4), (10, 8)),
    (2, 2, 3, dict(kernel_size=3, stride=2, padding=1), (5, 4), (9, 7)),
    (2, 2, 3, dict(kernel_size=3, stride=2, padding=1, output_padding=1), (5, 4), (9, 8)),  # module op ignored
    (2, 4, 2, dict(kernel_size=2, stride=(3, 2), groups=2, output_padding=(2, 0)), (2, 3), (1, 2, 7, 7)),
    (1, 2, 2, dict(kernel_size=4, stride=4, dilation=2), (3,), (15,)),
    (1, 2, 2, dict(kernel_size=4, stride=4, dilation=2), (3,), (2, 2, 18)),
    (3, 2, 2, dict(kernel_size=2, stride=2, padding=(0, 1, 0)), (2, 2, 2), (5, 2, 4)),
]


@requires_torch
@pytest.mark.parametrize("ndim, cin, cout, kwargs, spatial, output_size", OUTPUT_SIZE_CASES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_forward_output_size_matches_torch_module(ndim, cin, cout, kwargs, spatial, output_size, dtype, engine_path):
    theirs = THEIRS[ndim](cin, cout, dtype=getattr(torch, dtype), **kwargs)
    ours = OURS[ndim](cin, cout, dtype=dtype, **kwargs)
    ours.load_state_dict(theirs.state_dict())
    x = np.random.default_rng(2).standard_normal((2, cin) + spatial).astype(dtype)
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x), output_size=list(output_size)).numpy()
    with use_path(engine_path):
        out = ours(x, output_size=output_size)
    assert out.shape[2:] == tuple(output_size[-ndim:])
    assert_close(out, expected, dtype, "module forward(output_size)")
    # the functional API with the same output_size (the module's output_padding dropped)
    functional_kwargs = {k: v for k, v in kwargs.items() if k not in ("kernel_size", "output_padding")}
    with use_path(engine_path):
        functional = convtranspose.conv_transpose(x, ours.weight, ours.bias, output_size=output_size, **functional_kwargs)
    np.testing.assert_array_equal(functional, out)


@requires_torch
@pytest.mark.parametrize("output_size", [(7, 9), (3, 7, 9)])
def test_unbatched_output_size_forms_match_torch(output_size, engine_path):
    """Unbatched, torch takes the spatial sizes or (C, *S) -- and rejects (N, C, *S)."""
    theirs = torch.nn.ConvTranspose2d(2, 3, 3, stride=2, dtype=torch.float64)
    ours = ConvTranspose2d(2, 3, 3, stride=2, dtype=np.float64)
    ours.load_state_dict(theirs.state_dict())
    x = np.random.default_rng(3).standard_normal((2, 3, 4))
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x), output_size=list(output_size)).numpy()
    with use_path(engine_path):
        assert_close(ours(x, output_size=output_size), expected, np.float64, "unbatched output_size")


@requires_torch
def test_unbatched_full_batched_shape_rejected_like_torch():
    theirs = torch.nn.ConvTranspose2d(2, 3, 3, stride=2)
    ours = ConvTranspose2d(2, 3, 3, stride=2)
    x = np.ones((2, 3, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="output_size must have 2 or 3 elements"):
        theirs(torch.from_numpy(x), output_size=[1, 3, 7, 9])
    with pytest.raises(convtranspose.ParameterError, match=r"output_size must have 2 or 3 elements \(got 4"):
        ours(x, output_size=(1, 3, 7, 9))


@requires_torch
def test_module_hyperparameters_are_tuples_like_torch():
    ours = ConvTranspose3d(2, 4, 3, stride=2, padding=1, output_padding=1, groups=2, dilation=1)
    theirs = torch.nn.ConvTranspose3d(2, 4, 3, stride=2, padding=1, output_padding=1, groups=2, dilation=1)
    for name in ("in_channels", "out_channels", "kernel_size", "stride", "padding", "output_padding", "dilation", "groups"):
        assert getattr(ours, name) == getattr(theirs, name), name
    assert ours.padding_mode == theirs.padding_mode == "zeros"
