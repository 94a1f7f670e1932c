"""Forward pass against PyTorch 2.13 over a hypothesis sweep of configurations.

Every drawn case is checked three ways on every engine path (see
:func:`forward_cases.check_forward_case`): against torch, against the naive loop reference in
``oracle.py`` and through the adjoint identity with an independently written convolution.

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

from forward_cases import (
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
from oracle import requires_torch

pytestmark = requires_torch

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
