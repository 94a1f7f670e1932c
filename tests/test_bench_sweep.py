"""The randomized layer sweep of the bench (``convtranspose bench --sweep N --seed S``).

The generator is checked against the library's own validation (``build_plan``, the function every
call goes through) and PyTorch's module constructor, for determinism and for coverage of the
ranges issue 15 asks for; the reporting on synthetic timings; the CLI plumbing on a 1-layer sweep.
No timing assertions.
"""

from __future__ import annotations

import argparse
import math
import random
from collections import Counter

import numpy as np
import pytest

from convtranspose.bench import cli, report, sweep
from convtranspose.bench.peers import onnx_padding
from convtranspose.bench.runner import Measurement
from convtranspose.bench.suite import LAYERS, Layer
from convtranspose.bench.timing import Timing
from convtranspose.plan import build_plan

DRAWS = 300


@pytest.fixture(scope="module")
def layers() -> list[Layer]:
    return sweep.sweep_layers(DRAWS, seed=12345)


def _run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return cli.run(parser.parse_args(list(argv)))


# --------------------------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------------------------


def test_every_layer_is_valid_for_the_library(layers):
    float32 = np.dtype(np.float32)
    for layer in layers:
        hyper = (layer.stride, layer.padding, layer.output_padding, layer.groups, layer.dilation)
        plan = build_plan(
            "conv_transpose", None, layer.input_shape, float32, layer.weight_shape, float32,
            (layer.out_channels,), float32, hyper,
        )
        assert plan.output_shape == layer.output_shape, layer
        assert plan.weight_shape == layer.weight_shape
        # in PyTorch's range too: output_padding < max(stride, dilation), channels divisible by groups
        assert layer.output_padding < max(layer.stride, layer.dilation)
        assert layer.in_channels % layer.groups == 0 and layer.out_channels % layer.groups == 0
        assert min(layer.output_spatial) >= 1


def test_every_layer_builds_as_a_torch_module(layers):
    torch = pytest.importorskip("torch")
    for layer in layers[:60]:
        module = getattr(torch.nn, f"ConvTranspose{layer.ndim}d")(
            layer.in_channels, layer.out_channels, layer.kernel_size, device="meta", **layer.conv_kwargs()
        )
        out = module(torch.empty(layer.input_shape, device="meta"))
        assert tuple(out.shape) == layer.output_shape, layer


def test_layers_are_in_the_issue_ranges(layers):
    low, high = sweep.TIME_RANGE
    for layer in layers:
        assert layer.ndim in (1, 2, 3)
        assert sweep.CHANNEL_RANGE[0] <= layer.in_channels <= sweep.CHANNEL_RANGE[1]
        assert sweep.CHANNEL_RANGE[0] <= layer.out_channels <= sweep.CHANNEL_RANGE[1]
        assert sweep.KERNEL_RANGE[0] <= layer.kernel_size <= sweep.KERNEL_RANGE[1]
        assert sweep.STRIDE_RANGE[0] <= layer.stride <= sweep.STRIDE_RANGE[1]
        assert sweep.DILATION_RANGE[0] <= layer.dilation <= sweep.DILATION_RANGE[1]
        assert sweep.BATCH_RANGE[0] <= layer.batch <= sweep.BATCH_RANGE[1]
        assert 0 <= layer.padding <= layer.dilation * (layer.kernel_size - 1)
        assert layer.stride <= layer.dilation * (layer.kernel_size - 1) + 1  # every output position reached
        assert low <= sweep.estimated_seconds(layer) <= high
        assert 4 * math.prod(layer.output_shape) <= sweep.MAX_OUTPUT_BYTES


def test_draws_cover_the_ranges(layers):
    def values(attribute):
        return Counter(getattr(layer, attribute) for layer in layers)

    assert set(values("ndim")) == {1, 2, 3}
    assert set(values("kernel_size")) == set(range(1, 8))
    assert set(values("stride")) == set(range(1, 5))
    assert set(values("dilation")) == set(range(1, 4))
    assert {0, 1, 2, 3} <= set(values("padding"))
    assert {0, 1, 2} <= set(values("output_padding"))
    assert any(layer.output_padding >= layer.stride for layer in layers)  # valid only thanks to dilation
    batches = values("batch")
    assert {1, 32} <= set(batches) and len(batches) >= 10
    channels = Counter([layer.in_channels for layer in layers] + [layer.out_channels for layer in layers])
    assert {8, 512} <= set(channels) and len(channels) >= 20
    assert any(c % 8 for c in channels)  # not only the usual multiples of 8
    kinds = Counter(
        "dense" if layer.groups == 1 else "depthwise" if layer.groups == layer.in_channels else "grouped"
        for layer in layers
    )
    assert min(kinds.values()) >= DRAWS // 20 and len(kinds) == 3
    assert all(layer.groups == 1 for layer in layers if layer.kernel_size == 1)
    assert any(layer.groups == layer.in_channels and layer.out_channels == 2 * layer.in_channels for layer in layers)
    assert any(layer.ndim == 2 and layer.input_size[0] != layer.input_size[1] for layer in layers)
    # the estimated time spans the range: a few layers in each decade from 0.05 ms to 50 ms
    decades = Counter(math.floor(math.log10(sweep.estimated_seconds(layer) / sweep.TIME_RANGE[0])) for layer in layers)
    assert set(decades) == {0, 1, 2} and min(decades.values()) >= DRAWS // 10
    exact = sum(all(o == i * layer.stride for o, i in zip(layer.output_spatial, layer.input_size)) for layer in layers)
    assert DRAWS // 3 <= exact <= DRAWS - DRAWS // 10  # mostly exact upsampling, not only
    assert len({layer.describe_shape() for layer in layers}) == DRAWS


def test_the_same_seed_gives_the_same_layers_whatever_numpy_and_random_do():
    first = sweep.sweep_layers(20, seed=7)
    np.random.seed(99)
    np.random.random(1000)
    random.seed(99)
    random.random()
    assert sweep.sweep_layers(20, seed=7) == first
    assert sweep.sweep_layers(30, seed=7)[:20] == first  # layer i does not depend on the count
    assert sweep.sweep_layer(7, 13) == first[13]
    assert [layer.name for layer in first[:3]] == ["sweep.000", "sweep.001", "sweep.002"]
    assert "seed 7" in first[0].source


def test_different_seeds_give_different_layers():
    shapes = {seed: [layer.describe_shape() for layer in sweep.sweep_layers(10, seed)] for seed in range(4)}
    assert len({tuple(s) for s in shapes.values()}) == 4
    suite_shapes = {layer.describe_shape() for layer in LAYERS}
    assert not suite_shapes & {s for group in shapes.values() for s in group}


def test_generator_pinned_values():
    # Guards the "same seed -> same layers" promise across refactors: a change to the generator
    # changes these, and then every recorded sweep's seed no longer names the same layers.
    assert [layer.describe_shape() for layer in sweep.sweep_layers(3, seed=1)] == [
        "16x64x223 -> 16x24x447 k2 s2 op1",
        "17x384x391 -> 17x20x1565 k4 s4 p1 op3 g4",
        "8x192x767 -> 8x192x768 k2 p1 op1 d2 g192",
    ]


def test_sweep_layers_rejects_a_negative_count():
    assert sweep.sweep_layers(0, seed=1) == []
    with pytest.raises(ValueError, match="count must be >= 0, got -1"):
        sweep.sweep_layers(-1, seed=1)


def test_estimated_seconds_is_the_documented_sum():
    layer = Layer("x", "", 2, 16, 8, 3, (10, 10), stride=2, padding=1)
    flops = 2 * 2 * 16 * 8 * 9 * 100
    columns = 4 * 2 * 8 * 9 * 100  # every tap's product, N C_out prod(K) prod(S_in)
    data = 4 * (2 * 16 * 100 + 16 * 8 * 9 + 8 + 2 * 8 * 19 * 19) + 2 * columns
    expected = sweep.CALL_OVERHEAD + flops / sweep.NOMINAL_FLOPS + data / sweep.NOMINAL_BYTES
    assert sweep.estimated_seconds(layer) == pytest.approx(expected)


def test_onnx_padding_covers_the_sweep(layers):
    # onnxruntime refuses output_padding >= stride; the rewrite must keep the output size
    for layer in layers:
        padding = onnx_padding(layer)
        if padding is None:
            assert layer.output_padding - layer.padding >= layer.stride
            continue
        pads, output_padding = padding
        n = layer.ndim
        assert all(op < layer.stride for op in output_padding) and min(pads) >= 0
        extent = layer.dilation * (layer.kernel_size - 1) + 1
        sizes = tuple(
            layer.stride * (i - 1) + output_padding[a] + extent - pads[a] - pads[n + a]
            for a, i in enumerate(layer.input_size)
        )
        assert sizes == layer.output_spatial, layer
    assert sum(onnx_padding(layer) is not None for layer in layers) >= 0.9 * len(layers)


# --------------------------------------------------------------------------------------------
# Reporting (synthetic timings)
# --------------------------------------------------------------------------------------------


def _measurement(layer: Layer, direction: str, **seconds: float) -> Measurement:
    return Measurement(layer, direction, {name: Timing(s, s, 1, 1) for name, s in seconds.items()}, None)


def _environment():
    from convtranspose.bench.environment import Environment

    return Environment(
        date="2024-01-01", cpu="test CPU", logical_cpus=2, python="3", platform="test", versions={},
        git_commit=None, threads=2, engine_threads_hook=False, sgemm_gflops=100.0, blas=[], openblas_env={},
        command="convtranspose bench --sweep 6 --seed 3", quick=False, rounds=1,
    )


def _sweep_run() -> report.SweepRun:
    layers = sweep.sweep_layers(6, seed=3)
    forward_ratios = [0.5, 0.8, 1.0, 1.2, 1.6, 0.7]  # ours / ORT (the best peer); torch is 2x ORT
    measurements = [
        _measurement(layer, "forward", ours=r * 1e-3, torch=2e-3, ort=1e-3) for layer, r in zip(layers, forward_ratios)
    ]
    measurements += [_measurement(layer, "backward", ours=0.5e-3, torch=1e-3) for layer in layers]
    return report.SweepRun(count=6, seed=3, measurements=measurements)


def test_sweep_targets_on_synthetic_numbers():
    run = _sweep_run()
    targets = {t.name: t for t in report.sweep_targets(run.measurements)}
    # forward ours/ORT: exp(mean(log of the ratios above)) = exp(-0.6206 / 6) = 0.902; ours/torch is half
    assert targets["Sweep forward geomean vs torch"].met is True
    assert targets["Sweep forward geomean vs torch"].measured == "0.451x over 6 layers"
    assert targets["Sweep forward geomean vs best peer"].measured == "0.902x over 6 layers"
    assert targets["Sweep forward geomean vs best peer"].met is True
    assert targets["Sweep forward geomean vs best peer"].requirement == "<= 1x best peer"
    assert targets["Sweep forward, every layer vs best peer"].met is False
    assert "sweep.004 1.60x" in targets["Sweep forward, every layer vs best peer"].measured
    assert targets["Sweep backward geomean vs torch"].met is True
    assert targets["Sweep backward, every layer vs best peer"].met is True
    assert len(targets) == 6


def test_worst_table_lists_the_worst_first():
    run = _sweep_run()
    table = report.worst_table(run.measurements, "forward", count=3)
    rows = [line.split("|")[1].strip() for line in table.splitlines()[2:]]
    assert rows == ["sweep.004", "sweep.003", "sweep.002"]
    assert "1.60x" in table and "ORT" in table


def test_write_results_with_a_sweep_alone_writes_sweep_md(tmp_path):
    pytest.importorskip("matplotlib", reason="the sweep chart needs matplotlib (the 'bench' extra)")
    written = report.write_results(tmp_path, [], _environment(), _sweep_run())
    assert [path.name for path in written] == ["SWEEP.md", "sweep.png"]
    assert not (tmp_path / "RESULTS.md").exists()
    text = written[0].read_text()
    for needle in ("# Sweep results", "## Sweep: 6 random layers, seed 3", "NOT met", "worst 5 vs best peer",
                   "every layer", "sweep.png", "sweep_layers(6, seed=3)"):
        assert needle in text
    assert written[1].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_write_results_with_suite_and_sweep(tmp_path):
    pytest.importorskip("matplotlib", reason="the charts need matplotlib (the 'bench' extra)")
    from convtranspose.bench.suite import find_layers

    suite = [_measurement(find_layers(["tiny"])[0], "forward", ours=1e-5, torch=1e-5)]
    written = report.write_results(tmp_path, suite, _environment(), _sweep_run())
    assert [path.name for path in written] == ["RESULTS.md", "ratios.png", "sweep.png"]
    text = written[0].read_text()
    assert text.index("## Targets") < text.index("## Sweep: 6 random layers, seed 3") < text.index("## Method")
    summary = report.summary_text(suite, _environment(), _sweep_run())
    assert "Sweep targets" in summary and "Sweep forward: worst 5 vs best peer" in summary


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def test_cli_lists_the_sweep(capsys):
    assert _run_cli("--sweep", "4", "--seed", "2", "--list") == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out] == ["sweep.000", "sweep.001", "sweep.002", "sweep.003"]
    assert all("estimated" in line for line in out)
    assert _run_cli("--sweep", "2", "--seed", "2", "--layers", "tiny", "--list") == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == ["tiny", "sweep.000", "sweep.001"]


def test_cli_sweep_argument_errors(capsys):
    assert _run_cli("--seed", "3") == 2
    assert "--seed chooses the --sweep layers; it needs --sweep N" in capsys.readouterr().err
    assert _run_cli("--sweep", "0") == 2
    assert "--sweep must be >= 1 layers, got 0" in capsys.readouterr().err
    assert _run_cli("--sweep", "2", "--seed", "-4") == 2
    assert "--seed must be >= 0, got -4" in capsys.readouterr().err


def test_cli_runs_a_one_layer_sweep(tmp_path, capsys, monkeypatch):
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    pytest.importorskip("matplotlib")
    small = Layer("sweep.000", "random layer 0 of sweep seed 5", 1, 8, 8, 3, (6, 6), stride=2, padding=1,
                  output_padding=1, dilation=1)
    monkeypatch.setattr(cli, "sweep_layers", lambda count, seed: [small] * count)
    status = _run_cli("--sweep", "1", "--seed", "5", "--rounds", "1", "--settle", "0", "--threads", "1",
                      "--no-progress", "--write", str(tmp_path))
    assert status == 0
    out = capsys.readouterr().out
    assert "Sweep: 1 random layer, seed 5" in out and "Sweep targets" in out
    assert "| sweep.000 " in out and "Forward\n" not in out  # no suite tables
    text = (tmp_path / "SWEEP.md").read_text()
    assert "--sweep 1 --seed 5" in text  # the command line, seed included
    assert (tmp_path / "sweep.png").exists() and not (tmp_path / "RESULTS.md").exists()
