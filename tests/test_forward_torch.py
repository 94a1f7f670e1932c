"""Forward pass against PyTorch 2.13 over a hypothesis sweep of configurations.

Every drawn case is checked three ways on every engine path (see
:func:`forward_cases.check_forward_case`): against torch, against the naive loop reference in
``reference.py`` and through the adjoint identity with an independently written convolution.

Invalid configurations are swept too: whenever torch rejects a call we must reject it as well,
with one of our error classes (which subclass ValueError/TypeError); whenever torch accepts, we
accept and agree.

Comparisons stay within same-dtype operands: torch sometimes accepts, e.g., a float64 bias with a
float32 input, which we deliberately reject (see test_validation.py).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from forward_cases import (  # noqa: E402
    assert_close,
    assert_rejected_for,
    call_ours,
    call_torch,
    check_forward_case,
    torch_canonical_error,
    forward_cases,
    invalid_cases,
    outcome,
    scaled,
)
from reference import conv_naive, conv_transpose_naive  # noqa: E402

# ``scaled(f)`` runs f times the active profile's max_examples (ci profile: 1000, see conftest).


@scaled(1.0)  # ci: 1000 cases
@given(case=forward_cases(1))
def test_forward_1d_matches_torch_reference_and_adjoint(case):
    check_forward_case(case, against_torch=True)


@scaled(1.0)  # ci: 1000 cases
@given(case=forward_cases(2))
def test_forward_2d_matches_torch_reference_and_adjoint(case):
    check_forward_case(case, against_torch=True)


@scaled(0.6)  # ci: 600 cases
@given(case=forward_cases(3))
def test_forward_3d_matches_torch_reference_and_adjoint(case):
    check_forward_case(case, against_torch=True)


@pytest.mark.parametrize("ndim", [1, 2, 3])
@scaled(0.5)  # ci: 3 x 500 cases
@given(data=st.data())
def test_invalid_configurations_rejected_like_torch(ndim, data):
    """One rule broken per case (see ``forward_cases.MUTATIONS``): torch and we both reject."""
    mutation, case = data.draw(invalid_cases(ndim), label="mutation, case")
    event(f"mutation: {mutation}")
    x, w, b = case.arrays()
    _, torch_error = outcome(call_torch, case, x, w, b)
    _, our_error = outcome(call_ours, case, x, w, b)
    if torch_error is None:
        # A lenient torch backend skipped the check (see forward_cases.torch_canonical_error);
        # torch's native float64 path must still reject the configuration.
        event(f"torch's fast backend accepted {mutation}")
        torch_error = torch_canonical_error(case)
        assert torch_error is not None, f"test bug: torch accepted {mutation}: {case!r}"
    assert_rejected_for(mutation, our_error, f"{mutation}: torch raised {torch_error!r}; {case!r}")


# --------------------------------------------------------------------------------------------
# The references themselves agree with torch (so a torch-free run still means something)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stride, padding, output_padding, dilation, groups",
    [(1, 0, 0, 1, 1), ((2, 1), (1, 0), (1, 0), (1, 2), 2), (3, 1, 2, 1, 1), (1, 0, 1, 2, 2), ((1, 3), 2, (0, 2), (2, 1), 1)],
)
def test_naive_references_agree_with_torch(stride, padding, output_padding, dilation, groups):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 4, 3, 4))
    w = rng.standard_normal((4, 3, 2, 3))
    b = rng.standard_normal(3 * groups)
    args = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    expected = torch.nn.functional.conv_transpose2d(
        torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), output_padding=output_padding, **args
    ).numpy()
    ours = conv_transpose_naive(x, w, b, output_padding=output_padding, **args)
    assert_close(ours, expected, np.float64, "naive transposed convolution vs torch")

    y = rng.standard_normal(expected.shape)
    conv_expected = torch.nn.functional.conv2d(torch.from_numpy(y), torch.from_numpy(w), **args).numpy()
    assert_close(conv_naive(y, w, **args), conv_expected, np.float64, "naive convolution vs torch")
