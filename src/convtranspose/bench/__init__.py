"""Benchmark suite of transposed-convolution layers from real models (``convtranspose bench``).

Compares our implementation with torch (default CPU backend and with mkldnn disabled) and
onnxruntime, forward and backward, and checks the project's performance targets. The peers are
optional dependencies (``pip install 'convtranspose[bench]'``), imported only when a benchmark runs.

Modules: :mod:`~convtranspose.bench.suite` (the layers), :mod:`~convtranspose.bench.peers`
(the implementations), :mod:`~convtranspose.bench.timing`, :mod:`~convtranspose.bench.memory`,
:mod:`~convtranspose.bench.runner`, :mod:`~convtranspose.bench.report`,
:mod:`~convtranspose.bench.environment`, :mod:`~convtranspose.bench.cli`, and
:mod:`~convtranspose.bench.sweep` (the seeded random layers of ``--sweep N --seed S``).
"""

from .suite import LAYERS, Layer, find_layers

__all__ = ["LAYERS", "Layer", "find_layers"]
