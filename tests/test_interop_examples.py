"""The interop examples run and do what they claim (small sizes)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from features import HAS_MODES

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_onnx_decoder_matches_onnxruntime(capsys):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    difference = _load("onnx_decoder").main(["--batch", "1"])
    assert difference < 1e-4
    assert "max |convtranspose - onnxruntime|" in capsys.readouterr().out


def test_deconvolve_beats_the_observation_and_reflect_beats_zeros_at_the_border(tmp_path, capsys):
    pytest.importorskip("scipy")
    pytest.importorskip("sklearn")
    pytest.importorskip("tqdm")
    assert HAS_MODES, "the example's model needs padding_mode='reflect'"
    module = _load("deconvolve")
    scores = module.main(["--size", "64", "--iterations", "30", "--quiet"])  # the default mode: reflect
    assert "LSQR, padding_mode='reflect'" in capsys.readouterr().out
    # sharper than what was observed: one frame, and even all four frames interleaved
    assert scores["LSQR"] > scores["one frame, nearest"] + 2.0, scores
    assert scores["LSQR"] > scores["4 frames interleaved"] + 0.5, scores
    # the observations see the real scene beyond the window: reflect models the border far better than zeros
    assert scores["LSQR border"] > scores["LSQR zeros border"] + 5.0, scores
    assert scores["LSQR"] > scores["LSQR zeros"] + 3.0, scores
    # the simulated camera is the adjoint of the operator with the scene's true surroundings as padding
    scene = module.load_scene(16)
    weight = module.shifted_blurs()
    from convtranspose.scipy import as_linear_operator

    A = as_linear_operator(weight, (4, 8, 8), stride=2, padding=2, padding_mode="reflect")
    frames_reflect = (A.H @ scene[2:-2, 2:-2].ravel()).reshape(4, 8, 8)
    import convtranspose as ct

    frames_real = ct.conv(scene[None, None], weight, stride=2)[0]
    np.testing.assert_allclose(frames_real[:, 2:-2, 2:-2], frames_reflect[:, 2:-2, 2:-2], rtol=1e-12, atol=1e-12)
    assert not np.allclose(frames_real, frames_reflect)  # they differ only where the border is read
