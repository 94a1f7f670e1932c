"""Smoke tests of the benchmark harness: layer definitions, timing/memory plumbing, peers on the
tiny layer, the CLI with --quick, RESULTS.md and the chart. No timing assertions."""

from __future__ import annotations

import argparse
import collections
import itertools
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from convtranspose.bench import cli, memory, report, suite, timing
from convtranspose.bench.environment import Environment, openblas_warning
from convtranspose.bench.runner import Measurement
from convtranspose.bench.timing import Timing
from oracle import requires_torch  # torch is the bench's correctness oracle: runs that time it need it

pytest.importorskip("threadpoolctl")
pytest.importorskip("tqdm")


def _run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return cli.run(parser.parse_args(list(argv)))


# --------------------------------------------------------------------------------------------
# Layer definitions (expected values worked out by hand from the model descriptions)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, input_shape, output_shape, flops",
    [
        ("dcgan.1", (64, 100, 1, 1), (64, 512, 4, 4), 2 * 64 * 100 * 512 * 16 * 1),
        ("dcgan.2", (64, 512, 4, 4), (64, 256, 8, 8), 2 * 64 * 512 * 256 * 16 * 16),
        ("dcgan.5", (64, 64, 32, 32), (64, 3, 64, 64), 2 * 64 * 64 * 3 * 16 * 1024),
        ("unet.up3", (4, 128, 128, 128), (4, 64, 256, 256), 2 * 4 * 128 * 64 * 4 * 128 * 128),
        ("fcn8s.upscore8", (1, 21, 64, 64), (1, 21, 512, 512), 2 * 21 * 21 * 256 * 64 * 64),
        ("hifigan.up1", (1, 512, 32), (1, 256, 256), 2 * 512 * 256 * 16 * 32),
        ("hifigan.up3", (1, 128, 2048), (1, 64, 4096), 2 * 128 * 64 * 4 * 2048),
        ("unet3d.up", (1, 256, 16, 16, 16), (1, 128, 32, 32, 32), 2 * 256 * 128 * 8 * 4096),
        ("depthwise", (4, 256, 32, 32), (4, 256, 64, 64), 2 * 4 * 256 * 1 * 16 * 1024),
        ("dilated", (4, 128, 32, 32), (4, 64, 64, 64), 2 * 4 * 128 * 64 * 9 * 1024),
        ("tiny", (1, 1, 3, 3), (1, 1, 5, 5), 2 * 9 * 9),
    ],
)
def test_layer_shapes_and_flops(name, input_shape, output_shape, flops):
    layer = suite.find_layers([name])[0]
    assert layer.input_shape == input_shape
    assert layer.output_shape == output_shape
    assert layer.forward_flops == flops
    assert layer.backward_flops == 2 * flops


def test_layer_names_unique_and_targets_flagged():
    names = [layer.name for layer in suite.LAYERS]
    assert len(names) == len(set(names))
    assert {layer.name for layer in suite.LAYERS if layer.compute_bound} == {"dcgan.2", "unet3d.up"}
    assert [layer.name for layer in suite.LAYERS if layer.overhead] == ["tiny"]


def test_quick_variants_are_smaller():
    by_name = {layer.name: layer.quick() for layer in suite.LAYERS}
    assert by_name["dcgan.2"].input_shape == (8, 512, 4, 4)
    assert by_name["unet.up1"].batch == 1
    assert by_name["unet3d.up"].output_shape == (1, 128, 16, 16, 16)
    assert by_name["tiny"] == suite.find_layers(["tiny"])[0]


def test_find_layers_patterns():
    assert [layer.name for layer in suite.find_layers(["hifigan.*", "tiny"])] == [
        "hifigan.up1",
        "hifigan.up2",
        "hifigan.up3",
        "tiny",
    ]
    with pytest.raises(ValueError, match="matches no layer"):
        suite.find_layers(["nope*"])


# --------------------------------------------------------------------------------------------
# Timing and memory plumbing
# --------------------------------------------------------------------------------------------


def test_interleaved_orders_rounds_so_each_follows_every_other_about_equally():
    order = []
    loops = {name: (lambda k, n=name: order.append(n)) for name in ("a", "b", "c")}
    rounds = 300
    result = timing.interleaved(loops, rounds=rounds, min_round_time=0.0)
    timed = order[6:]  # after warm-up and sizing (2 calls each)
    assert len(timed) == 3 * rounds
    per_round = [timed[i : i + 3] for i in range(0, len(timed), 3)]
    assert all(sorted(r) == ["a", "b", "c"] for r in per_round)  # every implementation once a round
    assert len({tuple(r) for r in per_round}) == 6  # every order occurs
    follows = collections.Counter((r[i], r[i + 1]) for r in per_round for i in range(2))
    assert len(follows) == 6 and max(follows.values()) < 1.5 * min(follows.values())
    assert all(r.rounds == rounds and r.calls_per_round == 1 for r in result.values())
    assert all(r.best <= r.median for r in result.values())
    again = []
    timing.interleaved({name: (lambda k, n=name: again.append(n)) for name in "abc"}, rounds=rounds, min_round_time=0.0)
    assert again == order  # seeded: a rerun times in the same order


def test_calls_per_round_grows_until_a_loop_lasts_long_enough(monkeypatch):
    """On a fake clock (each call lasts 1/1024 s): a unit test asserts no real timing."""
    clock = [0.0]
    monkeypatch.setattr(timing.time, "perf_counter", lambda: clock[0])
    durations = []

    def loop(k):
        durations.append(k)
        clock[0] += k / 1024

    calls = timing.calls_per_round(loop, min_round_time=8 / 1024)
    assert calls == 8
    assert durations == [1, 1, 8]  # warm-up; one call lasts 1/1024 s; straight to 8 calls = 8/1024 s


def test_interleaved_budget_stops_after_min_rounds():
    result = timing.interleaved({"x": lambda k: None}, rounds=10, min_round_time=0.0, budget=0.0, min_rounds=2)
    assert result["x"].rounds == 2


def test_interleaved_settles_before_every_timed_loop(monkeypatch):
    events = []
    monkeypatch.setattr(timing, "settle_down", lambda seconds: events.append(("settle", seconds)))
    loops = {name: (lambda k, n=name: events.append(("run", n))) for name in ("a", "b")}
    timing.interleaved(loops, rounds=2, min_round_time=0.0, settle=0.25)
    # per implementation: an unsettled warm-up call, then a settled sizing loop; then 2 rounds
    assert events[:6] == [("run", "a"), ("settle", 0.25), ("run", "a"), ("run", "b"), ("settle", 0.25), ("run", "b")]
    timed = events[6:]
    assert timed[0::2] == [("settle", 0.25)] * 4
    assert sorted(timed[1::2]) == [("run", "a"), ("run", "a"), ("run", "b"), ("run", "b")]


def test_settle_down_waits_until_the_other_threads_are_quiet(monkeypatch):
    sleeps, ticks = [], iter([10, 13, 16, 16, 99])  # spinning for two windows, then quiet
    monkeypatch.setattr(timing.time, "sleep", sleeps.append)
    monkeypatch.setattr(timing, "_other_threads_cpu_ticks", lambda: next(ticks))
    timing.settle_down(0.05)
    assert sleeps == [0.05, timing._QUIET_WINDOW, timing._QUIET_WINDOW, timing._QUIET_WINDOW]
    sleeps.clear()
    timing.settle_down(0.0)
    assert sleeps == []  # no settling asked for


def test_settle_down_gives_up_after_the_longest_wait(monkeypatch):
    counter = itertools.count()
    monkeypatch.setattr(timing, "_MAX_QUIET_WAIT", 0.05)
    monkeypatch.setattr(timing, "_other_threads_cpu_ticks", lambda: next(counter))  # never quiet
    start = time.perf_counter()
    timing.settle_down(0.001)
    assert time.perf_counter() - start < 1.0


def test_other_threads_cpu_ticks_sees_a_busy_thread():
    if not sys.platform.startswith("linux"):  # no /proc/self/task: settling is the plain sleep
        assert timing._other_threads_cpu_ticks() is None
        return
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            pass

    before = timing._other_threads_cpu_ticks()
    worker = threading.Thread(target=spin)
    worker.start()
    try:
        time.sleep(0.2)
        assert timing._other_threads_cpu_ticks() > before
    finally:
        stop.set()
        worker.join()


def test_peak_extra_counts_temporaries_not_results():
    def make(n):
        temporary = np.ones(n, dtype=np.float32)
        return temporary + 1  # the result: n floats; the temporary: n floats

    usage = memory.peak_extra(lambda: make(1 << 18), reference_bytes=4 << 18)
    assert usage.result_bytes == 4 << 18
    assert usage.extra_bytes >= 4 << 18
    assert usage.ratio >= 1.0


def test_openblas_warning(monkeypatch):
    monkeypatch.delenv("OPENBLAS_CORETYPE", raising=False)
    monkeypatch.delenv("OPENBLAS_L2_SIZE", raising=False)
    assert openblas_warning() is None
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    text = openblas_warning()
    assert "OPENBLAS_CORETYPE=Haswell" in text
    assert "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE convtranspose bench" in text


# --------------------------------------------------------------------------------------------
# Peers on the tiny layer
# --------------------------------------------------------------------------------------------


@requires_torch
def test_peers_agree_on_tiny_layer():
    pytest.importorskip("onnxruntime")
    from convtranspose.bench.peers import IMPLEMENTATIONS, make_operands, make_runner

    layer = suite.find_layers(["tiny"])[0]
    ops = make_operands(layer)
    runners = {name: make_runner(name, layer, ops, threads=1) for name in IMPLEMENTATIONS}
    reference = runners["torch"].result("forward")
    assert reference.shape == layer.output_shape
    for name in ("ours", "torch-nomkldnn", "ort"):
        np.testing.assert_allclose(runners[name].result("forward"), reference, rtol=1e-5, atol=1e-5)
    torch_grads = runners["torch"].result("backward")
    for ours, theirs in zip(runners["ours"].result("backward"), torch_grads):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    assert not runners["ort"].supports("backward")
    for runner in runners.values():
        runner.loop("forward")(2)


def test_bench_import_is_lazy():
    code = "import sys, convtranspose.bench.cli; print(any(m in sys.modules for m in ('torch', 'onnxruntime')))"
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "False"


# --------------------------------------------------------------------------------------------
# CLI end to end (tiny layer; --quick plumbing)
# --------------------------------------------------------------------------------------------


@requires_torch
def test_cli_tiny_writes_results_and_chart(tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("matplotlib")
    status = _run_cli("--layers", "tiny", "--rounds", "2", "--threads", "1", "--no-progress", "--write", str(tmp_path))
    assert status == 0
    out = capsys.readouterr().out
    assert "Forward" in out and "Backward" in out and "Targets" in out
    assert "| tiny " in out
    text = (tmp_path / "RESULTS.md").read_text()
    for needle in ("## Targets", "## Forward", "## Backward", "Tiny-call overhead", "ratios.png", "BLAS in use"):
        assert needle in text
    assert (tmp_path / "ratios.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@requires_torch
def test_cli_quick_uses_small_variants(capsys):
    status = _run_cli("--quick", "--layers", "dcgan.1", "--peers", "torch", "--forward-only", "--rounds", "1", "--no-progress")
    assert status == 0
    out = capsys.readouterr().out
    assert "8x100x1x1 -> 8x512x4x4" in out
    assert "(--quick)" in out
    assert "Backward" not in out.split("Targets")[0]


@requires_torch
def test_cli_reports_wrong_results(monkeypatch, capsys):
    from convtranspose.bench import peers

    original = peers.OursRunner.result
    monkeypatch.setattr(peers.OursRunner, "result", lambda self, d: _corrupt(original(self, d)))
    status = _run_cli("--layers", "tiny", "--peers", "torch", "--rounds", "1", "--no-progress")
    assert status == 1
    captured = capsys.readouterr()
    assert "WRONG" in captured.out
    assert "MISMATCH tiny forward" in captured.err


def _corrupt(result):
    if isinstance(result, np.ndarray):
        return result + 1.0
    return tuple(None if g is None else g + 1.0 for g in result)


def test_cli_list_and_argument_errors(capsys):
    assert _run_cli("--list") == 0
    assert "hifigan.up2" in capsys.readouterr().out
    assert _run_cli("--layers", "nope") == 2
    assert _run_cli("--peers", "ort") == 2
    assert "correctness oracle" in capsys.readouterr().err
    assert _run_cli("--settle", "-1") == 2
    assert "--settle must be >= 0 seconds, got -1.0" in capsys.readouterr().err


def test_cli_missing_dependency(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail
    assert _run_cli("--layers", "tiny") == 2
    assert "pip install 'convtranspose[bench]'" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# Targets logic on synthetic measurements
# --------------------------------------------------------------------------------------------


def _measurement(name: str, direction: str, memory_ratio: float | None = None, **seconds: float) -> Measurement:
    """Layer ``name`` measured with the given seconds per implementation and, optionally, its peak
    extra memory as a multiple of the direction's reference (output / largest gradient)."""
    layer = suite.find_layers([name])[0]
    timings = {impl.replace("_", "-"): Timing(s, s, 1, 1) for impl, s in seconds.items()}
    peak = None
    if memory_ratio is not None:
        reference = layer.output_bytes if direction == "forward" else layer.largest_gradient_bytes
        peak = memory.MemoryUsage(peak_bytes=round(memory_ratio * reference), result_bytes=0, reference_bytes=reference)
    return Measurement(layer, direction, timings, peak)


def _environment() -> Environment:
    return Environment(
        date="2024-01-01", cpu="test CPU", logical_cpus=2, python="3", platform="test", versions={},
        git_commit=None, threads=2, engine_threads_hook=False, sgemm_gflops=100.0, blas=[], openblas_env={},
        command="convtranspose bench", quick=False, rounds=1,
    )


def test_targets_are_issue_15s():
    """The target table, written out from issue 15's text (plus the tiny-call overhead target kept from before)."""
    table = {(r.runs, r.direction, r.kind, r.versus): r.threshold for r in report.TARGETS}
    assert table == {
        ("suite", "forward", "geomean", "best peer"): 0.85,
        ("suite", "forward", "every layer", "best peer"): 1.15,
        ("suite", "backward", "geomean", "torch"): 0.8,
        ("suite", "backward", "every layer", "torch"): 1.2,
        ("suite", "forward", "sgemm", "torch"): 0.8,
        ("suite", "forward", "memory", "torch"): 2.0,
        ("suite", "backward", "memory", "torch"): 2.0,
        ("suite", "forward", "overhead", "torch"): 1.5,
        ("sweep", "forward", "geomean", "torch"): 0.9,
        ("sweep", "forward", "geomean", "best peer"): 1.0,
        ("sweep", "forward", "every layer", "best peer"): 1.5,
        ("sweep", "backward", "geomean", "torch"): 0.9,
        ("sweep", "backward", "geomean", "best peer"): 1.0,
        ("sweep", "backward", "every layer", "best peer"): 1.5,
    }
    assert report.MEMORY_MIN_OUTPUT_BYTES == 10**6  # 'above 1 MB': hifigan.up2/up3's 1 MiB outputs count
    assert len({r.name for r in report.TARGETS}) == len(report.TARGETS)


def _peers(rule, ratio: float) -> dict[str, float]:
    """Peer seconds for ours = ``ratio`` ms against ``rule.versus``; the other reading of "versus"
    gives the opposite verdict, so a rule that compares with the wrong peer fails."""
    if rule.versus == "torch":
        return dict(ours=ratio * 1e-3, torch=1e-3, torch_nomkldnn=0.5e-3)  # best peer would be 2x ratio
    return dict(ours=ratio * 1e-3, torch=2e-3, torch_nomkldnn=1e-3)  # ours/torch would be ratio / 2


def _case(rule, value: float) -> list[Measurement]:
    """Hand-made measurements on which ``rule`` measures exactly ``value``."""
    d = rule.direction
    if rule.kind == "geomean":  # two layers whose ratios straddle the value: geomean(1.2 v, v / 1.2) = v
        return [_measurement("dcgan.2", d, **_peers(rule, value * 1.2)), _measurement("dcgan.3", d, **_peers(rule, value / 1.2))]
    if rule.kind == "every layer":  # one layer at the value, one well under: their geomean is always under
        return [_measurement("dcgan.2", d, **_peers(rule, value)), _measurement("dcgan.3", d, **_peers(rule, 0.5))]
    if rule.kind == "sgemm":  # dcgan.2 is compute-bound; tiny is not and runs at a hopeless rate
        layer = suite.find_layers(["dcgan.2"])[0]
        seconds = layer.forward_flops / (value * 100.0 * 1e9)  # value x the 100 GFLOP/s sgemm rate
        return [_measurement("dcgan.2", d, ours=seconds, torch=seconds), _measurement("tiny", d, ours=1.0, torch=1e-5)]
    if rule.kind == "memory":  # dcgan.2 has 4 MiB of output; hifigan.up1's 256 KiB and tiny's 100 B are below 1 MB
        return [_measurement("dcgan.2", d, memory_ratio=value), _measurement("tiny", d, memory_ratio=100.0),
                _measurement("hifigan.up1", d, memory_ratio=100.0)]
    assert rule.kind == "overhead"
    return [_measurement("tiny", d, ours=value * 1e-5, torch=1e-5), _measurement("dcgan.2", d, ours=1.0, torch=1e-3)]


@pytest.mark.parametrize("side", ["inside", "outside"])
@pytest.mark.parametrize("rule", report.TARGETS, ids=lambda rule: rule.name)
def test_each_target_on_both_sides_of_its_threshold(rule, side):
    at_least = rule.kind == "sgemm"  # ">= threshold"; every other kind is "<= threshold"
    factor = 1.01 if (side == "inside") == at_least else 0.99
    target = report.evaluate_target(rule, _case(rule, rule.threshold * factor), sgemm=100.0)
    assert target.name == rule.name
    assert target.met is (side == "inside"), target
    assert target.status == ("met" if side == "inside" else "NOT met")


def test_targets_name_what_misses_them():
    rule = report.TARGETS[1]  # forward, every layer vs best peer, <= 1.15x
    target = report.evaluate_target(rule, _case(rule, 1.3), sgemm=100.0)
    assert target.measured == "worst dcgan.2 1.30x (torch (no mkldnn)); 1 over: dcgan.2 1.30x"
    memory_rule = next(r for r in report.TARGETS if r.kind == "memory" and r.direction == "backward")
    target = report.evaluate_target(memory_rule, _case(memory_rule, 3.0), sgemm=100.0)
    assert target.requirement == "<= 2x the largest gradient, every layer above 1 MB of output"
    assert target.measured.startswith("worst dcgan.2 3.00x (24.0 MB extra for a 8.0 MB largest gradient) over 1 layers")
    assert "tiny" not in target.measured


def test_targets_not_measured_without_measurements():
    targets = report.evaluate_targets([], sgemm=100.0)
    assert [t.name for t in targets] == [r.name for r in report.TARGETS if r.runs == "suite"]
    assert all(t.met is None and t.status == "not measured" for t in targets)
    assert report.sweep_targets([]) == []


def test_memory_references():
    dcgan2 = suite.find_layers(["dcgan.2"])[0]  # input 64x512x4x4, weight 512x256x4x4, output 64x256x8x8
    assert dcgan2.output_bytes == 4 * 64 * 256 * 8 * 8
    assert dcgan2.largest_gradient_bytes == 4 * 512 * 256 * 4 * 4  # the weight gradient
    unet = suite.find_layers(["unet.up3"])[0]  # input 4x128x128x128, weight 128x64x2x2
    assert unet.largest_gradient_bytes == 4 * 4 * 128 * 128 * 128  # the input gradient
    judged = [layer.name for layer in suite.LAYERS if layer.output_bytes > report.MEMORY_MIN_OUTPUT_BYTES]
    assert "hifigan.up2" in judged and "hifigan.up3" in judged  # exactly 1 MiB of output each
    assert "hifigan.up1" not in judged and "fcn8s.upscore2" not in judged and "tiny" not in judged


def test_targets_verdicts_on_synthetic_numbers(tmp_path):
    measurements = [
        _measurement("dcgan.2", "forward", 3.0, ours=0.048, torch=0.100, ort=0.040),  # 0.48x torch, 1.2x ORT
        _measurement("tiny", "forward", 3.0, ours=2e-5, torch=1e-5, ort=1e-5),  # 2x: overhead target fails
        _measurement("dcgan.2", "backward", 1.5, ours=0.1, torch=0.2),
    ]
    targets = {t.name: t for t in report.evaluate_targets(measurements, sgemm=100.0)}
    assert targets["Forward geomean vs best peer"].met is False  # geomean(1.2, 2.0) = 1.55 > 0.85
    assert targets["Forward, every layer vs best peer"].met is False  # tiny is 2x
    assert "tiny 2.00x" in targets["Forward, every layer vs best peer"].measured
    assert targets["Backward geomean vs torch"].met is True  # 0.5x
    assert targets["Backward, every layer vs torch"].met is True
    # dcgan.2: 4.295 GFLOP in 48 ms = 89.5 GFLOP/s = 89% of 100
    assert targets["Compute-bound layers (forward)"].met is True
    assert targets["Peak extra memory (forward)"].met is False  # 3x output on dcgan.2
    assert targets["Peak extra memory (backward)"].met is True  # 1.5x the weight gradient
    assert targets["Tiny-call overhead (forward)"].met is False
    pytest.importorskip("matplotlib", reason="the results chart needs matplotlib (the 'bench' extra)")
    markdown, chart = report.write_results(tmp_path, measurements, _environment())
    assert "NOT met" in markdown.read_text()
    assert chart.exists()
