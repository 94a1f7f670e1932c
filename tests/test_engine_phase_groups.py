"""Phase groups: phases that read the same input windows share one patch matrix and one GEMM.

Kernels that are a multiple of the stride (FCN's k16 s8) group many phases; groups whose members
have different lengths (output length not a multiple of the stride) crop the shared result.
"""

import numpy as np
import pytest

import convtranspose as ct
from convtranspose import engine
from convtranspose.engine.phase_plan import phase_groups, phase_plan as make_plan
from convtranspose.shape import geometries
from convtranspose.spec import make_spec
from oracle import assert_close, conv_transpose_naive

CASES = [
    # (x shape, weight shape, kwargs, size of the largest group)
    ((2, 3, 5), (3, 4, 16), dict(stride=8, padding=4), 4),
    ((1, 2, 4, 3), (2, 3, 8, 6), dict(stride=(4, 3), padding=(2, 1), output_padding=(3, 2)), 4),
    ((2, 4, 3, 3), (4, 2, 6, 6), dict(stride=3, padding=1, groups=2), 4),
    ((1, 2, 2, 3, 2), (2, 2, 4, 4, 2), dict(stride=2, padding=(1, 0, 0)), 4),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"x{c[0]}")
def test_phase_groups_match_the_reference(case):
    x_shape, w_shape, kwargs, largest = case
    ndim = len(x_shape) - 2
    spec = make_spec(ndim, **kwargs)
    geo = geometries(x_shape[2:], w_shape[2:], spec)
    groups = phase_groups(geo)
    assert max(len(g.members) for g in groups) == largest
    members = sorted(i for g in groups for i in g.members)
    assert members == [i for i, ph in enumerate(make_plan(geo).phases) if ph.flat_taps]  # each phase once

    rng = np.random.default_rng(5)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[1] * kwargs.get("groups", 1))
    expected = conv_transpose_naive(x, w, b, **kwargs)
    with engine.use_path("phase"):
        out = ct.conv_transpose(x, w, b, **kwargs)
    assert_close(out, expected, np.float64)


def test_members_of_different_lengths_share_a_group():
    # Output length 11 with stride 4: the phases have 3, 2, 3 and 3 outputs; phases 0 and 1 (3 and 2
    # outputs) read the same windows and form one group.
    geo = geometries((2,), (8,), make_spec(1, stride=4, padding=2, output_padding=3))
    (group,) = [g for g in phase_groups(geo) if len(g.members) > 1][:1]
    counts = {make_plan(geo).phases[i].counts for i in group.members}
    assert len(counts) > 1 and group.counts == max(counts)
