"""The PyTorch adapter: gradcheck, agreement with torch's layers, training parity, tensors <-> arrays."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import convtranspose as ct

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from convtranspose import torch as ctt  # noqa: E402



TORCH_MODULES = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}
OUR_MODULES = {1: ctt.ConvTranspose1d, 2: ctt.ConvTranspose2d, 3: ctt.ConvTranspose3d}
OUR_FUNCTIONS = {1: ctt.conv_transpose1d, 2: ctt.conv_transpose2d, 3: ctt.conv_transpose3d}


def _operands(ndim, c_in=2, per_group=2, groups=1, size=3, kernel=2, batch=(2,), dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(*batch, c_in * groups, *(size,) * ndim, generator=gen, dtype=dtype, requires_grad=True)
    w = torch.randn(c_in * groups, per_group, *(kernel,) * ndim, generator=gen, dtype=dtype, requires_grad=True)
    b = torch.randn(per_group * groups, generator=gen, dtype=dtype, requires_grad=True)
    return x, w, b


# --------------------------------------------------------------------------------------------
# gradcheck in float64
# --------------------------------------------------------------------------------------------

ZEROS_CASES = [
    dict(ndim=1, kw=dict(stride=2, padding=1, output_padding=1)),
    dict(ndim=2, kw=dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)),
    dict(ndim=2, kw=dict(stride=2, padding=1, output_size=(5, 4))),
    dict(ndim=3, kw=dict(stride=2, padding=0, groups=2), size=2),
    dict(ndim=2, kw=dict(stride=3, padding=2, dilation=2), unbatched=True),
]
FORM_CASES = [
    dict(ndim=1, kw=dict(stride=2, padding=((1, 0),))),
    dict(ndim=2, kw=dict(stride=(2, 3), padding=((0, 2), (1, 1)), output_padding=(1, 0))),
    dict(ndim=2, kw=dict(stride=2, padding="same", groups=2)),
    dict(ndim=2, kw=dict(stride=(2, 3), padding="same_lower", dilation=2), unbatched=True),
    dict(ndim=3, kw=dict(stride=2, padding="valid"), size=2),
]
MODE_CASES = [
    dict(ndim=d, kw=dict(kw, padding_mode=mode), size=4)
    for mode in ("circular", "reflect", "replicate")
    for d, kw in (
        (1, dict(stride=2, padding=1, output_padding=1)),
        (2, dict(stride=(1, 2), padding=((1, 0), (0, 1)), groups=2)),
        (2, dict(stride=2, padding="same", dilation=(1, 2))),
        (3, dict(stride=1, padding=1)),
    )
]


def _gradcheck(case):
    ndim = case["ndim"]
    groups = case["kw"].get("groups", 1)
    x, w, b = _operands(ndim, groups=groups, size=case.get("size", 3), batch=() if case.get("unbatched") else (2,))
    fn = OUR_FUNCTIONS[ndim]
    assert torch.autograd.gradcheck(lambda x, w, b: fn(x, w, b, **case["kw"]), (x, w, b))


@pytest.mark.parametrize("case", ZEROS_CASES, ids=str)
def test_gradcheck_zeros(case):
    _gradcheck(case)


@pytest.mark.parametrize("case", FORM_CASES, ids=str)
def test_gradcheck_padding_forms(case):
    _gradcheck(case)


@pytest.mark.parametrize("case", MODE_CASES, ids=str)
def test_gradcheck_padding_modes(case):
    _gradcheck(case)


@st.composite
def _gradcheck_calls(draw):
    ndim = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 2))
    stride = tuple(draw(st.lists(st.integers(1, 2), min_size=ndim, max_size=ndim)))
    dilation = tuple(draw(st.lists(st.integers(1, 2), min_size=ndim, max_size=ndim)))
    kw = dict(stride=stride, dilation=dilation, groups=groups)
    forms = ["int", "tuple", "pairs", "same", "same_lower", "valid"]
    form = draw(st.sampled_from(forms))
    if form == "int":
        kw["padding"] = draw(st.integers(0, 1))
    elif form == "tuple":
        kw["padding"] = tuple(draw(st.lists(st.integers(0, 1), min_size=ndim, max_size=ndim)))
    elif form == "pairs":
        kw["padding"] = tuple((draw(st.integers(0, 1)), draw(st.integers(0, 1))) for _ in range(ndim))
    else:
        kw["padding"] = form
    if form != "same" and form != "same_lower" and draw(st.booleans()):
        kw["output_padding"] = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    modes = ["zeros", "circular", "reflect", "replicate"]
    kw["padding_mode"] = draw(st.sampled_from(modes))
    return dict(ndim=ndim, kw=kw, size=3 if ndim < 3 else 2, unbatched=draw(st.booleans()))


@settings(max_examples=min(40, settings.default.max_examples))
@given(_gradcheck_calls())
def test_gradcheck_sweep(case):
    try:
        _gradcheck(case)
    except (ct.ParameterError, ct.OutputSizeError) as exc:  # e.g. reflect padding >= the output size
        assume(False)
        raise AssertionError("unreachable") from exc


# --------------------------------------------------------------------------------------------
# Agreement with torch's own functions and layers (zeros padding, where both apply)
# --------------------------------------------------------------------------------------------


@given(
    ndim=st.integers(1, 3), groups=st.integers(1, 2), per_group=st.integers(1, 3), stride=st.integers(1, 3),
    padding=st.integers(0, 2), dilation=st.integers(1, 2), kernel=st.integers(1, 3), size=st.integers(1, 4),
    output_padding=st.integers(0, 2), seed=st.integers(0, 1000),
)
def test_forward_and_gradients_match_torch(ndim, groups, per_group, stride, padding, dilation, kernel, size,
                                           output_padding, seed):
    if output_padding >= max(stride, dilation):
        output_padding = 0
    full = (size - 1) * stride + dilation * (kernel - 1) + 1 + output_padding
    if full - 2 * padding < 1:
        padding = 0
    kw = dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups, dilation=dilation)
    x, w, b = _operands(ndim, c_in=1, per_group=per_group, groups=groups, size=size, kernel=kernel, seed=seed)
    ours = OUR_FUNCTIONS[ndim](x, w, b, **kw)
    theirs = getattr(F, f"conv_transpose{ndim}d")(x, w, b, **kw)
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-10)
    grad = torch.randn_like(theirs)
    mine = torch.autograd.grad(ours, (x, w, b), grad)
    reference = torch.autograd.grad(theirs, (x, w, b), grad)
    for a, r in zip(mine, reference):
        torch.testing.assert_close(a, r, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_module_has_torch_init_layout_and_state_dict(ndim):
    kw = dict(in_channels=4, out_channels=6, kernel_size=3, stride=2, padding=1, output_padding=1, groups=2)
    torch.manual_seed(5)
    theirs = TORCH_MODULES[ndim](**kw)
    torch.manual_seed(5)
    ours = OUR_MODULES[ndim](**kw)
    assert isinstance(ours, TORCH_MODULES[ndim])
    assert isinstance(ours.weight, nn.Parameter) and ours.weight.shape == (4, 3) + (3,) * ndim
    for key, value in theirs.state_dict().items():
        torch.testing.assert_close(ours.state_dict()[key], value, rtol=0, atol=0)  # the same init draws
    assert repr(ours).replace("ConvTranspose", "X") == repr(theirs).replace("ConvTranspose", "X")
    x = torch.randn(2, 4, *(4,) * ndim)
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-5)
    size = (8,) * ndim
    torch.testing.assert_close(ours(x, output_size=size), theirs(x, output_size=size), rtol=1e-5, atol=1e-5)
    ours.load_state_dict(TORCH_MODULES[ndim](**kw).state_dict())  # loads in both directions
    theirs.load_state_dict(ours.state_dict())


def test_bias_false_and_parameters_updated_by_optimizer():
    layer = ctt.ConvTranspose2d(2, 3, 3, bias=False).double()
    assert layer.bias is None
    opt = torch.optim.SGD(layer.parameters(), lr=0.1)
    before = layer.weight.detach().clone()
    layer(torch.randn(1, 2, 4, 4, dtype=torch.float64)).square().sum().backward()
    opt.step()
    assert not torch.equal(before, layer.weight.detach())


# --------------------------------------------------------------------------------------------
# Training a small DCGAN-style generator
# --------------------------------------------------------------------------------------------


def _generator(conv, dtype, **mode):
    return nn.Sequential(
        conv(8, 16, 4, 1, 0, bias=False, **mode), nn.BatchNorm2d(16), nn.ReLU(),      # 1 -> 4
        conv(16, 8, 4, 2, 1, bias=False, **mode), nn.BatchNorm2d(8), nn.ReLU(),       # 4 -> 8
        conv(8, 1, 4, 2, 1, **mode), nn.Tanh(),                                        # 8 -> 16
    ).to(dtype)


def _discriminator(dtype):
    return nn.Sequential(
        nn.Conv2d(1, 8, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(8, 16, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(16, 1, 4, 1, 0), nn.Flatten(),
    ).to(dtype)


def _train_gan(conv, dtype, steps=6, **mode):
    torch.manual_seed(0)
    gen, disc = _generator(conv, dtype, **mode), _discriminator(dtype)
    opt_g = torch.optim.Adam(gen.parameters(), lr=2e-3, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=2e-3, betas=(0.5, 0.999))
    data = torch.tanh(torch.randn(steps, 8, 1, 16, 16, dtype=dtype))
    noise = torch.randn(steps, 8, 8, 1, 1, dtype=dtype)
    bce = nn.BCEWithLogitsLoss()
    losses = []
    for step in range(steps):
        fake = gen(noise[step])
        loss_d = bce(disc(data[step]), torch.ones(8, 1, dtype=dtype)) + bce(disc(fake.detach()), torch.zeros(8, 1, dtype=dtype))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = bce(disc(fake), torch.ones(8, 1, dtype=dtype))
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        losses.append((loss_d.item(), loss_g.item()))
    return np.array(losses)


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, 1e-4)])
def test_dcgan_training_gives_torchs_losses(dtype, tol):
    ours = _train_gan(ctt.ConvTranspose2d, dtype)
    theirs = _train_gan(nn.ConvTranspose2d, dtype)
    assert np.isfinite(ours).all()
    np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol)


def test_generator_trains_with_reflect_padding():
    torch.manual_seed(1)
    gen = _generator(ctt.ConvTranspose2d, torch.float64, padding_mode="reflect")
    assert gen[3].padding_mode == "reflect"
    noise = torch.randn(8, 8, 1, 1, dtype=torch.float64)
    target = torch.tanh(torch.randn(8, 1, 16, 16, dtype=torch.float64))
    opt = torch.optim.Adam(gen.parameters(), lr=1e-2)
    losses = []
    for _ in range(40):
        loss = F.mse_loss(gen(noise), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses
    # the GAN loop runs too
    assert np.isfinite(_train_gan(ctt.ConvTranspose2d, torch.float64, steps=3, padding_mode="reflect")).all()


# --------------------------------------------------------------------------------------------
# Tensors and arrays
# --------------------------------------------------------------------------------------------


def test_cpu_tensors_share_memory_with_numpy():
    t = torch.randn(2, 3, 4)
    a = ctt.as_numpy("input", t)
    assert np.shares_memory(a, t.numpy())
    strided = t.transpose(1, 2)
    assert np.shares_memory(ctt.as_numpy("input", strided), t.numpy())  # strides kept, no copy
    out = np.zeros((2, 2), np.float32)
    assert ctt.as_tensor(out).data_ptr() == out.ctypes.data


def test_non_contiguous_and_unbatched_inputs():
    x, w, b = _operands(2)
    xt = x.detach().transpose(2, 3)
    torch.testing.assert_close(ctt.conv_transpose2d(xt, w, b, stride=2), F.conv_transpose2d(xt, w, b, stride=2))
    torch.testing.assert_close(ctt.conv_transpose2d(xt[0], w, b), F.conv_transpose2d(xt[0], w, b))


def test_non_cpu_tensor_is_refused():
    x = torch.empty(1, 1, 3, 3, device="meta")
    with pytest.raises(ct.ParameterTypeError, match=r"input is on device 'meta', but convtranspose computes with NumPy on the CPU: move it with input.cpu\(\)"):
        ctt.conv_transpose2d(x, torch.ones(1, 1, 2, 2))
    layer = ctt.ConvTranspose2d(1, 1, 2)
    with pytest.raises(ct.ParameterTypeError, match="input is on device 'meta'"):
        layer(x)


def test_errors_are_ours():
    with pytest.raises(ct.ParameterError, match=r"padding_mode must be one of 'zeros', 'reflect', 'replicate', 'circular', got padding_mode='mirror'"):
        ctt.ConvTranspose2d(1, 1, 2, padding_mode="mirror")
    with pytest.raises(ct.ParameterError, match=r"padding_mode must be one of .* got padding_mode='mirror'"):
        ctt.conv_transpose2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 2, 2), padding_mode="mirror")
    with pytest.raises(ct.ParameterTypeError, match=r"padding_mode must be a str"):
        ctt.ConvTranspose2d(1, 1, 2, padding_mode=None)
    with pytest.raises(ct.ShapeError, match="weight"):
        ctt.conv_transpose2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 2))
    with pytest.raises(ct.ParameterTypeError, match="input must be a torch.Tensor, got ndarray"):
        ctt.conv_transpose2d(np.ones((1, 1, 3, 3)), torch.ones(1, 1, 2, 2))
    with pytest.raises(ct.ParameterTypeError, match="dense"):
        ctt.conv_transpose1d(torch.ones(1, 1, 3).to_sparse(), torch.ones(1, 1, 2))


def test_modes_and_forms_in_modules_match_the_functional_form():
    x, w, b = _operands(2, groups=2)
    layer = ctt.ConvTranspose2d(4, 4, 2, stride=2, padding="same", groups=2, padding_mode="circular").double()
    with torch.no_grad():
        layer.weight.copy_(w)
        layer.bias.copy_(b)
    expected = ct.conv_transpose2d(x.detach().numpy(), w.detach().numpy(), b.detach().numpy(), stride=2,
                                   padding="same", groups=2, padding_mode="circular")
    np.testing.assert_allclose(layer(x).detach().numpy(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.complex128, torch.complex64, torch.bfloat16])
def test_other_dtypes_follow_torch(dtype):
    assert _library_accepts_dtype(dtype), f"the library no longer computes {dtype} (issue 12)"
    x, w, b = (t.detach().to(dtype).requires_grad_() for t in _operands(2, batch=(1,)))
    ours, theirs = ctt.conv_transpose2d(x, w, b, stride=2), F.conv_transpose2d(x, w, b, stride=2)
    tol = dict(rtol=2e-2, atol=5e-2) if dtype == torch.bfloat16 else dict(rtol=1e-5, atol=1e-5)
    assert ours.dtype == dtype
    torch.testing.assert_close(ours, theirs, **tol)
    grad = torch.ones_like(theirs) * (1 + 1j if dtype.is_complex else 1)
    for a, r in zip(torch.autograd.grad(ours, (x, w, b), grad), torch.autograd.grad(theirs, (x, w, b), grad)):
        torch.testing.assert_close(a, r, **tol)


def _library_accepts_dtype(dtype) -> bool:
    try:
        ctt.conv_transpose1d(torch.ones(1, 1, 2, dtype=dtype), torch.ones(1, 1, 2, dtype=dtype))
    except (TypeError, ValueError):
        return False
    return True


def test_importing_convtranspose_imports_no_optional_package():
    import subprocess
    import sys

    # (scipy is not checked: numba, which the engine may load, imports it when installed)
    code = (
        "import sys, convtranspose, convtranspose.onnx\n"
        "assert not {'torch', 'onnx'} & set(sys.modules), sorted({'torch', 'onnx'} & set(sys.modules))"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
