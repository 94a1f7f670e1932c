"""The interop examples run and do what they claim (small sizes)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

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


def test_deconvolve_beats_the_observation(tmp_path):
    pytest.importorskip("scipy")
    pytest.importorskip("sklearn")
    pytest.importorskip("tqdm")
    mode = "reflect" if HAS_MODES else "zeros"
    scores = _load("deconvolve").main(["--size", "64", "--iterations", "30", "--quiet", "--padding-mode", mode])
    assert scores["LSQR"] > scores["observed frame (nearest)"] + 2.0, scores
