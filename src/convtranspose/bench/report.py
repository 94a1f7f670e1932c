"""Tables, the targets check, RESULTS.md and the bar chart of the ratios.

Tables are Markdown pipe tables with padded columns, so the same text reads well in a terminal and
renders on GitHub.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional, Sequence

from .environment import BUSY_CPUS, OPENBLAS_VARIABLES, Environment
from .peers import IMPLEMENTATIONS, LABELS
from .runner import CHECK_RTOL, Measurement, geomean

__all__ = [
    "Target",
    "TargetRule",
    "TARGETS",
    "MEMORY_MIN_OUTPUT_BYTES",
    "evaluate_target",
    "evaluate_targets",
    "markdown_table",
    "results_table",
    "targets_table",
    "summary_text",
    "results_markdown",
    "write_results",
    "plot_ratios",
    "SweepRun",
    "sweep_targets",
    "worst_table",
    "plot_sweep",
]

WORST_SHOWN = 5


# --------------------------------------------------------------------------------------------
# Formatting helpers
# --------------------------------------------------------------------------------------------


def _ms(seconds: Optional[float]) -> str:
    if seconds is None:
        return "n/a"
    ms = seconds * 1e3
    return f"{ms:.4f}" if ms < 0.1 else f"{ms:.3f}" if ms < 10 else f"{ms:.1f}"


def _ratio(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def _number(value: Optional[float], digits: int = 1, suffix: str = "") -> str:
    return "n/a" if value is None else f"{value:.{digits}f}{suffix}"


def _bytes(count: int) -> str:
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count} B"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> str:
    """A padded Markdown pipe table; ``right[i]`` right-aligns column ``i``."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]

    def line(cells: Sequence[str]) -> str:
        padded = (str(c).rjust(w) if r else str(c).ljust(w) for c, w, r in zip(cells, widths, right))
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if r else ("-" * (w + 2)) for w, r in zip(widths, right)) + "|"
    return "\n".join([line(header), rule] + [line(row) for row in rows])


# --------------------------------------------------------------------------------------------
# Results tables
# --------------------------------------------------------------------------------------------


def _row(m: Measurement, sgemm: float, with_shape: bool) -> list[str]:
    cells = [m.layer.name]
    if with_shape:
        cells.append(m.layer.describe_shape())
    cells += [_ms(m.seconds(name)) for name in IMPLEMENTATIONS]
    gflops = m.gflops
    cells += [
        _ratio(m.ratio_to("torch")),
        _ratio(m.ratio_to_best_peer),
        _number(gflops, 1),
        _number(None if gflops is None else 100 * gflops / sgemm, 0, "%"),
        _number(None if m.memory is None else m.memory.ratio, 2, "x"),
        "WRONG" if m.mismatches else "ok",
    ]
    return cells


def results_table(measurements: Sequence[Measurement], direction: str, sgemm: float) -> str:
    """The table of one direction, with a geometric-mean row for the two ratios."""
    chosen = [m for m in measurements if m.direction == direction]
    with_shape = direction == "forward"
    header = ["layer"] + (["shape"] if with_shape else [])
    header += [f"{LABELS[name]} ms" for name in IMPLEMENTATIONS]
    header += ["ours/torch", "ours/best peer", "GFLOP/s", "% sgemm", "mem", "check"]
    rows = [_row(m, sgemm, with_shape) for m in chosen]
    blank = [""] * (len(IMPLEMENTATIONS) + (1 if with_shape else 0))
    rows.append(
        ["geomean"]
        + blank
        + [
            _ratio(geomean([m.ratio_to("torch") for m in chosen])),
            _ratio(geomean([m.ratio_to_best_peer for m in chosen])),
            "",
            "",
            "",
            "",
        ]
    )
    right = [False] + ([False] if with_shape else []) + [True] * (len(header) - 1 - (1 if with_shape else 0))
    return markdown_table(header, rows, right)


# --------------------------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TargetRule:
    """One performance target: which runs and direction it judges, how, and its threshold.

    ``kind`` says what is compared with ``threshold``:

    * ``"geomean"``: the geometric mean over the layers of our time / ``versus``'s (<=);
    * ``"every layer"``: the same ratio on every layer (<=);
    * ``"sgemm"``: our GFLOP/s on every compute-bound layer, as a fraction of the measured sgemm rate (>=);
    * ``"memory"``: peak extra memory / reference size on every layer whose output is above
      :data:`MEMORY_MIN_OUTPUT_BYTES` (<=); the reference is the output (forward) or the largest
      gradient (backward);
    * ``"overhead"``: our time / ``versus``'s on the per-call overhead layer (<=).
    """

    name: str
    runs: Literal["suite", "sweep"]
    direction: Literal["forward", "backward"]
    kind: Literal["geomean", "every layer", "sgemm", "memory", "overhead"]
    threshold: float
    versus: str = "torch"


#: Memory targets judge only layers whose output is larger than this: 1 MB, counted as 10**6 bytes
#: so that outputs of exactly 1 MiB count (below it, Python and NumPy object overheads dominate).
MEMORY_MIN_OUTPUT_BYTES = 10**6

#: Every target the bench checks (issue 15's, fp32 at the bench's thread count), in report order.
TARGETS: tuple[TargetRule, ...] = (
    TargetRule("Forward geomean vs best peer", "suite", "forward", "geomean", 0.85, "best peer"),
    TargetRule("Forward, every layer vs best peer", "suite", "forward", "every layer", 1.15, "best peer"),
    TargetRule("Backward geomean vs torch", "suite", "backward", "geomean", 0.8),
    TargetRule("Backward, every layer vs torch", "suite", "backward", "every layer", 1.2),
    TargetRule("Compute-bound layers (forward)", "suite", "forward", "sgemm", 0.8),
    TargetRule("Peak extra memory (forward)", "suite", "forward", "memory", 2.0),
    TargetRule("Peak extra memory (backward)", "suite", "backward", "memory", 2.0),
    TargetRule("Tiny-call overhead (forward)", "suite", "forward", "overhead", 1.5),  # issue 9's, kept
    TargetRule("Sweep forward geomean vs torch", "sweep", "forward", "geomean", 0.9),
    TargetRule("Sweep forward geomean vs best peer", "sweep", "forward", "geomean", 1.0, "best peer"),
    TargetRule("Sweep forward, every layer vs best peer", "sweep", "forward", "every layer", 1.5, "best peer"),
    TargetRule("Sweep backward geomean vs torch", "sweep", "backward", "geomean", 0.9),
    TargetRule("Sweep backward geomean vs best peer", "sweep", "backward", "geomean", 1.0, "best peer"),
    TargetRule("Sweep backward, every layer vs best peer", "sweep", "backward", "every layer", 1.5, "best peer"),
)


def _rule(runs: str, direction: str, kind: str, versus: Optional[str] = None) -> TargetRule:
    """The rule of ``TARGETS`` for these runs, direction and kind (and ``versus``): the charts draw its line."""
    rules = [r for r in TARGETS if (r.runs, r.direction, r.kind) == (runs, direction, kind)]
    return next(r for r in rules if versus is None or r.versus == versus)


@dataclass(frozen=True)
class Target:
    """One acceptance target: what it asks, what was measured, and whether it is met (None = not run)."""

    name: str
    requirement: str
    measured: str
    met: Optional[bool]

    @property
    def status(self) -> str:
        return {True: "met", False: "NOT met", None: "not measured"}[self.met]


def _of(measurements: Sequence[Measurement], direction: str) -> list[Measurement]:
    return [m for m in measurements if m.direction == direction]


def _directions(measurements: Sequence[Measurement]) -> list[str]:
    """The directions measured, forward first."""
    return [d for d in ("forward", "backward") if any(m.direction == d for m in measurements)]


def _ratio_of(m: Measurement, versus: str) -> Optional[float]:
    """Our time over ``versus``'s: an implementation's name, or ``"best peer"``."""
    return m.ratio_to_best_peer if versus == "best peer" else m.ratio_to(versus)


def _over(rows: Sequence[tuple[float, str]], limit: float, above: bool = True) -> str:
    """``"; 2 over: a 1.30x, b 1.20x"`` for the rows beyond ``limit`` (or below it, ``above=False``)."""
    beyond = [text for value, text in rows if (value > limit if above else value < limit)]
    return f"; {len(beyond)} {'over' if above else 'under'}: " + ", ".join(beyond) if beyond else ""


def _geomean_target(rule: TargetRule, chosen: Sequence[Measurement]) -> Target:
    ratios = [_ratio_of(m, rule.versus) for m in chosen]
    value = geomean(ratios)
    requirement = f"<= {rule.threshold:g}x {rule.versus}"
    if value is None:
        return Target(rule.name, requirement, "n/a", None)
    measured = f"{value:.3f}x over {len([r for r in ratios if r is not None])} layers"
    return Target(rule.name, requirement, measured, value <= rule.threshold)


def _every_layer_target(rule: TargetRule, chosen: Sequence[Measurement]) -> Target:
    rows = [(r, m) for m in chosen if (r := _ratio_of(m, rule.versus)) is not None]
    requirement = f"<= {rule.threshold:g}x {rule.versus}, every layer"
    if not rows:
        return Target(rule.name, requirement, "n/a", None)
    worst, worst_m = max(rows, key=lambda pair: pair[0])
    peer = worst_m.best_peer if rule.versus == "best peer" else rule.versus
    measured = f"worst {worst_m.layer.name} {worst:.2f}x ({LABELS.get(peer or '', peer)})"
    measured += _over([(r, f"{m.layer.name} {r:.2f}x") for r, m in rows], rule.threshold)
    return Target(rule.name, requirement, measured, worst <= rule.threshold)


def _sgemm_target(rule: TargetRule, chosen: Sequence[Measurement], sgemm: float) -> Target:
    rows = [(g / sgemm, g, m) for m in chosen if m.layer.compute_bound and (g := m.gflops) is not None]
    requirement = f">= {rule.threshold:.0%} of sgemm ({sgemm:.0f} GFLOP/s), every compute-bound layer"
    if not rows:
        return Target(rule.name, requirement, "n/a", None)
    measured = ", ".join(f"{m.layer.name} {f:.0%} ({g:.0f} GFLOP/s)" for f, g, m in rows)
    return Target(rule.name, requirement, measured, min(f for f, _, _ in rows) >= rule.threshold)


def _memory_target(rule: TargetRule, chosen: Sequence[Measurement]) -> Target:
    reference = "output" if rule.direction == "forward" else "largest gradient"
    requirement = f"<= {rule.threshold:g}x the {reference}, every layer above {MEMORY_MIN_OUTPUT_BYTES / 1e6:g} MB of output"
    rows = [
        (m.layer.name, memory) for m in chosen
        if (memory := m.memory) is not None and m.layer.output_bytes > MEMORY_MIN_OUTPUT_BYTES
    ]
    if not rows:
        return Target(rule.name, requirement, "n/a", None)
    worst_name, worst = max(rows, key=lambda row: row[1].ratio)
    measured = (
        f"worst {worst_name} {worst.ratio:.2f}x ({_bytes(worst.extra_bytes)} extra "
        f"for a {_bytes(worst.reference_bytes)} {reference}) over {len(rows)} layers"
    )
    measured += _over([(memory.ratio, f"{name} {memory.ratio:.2f}x") for name, memory in rows], rule.threshold)
    return Target(rule.name, requirement, measured, worst.ratio <= rule.threshold)


def _overhead_target(rule: TargetRule, chosen: Sequence[Measurement]) -> Target:
    rows = [
        (ours, theirs) for m in chosen
        if m.layer.overhead and (ours := m.seconds("ours")) is not None and (theirs := m.seconds(rule.versus)) is not None
    ]
    requirement = f"<= {rule.threshold:g}x {rule.versus}"
    if not rows:
        return Target(rule.name, requirement, "n/a", None)
    ours, theirs = rows[0]
    ratio = ours / theirs
    measured = f"{ratio:.2f}x ({ours * 1e6:.1f} us vs {theirs * 1e6:.1f} us)"
    return Target(rule.name, requirement, measured, ratio <= rule.threshold)


def evaluate_target(rule: TargetRule, measurements: Sequence[Measurement], sgemm: float) -> Target:
    """One target, met or not (None: nothing it judges was measured), with the numbers behind it."""
    chosen = _of(measurements, rule.direction)
    if rule.kind == "geomean":
        return _geomean_target(rule, chosen)
    if rule.kind == "every layer":
        return _every_layer_target(rule, chosen)
    if rule.kind == "sgemm":
        return _sgemm_target(rule, chosen, sgemm)
    if rule.kind == "memory":
        return _memory_target(rule, chosen)
    return _overhead_target(rule, chosen)


def evaluate_targets(measurements: Sequence[Measurement], sgemm: float) -> list[Target]:
    """Every suite target, met or not, with the numbers behind the verdict."""
    return [evaluate_target(rule, measurements, sgemm) for rule in TARGETS if rule.runs == "suite"]


def targets_table(targets: Sequence[Target]) -> str:
    rows = [[t.name, t.requirement, t.measured, t.status] for t in targets]
    return markdown_table(["target", "requirement", "measured", "status"], rows, [False] * 4)


def summary_text(
    measurements: Sequence[Measurement], env: Environment, sweep: Optional["SweepRun"] = None
) -> str:
    """What ``convtranspose bench`` prints on stdout: the suite's tables and targets, then the sweep's."""
    parts = [
        f"fp32, {env.threads} threads, sgemm {env.sgemm_gflops:.1f} GFLOP/s"
        + (" (--quick)" if env.quick else "")
        + ("" if env.other_cpu_load is None else f"; other processes used {env.other_cpu_load:.2f} CPUs meanwhile"),
    ]
    if measurements:
        for direction in _directions(measurements):
            parts += ["", direction.capitalize(), results_table(measurements, direction, env.sgemm_gflops)]
        parts += ["", "Targets", targets_table(evaluate_targets(measurements, env.sgemm_gflops))]
    if sweep is not None:
        parts += ["", sweep.title]
        for direction in _directions(sweep.measurements):
            parts += ["", f"Sweep {direction}", results_table(sweep.measurements, direction, env.sgemm_gflops)]
            parts += ["", f"Sweep {direction}: worst {WORST_SHOWN} vs best peer", worst_table(sweep.measurements, direction)]
        parts += ["", "Sweep targets", targets_table(sweep_targets(sweep.measurements))]
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------
# RESULTS.md
# --------------------------------------------------------------------------------------------


def _environment_lines(env: Environment) -> list[str]:
    versions = ", ".join(f"{name} {version}" for name, version in env.versions.items())
    blas = "; ".join(
        ", ".join(f"{key}={value}" for key, value in library.items() if key != "user_api")
        for library in env.blas
    )
    unset = " ".join(f"-u {name}" for name in OPENBLAS_VARIABLES)
    overrides = (
        ", ".join(f"{k}={v}" for k, v in env.openblas_env.items())
        if env.openblas_env
        else f"none set (run as `env {unset} ...`)"
    )
    return [
        f"- Date: {env.date}",
        f"- CPU: {env.cpu} ({env.logical_cpus} logical CPUs); {env.platform}",
        f"- Threads: {env.threads} for every implementation (threadpoolctl for BLAS/OpenMP pools, "
        f"`torch.set_num_threads`, ORT `intra_op_num_threads`, inter-op 1"
        + (", `convtranspose.engine.set_num_threads`" if env.engine_threads_hook else "")
        + ")",
        f"- Versions: Python {env.python}, {versions}"
        + (f"; convtranspose commit {env.git_commit}" if env.git_commit else ""),
        f"- BLAS in use (threadpoolctl): {blas}",
        f"- OpenBLAS overrides: {overrides}",
        f"- Machine load: 1-minute load average {_number(env.load_average, 2)} at the start; other processes "
        f"used {_number(env.other_cpu_load, 2)} CPUs on average during the run (0 = quiet machine)",
        f"- sgemm reference: `np.matmul` float32 2048x2048, same threads, best of {env.sgemm_samples} samples "
        f"taken at the start, between layers and at the end: **{env.sgemm_gflops:.1f} GFLOP/s** "
        f"(slowest sample {_number(env.sgemm_slowest, 1)})",
        f"- Command: `{env.command}`",
        f"- Mode: {'quick' if env.quick else 'full'}, best of {env.rounds} interleaved rounds",
    ]


def _busy_note(env: Environment) -> list[str]:
    """A warning paragraph when other processes used a noticeable share of the CPUs."""
    if env.other_cpu_load is None or env.other_cpu_load < BUSY_CPUS:
        return []
    return [
        f"> **Noisy run:** other processes used {env.other_cpu_load:.2f} of the {env.logical_cpus} CPUs "
        "on average while this ran. Every implementation is slowed, unevenly: multi-threaded peers "
        "that wait at barriers (torch's OpenMP, onnxruntime) suffer most on small layers. Treat the "
        "ratios as indicative and rerun on a quiet machine.",
        "",
    ]


_METHOD = f"""\
## Method

- **Layers**: fp32 with bias; see `src/convtranspose/bench/suite.py` for the definitions
  (`convtranspose bench --list`).
- **Implementations**: ours (`conv_transpose` / `conv_transpose_backward`), torch default CPU
  backend, torch inside `torch.backends.mkldnn.flags(enabled=False)`, onnxruntime CPU EP on a
  single-node `ConvTranspose` model (weight and bias as initializers, default session options).
- **Timing**: each implementation is warmed up, then every round runs each implementation once, in
  an order drawn afresh (seeded) for every round, so that each follows every other about equally
  often; a round times a loop of k calls with `time.perf_counter`, k doubled until a loop lasts
  >= 20 ms. Reported: the best round's time per call. A layer stops early (after at least 2
  rounds) once its time budget is spent. Before each timed loop (and before sizing one) the
  process sleeps `--settle` seconds (default 0.05, untimed) and then waits, up to 1 s, until its
  other threads have used no CPU for 30 ms (read from `/proc/self/task`): thread pools (OpenBLAS's
  for up to about 0.2 s, OpenMP's, ORT's) keep their workers spinning after a call, and would
  otherwise take the cores of whichever implementation is timed next.
- **Forward**: torch under `torch.no_grad()`. **Backward**: all three gradients (input, weight,
  bias). Ours: `conv_transpose_backward`; torch: `torch.autograd.grad(y, (x, w, b), grad_y,
  retain_graph=True)` on a graph built once outside the timing, so only the backward is timed.
  onnxruntime has no backward (n/a).
- **Ratios**: ours/torch = our time / torch default's; ours/best peer = our time / the fastest of
  the peers measured in that direction (torch default, torch without mkldnn, ORT). Below 1 = we
  are faster.
- **Flops** (1 multiply-add = 2 flops): forward = 2 N C_in (C_out/groups) prod(kernel)
  prod(S_in); backward = 2x forward (input grad + weight grad). GFLOP/s = flops / our time;
  % sgemm = our GFLOP/s / the sgemm reference above.
- **mem**: tracemalloc peak during one call of ours, minus the arrays it returns, divided by the
  output size (forward) or by the size of the largest of the three gradients (backward; the
  gradients are the returned arrays). The memory targets judge the layers with more than 1 MB of
  output. Peers: tracemalloc cannot see their allocations, so not reported.
- **check**: before timing, every result is compared with torch's (`allclose`, rtol {CHECK_RTOL:g},
  atol {CHECK_RTOL:g} x max |torch|); WRONG marks a mismatch.
"""


def results_markdown(
    measurements: Sequence[Measurement],
    env: Environment,
    chart_name: str = "ratios.png",
    sweep: Optional["SweepRun"] = None,
    sweep_chart_name: str = "sweep.png",
) -> str:
    """RESULTS.md: the suite (when ``measurements`` has any) and the sweep (when given)."""
    sgemm = env.sgemm_gflops
    parts = [
        "# Benchmark results" if measurements else "# Sweep results",
        "",
        "Generated by `convtranspose bench` (`benchmarks/run.py`). Times in milliseconds, lower is better.",
        "",
        *_environment_lines(env),
        "",
        *_busy_note(env),
    ]
    if measurements:
        parts += [
            "## Targets",
            "",
            targets_table(evaluate_targets(measurements, sgemm)),
            "",
            f"![ours / torch and ours / best peer per layer]({chart_name})",
            "",
        ]
        for direction in _directions(measurements):
            parts += [f"## {direction.capitalize()}", "", results_table(measurements, direction, sgemm), ""]
    if sweep is not None:
        parts += _sweep_markdown(sweep, sgemm, sweep_chart_name)
    everything = [*measurements, *(sweep.measurements if sweep is not None else ())]
    mismatches = [problem for m in everything for problem in m.mismatches]
    if mismatches:
        parts += ["## Correctness mismatches", ""] + [f"- {p}" for p in mismatches] + [""]
    parts.append(_METHOD)
    return "\n".join(parts)


def write_results(
    directory: Path, measurements: Sequence[Measurement], env: Environment, sweep: Optional["SweepRun"] = None
) -> list[Path]:
    """Write the results into ``directory``; return the paths written, the Markdown file first.

    With suite measurements: ``RESULTS.md`` (with a sweep section when ``sweep`` is given) and
    ``ratios.png``; a sweep alone writes ``SWEEP.md`` instead, leaving a suite's RESULTS.md alone.
    A sweep adds ``sweep.png``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    charts = []
    if measurements:
        charts.append(plot_ratios(directory / "ratios.png", measurements, env))
    if sweep is not None:
        charts.append(plot_sweep(directory / "sweep.png", sweep, env))
    markdown = directory / ("RESULTS.md" if measurements else "SWEEP.md")
    markdown.write_text(results_markdown(measurements, env, "ratios.png", sweep, "sweep.png"), encoding="utf-8")
    return [markdown, *charts]


# --------------------------------------------------------------------------------------------
# Chart
# --------------------------------------------------------------------------------------------


def _series(chosen: Sequence[Measurement]) -> list[tuple[str, list[Optional[float]], str]]:
    """The two ratio series of a panel, each followed by its geometric mean."""
    to_torch = [m.ratio_to("torch") for m in chosen]
    to_best = [m.ratio_to_best_peer for m in chosen]
    return [
        ("ours / torch", to_torch + [geomean(to_torch)], "tab:blue"),
        ("ours / best peer", to_best + [geomean(to_best)], "tab:orange"),
    ]


def _panel(axis: Any, chosen: Sequence[Measurement], lines: Sequence[tuple[float, str, str]], title: str) -> None:
    """Horizontal log-scale bars growing from 1.0: left of the line = ours faster than the peer."""
    import numpy as np

    names = [m.layer.name for m in chosen] + ["geomean"]
    positions = np.arange(len(names), dtype=float)
    positions[-1] += 0.6  # set the geomean row apart
    height = 0.38
    series = _series(chosen)
    for offset, (name, values, color) in zip((-height / 2, height / 2), series):
        label: Optional[str] = name
        for y, value in zip(positions + offset, values):
            if value is None:
                continue
            axis.barh(y, value - 1.0, left=1.0, height=height, color=color, label=label)
            label = None  # one legend entry per series
            text, align = (f" {value:.2f}", "left") if value >= 1 else (f"{value:.2f} ", "right")
            axis.text(value, y, text, va="center", ha=align, fontsize=7)
    axis.axvline(1.0, color="black", linewidth=1.2, label="1.0 = same speed")
    for x, style, text in lines:
        axis.axvline(x, color="tab:red" if x > 1 else "tab:green", linestyle=style, linewidth=1.2, label=text)
    axis.axhline(positions[-1] - 0.8, color="grey", linewidth=0.6)
    axis.set_xscale("log")
    axis.set_yticks(positions, names)
    axis.get_yticklabels()[-1].set_fontweight("bold")
    axis.invert_yaxis()
    axis.set_title(title, fontsize=10)
    axis.set_xlabel("our time / peer time (log scale; < 1 = ours faster)")
    axis.grid(axis="x", which="both", alpha=0.3)
    extent = [v for _, vals, _ in series for v in vals if v is not None] + [x for x, _, _ in lines] + [1.0]
    low, high = min(extent) / 1.6, max(extent) * 1.6
    axis.set_xlim(low, high)
    _plain_log_ticks(axis.xaxis, low, high)


def _plain_log_ticks(scale_axis: Any, low: float, high: float) -> None:
    """Ticks at 1-2-5 steps labelled as plain numbers (0.5, 1, 2), no labels on minor ticks."""
    from matplotlib import ticker

    ticks = [m * 10.0**e for e in range(-4, 5) for m in (1, 2, 5) if low <= m * 10.0**e <= high]
    scale_axis.set_major_locator(ticker.FixedLocator(ticks))
    scale_axis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    scale_axis.set_minor_formatter(ticker.NullFormatter())


def plot_ratios(path: Path, measurements: Sequence[Measurement], env: Environment) -> Path:
    """Bar chart of ours/torch and ours/best-peer per layer, forward and backward, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    directions = _directions(measurements)
    target_lines = {
        direction: [
            (geo.threshold, "--", f"geomean target {geo.threshold:g}x {geo.versus}"),
            (cap.threshold, ":", f"per-layer cap {cap.threshold:g}x {cap.versus}"),
        ]
        for direction in ("forward", "backward")
        for geo, cap in [(_rule("suite", direction, "geomean"), _rule("suite", direction, "every layer"))]
    }
    rows = max(len([m for m in measurements if m.direction == d]) for d in directions)
    figure, axes = plt.subplots(1, len(directions), figsize=(6.5 * len(directions), 1.2 + 0.42 * rows), squeeze=False)
    for axis, direction in zip(axes[0], directions):
        chosen = [m for m in measurements if m.direction == direction]
        title = direction.capitalize() + (" (vs torch autograd; ORT n/a)" if direction == "backward" else "")
        _panel(axis, chosen, target_lines[direction], title)
    handles: dict = {}
    for axis in axes[0]:
        for handle, label in zip(*axis.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    figure.legend(handles.values(), handles.keys(), loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    figure.suptitle(
        f"convtranspose vs peers, fp32, {env.threads} threads - {env.cpu} - {env.date}"
        + (" (quick)" if env.quick else ""),
        fontsize=10,
    )
    figure.tight_layout(rect=(0, 0.04, 1, 1))
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


# --------------------------------------------------------------------------------------------
# The randomized sweep (--sweep N --seed S)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepRun:
    """The measurements of a ``--sweep`` run, with the count and seed that generated its layers."""

    count: int
    seed: int
    measurements: Sequence[Measurement]

    @property
    def title(self) -> str:
        return f"Sweep: {self.count} random layer{'' if self.count == 1 else 's'}, seed {self.seed}"


def sweep_targets(measurements: Sequence[Measurement]) -> list[Target]:
    """Issue 15's sweep targets in every direction measured: the geomean against torch and
    against the best peer, and every layer against the best peer."""
    directions = _directions(measurements)
    return [
        evaluate_target(rule, measurements, sgemm=0.0)
        for rule in TARGETS
        if rule.runs == "sweep" and rule.direction in directions
    ]


def _worst(measurements: Sequence[Measurement], direction: str, count: int) -> list[Measurement]:
    """The ``count`` measurements of ``direction`` with the highest ours / best peer."""
    rated = [m for m in _of(measurements, direction) if m.ratio_to_best_peer is not None]
    return sorted(rated, key=lambda m: m.ratio_to_best_peer or 0.0, reverse=True)[:count]


def worst_table(measurements: Sequence[Measurement], direction: str, count: int = WORST_SHOWN) -> str:
    """The ``count`` layers of ``direction`` where we are furthest behind the best peer."""
    header = ["layer", "shape", "GFLOP", "ours ms", "best peer", "best peer ms", "ours/best peer", "ours/torch"]
    rows = [
        [
            m.layer.name,
            m.layer.describe_shape(),
            f"{m.flops / 1e9:.3g}",
            _ms(m.seconds("ours")),
            LABELS[m.best_peer or ""],
            _ms(m.seconds(m.best_peer or "")),
            _ratio(m.ratio_to_best_peer),
            _ratio(m.ratio_to("torch")),
        ]
        for m in _worst(measurements, direction, count)
    ]
    return markdown_table(header, rows, [False, False, True, True, False, True, True, True])


def _sweep_markdown(sweep: SweepRun, sgemm: float, chart_name: str) -> list[str]:
    from .sweep import TIME_RANGE

    low, high = (seconds * 1e3 for seconds in TIME_RANGE)
    parts = [
        f"## {sweep.title}",
        "",
        f"Layers the suite does not contain, drawn by `convtranspose.bench.sweep.sweep_layers({sweep.count}, "
        f"seed={sweep.seed})` (1-d/2-d/3-d, channels 8-512, kernel 1-7, stride 1-4, dilation 1-3, padding "
        f"and output_padding in range, dense/grouped/depthwise, batch 1-32, spatial size for an estimated "
        f"{low:g}-{high:g} ms forward; `convtranspose bench --sweep {sweep.count} --seed {sweep.seed} --list` "
        "lists them) and timed exactly like the suite.",
        "",
        targets_table(sweep_targets(sweep.measurements)),
        "",
        f"![ours / torch and ours / best peer against the flops of every sweep layer]({chart_name})",
        "",
    ]
    for direction in _directions(sweep.measurements):
        parts += [
            f"### Sweep {direction}: worst {WORST_SHOWN} vs best peer",
            "",
            worst_table(sweep.measurements, direction),
            "",
            f"### Sweep {direction}: every layer",
            "",
            results_table(sweep.measurements, direction, sgemm),
            "",
        ]
    return parts


_SWEEP_MARKERS = {1: "o", 2: "s", 3: "^"}


def _scatter(axis: Any, chosen: Sequence[Measurement], direction: str) -> list[tuple[str, Any]]:
    """Ratio against flops, one colour per ratio (best peer hollow, so a torch point shows through when
    torch is the best peer), one marker per dimensionality; the worst layers labelled."""
    from matplotlib.lines import Line2D

    handles: list[tuple[str, Any]] = []
    torch_mean = _rule("sweep", direction, "geomean", "torch").threshold
    peer_mean = _rule("sweep", direction, "geomean", "best peer").threshold
    cap = _rule("sweep", direction, "every layer").threshold
    values: list[float] = [1.0, torch_mean, peer_mean, cap]
    series = (("ours / torch", "torch", "tab:blue", True, -10), ("ours / best peer", "best peer", "tab:orange", False, 3))
    for label, versus, color, filled, text_offset in series:
        ratios = [_ratio_of(m, versus) for m in chosen]
        style = {"color": color, "edgecolors": "none"} if filled else {"facecolors": "none", "edgecolors": color}
        for ndim, marker in _SWEEP_MARKERS.items():
            points = [(m.flops, r) for m, r in zip(chosen, ratios) if r is not None and m.layer.ndim == ndim]
            if points:
                xs, ys = zip(*points)
                axis.scatter(xs, ys, marker=marker, s=20 if filled else 48, alpha=0.8, linewidths=1.1, **style)
        mean = geomean(ratios)
        if mean is not None:
            axis.axhline(mean, color=color, linestyle="-.", linewidth=1.2)
            axis.annotate(f"geomean {mean:.2f}", (1.0, mean), xycoords=("axes fraction", "data"),
                          xytext=(-4, text_offset), textcoords="offset points", ha="right", fontsize=7, color=color)
        face = color if filled else "none"
        handles.append(
            (
                f"{label} (dash-dot: geomean)",
                Line2D([], [], color=color, marker="o", linestyle="-.", markerfacecolor=face, markeredgecolor=color),
            )
        )
        values += [r for r in ratios if r is not None]
    for ndim, marker in _SWEEP_MARKERS.items():
        handles.append((f"{ndim}-d", Line2D([], [], color="grey", marker=marker, linestyle="none")))
    lines: list[tuple[float, str, Literal["-", "--", ":"], str]] = [
        (1.0, "black", "-", "1.0 = same speed" + ("; target geomean vs best peer" if peer_mean == 1.0 else "")),
        (torch_mean, "tab:green", "--", f"target geomean {torch_mean:g}x torch"),
        (cap, "tab:red", ":", f"cap {cap:g}x best peer, every layer"),
    ]
    if peer_mean != 1.0:
        lines.append((peer_mean, "tab:orange", "--", f"target geomean {peer_mean:g}x best peer"))
    for y, color, line_style, text in lines:
        axis.axhline(y, color=color, linestyle=line_style, linewidth=1.1)
        handles.append((text, Line2D([], [], color=color, linestyle=line_style)))
    for rank, m in enumerate(_worst(chosen, direction, WORST_SHOWN)):  # alternate sides: neighbours overlap less
        axis.annotate(m.layer.name, (m.flops, m.ratio_to_best_peer), xytext=(5, 3 if rank % 2 == 0 else -10),
                      textcoords="offset points", fontsize=7)
    axis.set_xscale("log")
    axis.set_yscale("log")
    low, high = min(values) / 1.3, max(values) * 1.3
    axis.set_ylim(low, high)
    _plain_log_ticks(axis.yaxis, low, high)
    axis.set_xlabel("flops of one call (log scale)")
    axis.set_ylabel("our time / peer time (log scale; < 1 = ours faster)")
    peers = "torch autograd; ORT n/a" if direction == "backward" else "torch, torch without mkldnn, ORT"
    axis.set_title(f"{direction.capitalize()} ({peers})", fontsize=10)
    axis.grid(which="both", alpha=0.3)
    return handles


def plot_sweep(path: Path, sweep: SweepRun, env: Environment) -> Path:
    """Scatter plot of ours/torch and ours/best peer against each sweep layer's flops, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    directions = _directions(sweep.measurements)
    figure, axes = plt.subplots(1, len(directions), figsize=(6.5 * len(directions), 5.6), squeeze=False)
    handles: dict[str, Any] = {}
    for axis, direction in zip(axes[0], directions):
        for label, handle in _scatter(axis, _of(sweep.measurements, direction), direction):
            handles.setdefault(label, handle)
    figure.legend(list(handles.values()), list(handles.keys()), loc="lower center", ncol=4, fontsize=7, frameon=False)
    figure.suptitle(
        f"convtranspose {sweep.title.lower()}, fp32, {env.threads} threads - {env.cpu} - {env.date}", fontsize=10
    )
    figure.tight_layout(rect=(0, 0.1, 1, 1))
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
