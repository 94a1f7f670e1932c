"""``convtranspose bench``: run the benchmark suite, print the tables, optionally write RESULTS.md.

The top-level CLI registers the subcommand with :func:`add_arguments` and calls :func:`run`;
``python -m convtranspose.bench`` and ``benchmarks/run.py`` use the same two functions.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

from .peers import IMPLEMENTATIONS, PEER_NAMES, BenchDependencyError, require
from .suite import Layer, find_layers, quick_layers
from .sweep import estimated_seconds, sweep_layers

__all__ = ["add_arguments", "run", "main"]

FULL_ROUNDS, QUICK_ROUNDS = 15, 3
FULL_BUDGET, QUICK_BUDGET = 30.0, 4.0
SETTLE = 0.05
SWEEP_SEED = 0

_QUICK_HELP = (
    "smaller and faster: the same layers with DCGAN batch 64 -> 8, U-Net/depthwise/dilated batch 4 -> 1, "
    f"3D U-Net 8^3 -> 16^3 instead of 16^3 -> 32^3; {QUICK_ROUNDS} rounds, {QUICK_BUDGET:g} s budget per "
    "layer and direction"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``bench`` options to ``parser``."""
    parser.add_argument("--threads", type=int, default=2, metavar="N",
                        help="threads for every implementation (default: 2)")
    parser.add_argument("--quick", action="store_true", help=_QUICK_HELP)
    parser.add_argument("--rounds", type=int, default=None, metavar="R",
                        help=f"interleaved rounds, best is kept (default: {FULL_ROUNDS}, --quick {QUICK_ROUNDS})")
    parser.add_argument("--budget", type=float, default=None, metavar="SECONDS",
                        help="per layer and direction, start no new round after this many seconds once 2 rounds "
                        f"are done (default: {FULL_BUDGET:g}, --quick {QUICK_BUDGET:g})")
    parser.add_argument("--settle", type=float, default=SETTLE, metavar="SECONDS",
                        help="untimed pause before each timed loop, so that the previous implementation's "
                        f"spinning worker threads (OpenMP, onnxruntime) are idle (default: {SETTLE:g})")
    parser.add_argument("--layers", default=None, metavar="PATTERNS",
                        help="comma-separated shell patterns of layer names, e.g. 'dcgan.*,tiny' (see --list); "
                        "with --sweep, the suite layers to run besides the sweep (default: none; '*' = all)")
    parser.add_argument("--sweep", type=int, default=None, metavar="N",
                        help="run N random layers the suite does not contain (1-d/2-d/3-d, every hyper-parameter "
                        "in a realistic range; see --list) instead of the suite, reported with their own targets, "
                        "worst layers and a scatter plot (--write: DIR/sweep.png)")
    parser.add_argument("--seed", type=int, default=None, metavar="S",
                        help=f"seed of the --sweep layers: the same seed gives the same layers (default: {SWEEP_SEED})")
    parser.add_argument("--peers", default=",".join(PEER_NAMES), metavar="NAMES",
                        help=f"comma-separated peers to compare with (default: {','.join(PEER_NAMES)})")
    parser.add_argument("--forward-only", action="store_true", help="skip the backward (gradient) benchmarks")
    parser.add_argument("--write", type=Path, default=None, metavar="DIR",
                        help="also write DIR/RESULTS.md and DIR/ratios.png (a sweep: a section of RESULTS.md and "
                        "DIR/sweep.png; a sweep without suite layers: DIR/SWEEP.md instead of RESULTS.md)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.add_argument("--list", action="store_true", help="list the layers and exit")


def _split(text: Optional[str]) -> list[str]:
    return [item.strip() for item in (text or "").split(",") if item.strip()]


def _fail(message: str) -> int:
    print(f"convtranspose bench: error: {message}", file=sys.stderr)
    return 2


def _selection(args: argparse.Namespace) -> tuple[list[Layer], list[Layer]]:
    """The suite layers and the sweep layers ``args`` asks for.

    Raises
    ------
    ValueError
        On an invalid ``--layers``, ``--sweep`` or ``--seed``.
    """
    if args.sweep is None:
        if args.seed is not None:
            raise ValueError("--seed chooses the --sweep layers; it needs --sweep N")
        suite, sweep = find_layers(_split(args.layers)), []
    else:
        if args.sweep < 1:
            raise ValueError(f"--sweep must be >= 1 layers, got {args.sweep}")
        if _seed(args) < 0:
            raise ValueError(f"--seed must be >= 0, got {args.seed}")
        suite = find_layers(_split(args.layers)) if args.layers else []
        sweep = sweep_layers(args.sweep, _seed(args))
    return (quick_layers(suite) if args.quick else suite), sweep


def _seed(args: argparse.Namespace) -> int:
    return SWEEP_SEED if args.seed is None else args.seed


def _list_layers(suite: Sequence[Layer], sweep: Sequence[Layer]) -> int:
    for layer in suite:
        print(f"{layer.name:16} {layer.describe_shape():48} {layer.forward_flops / 1e9:9.4g} GFLOP  {layer.source}")
    for layer in sweep:
        print(
            f"{layer.name:16} {layer.describe_shape():48} {layer.forward_flops / 1e9:9.4g} GFLOP  "
            f"estimated {estimated_seconds(layer) * 1e3:.3g} ms"
        )
    return 0


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _command(args: argparse.Namespace) -> str:
    words = ["convtranspose bench", f"--threads {args.threads}"]
    words += ["--quick"] if args.quick else []
    words += [f"--rounds {args.rounds}"] if args.rounds is not None else []
    words += [f"--budget {args.budget:g}"] if args.budget is not None else []
    words += [f"--settle {args.settle:g}"] if args.settle != SETTLE else []
    words += [f"--layers '{args.layers}'"] if args.layers else []
    words += [f"--sweep {args.sweep} --seed {_seed(args)}"] if args.sweep is not None else []
    words += [f"--peers {args.peers}"] if args.peers != ",".join(PEER_NAMES) else []
    words += ["--forward-only"] if args.forward_only else []
    words += [f"--write {_relative(args.write)}"] if args.write is not None else []
    return " ".join(words)


def _check_dependencies(peers: Sequence[str], write: bool) -> None:
    modules = ["torch", "threadpoolctl", "tqdm"]
    modules += ["onnx", "onnxruntime"] if "ort" in peers else []
    modules += ["matplotlib"] if write else []
    for module in modules:
        require(module)


def run(args: argparse.Namespace) -> int:
    """Run the suite as ``args`` asks; return the exit status (1 when a result was wrong)."""
    try:
        layers, sweep = _selection(args)
    except ValueError as error:
        return _fail(str(error))
    if args.list:
        return _list_layers(layers, sweep)
    from .environment import BUSY_CPUS, CpuActivity, SgemmReference, collect, load_warning, openblas_warning, thread_limits
    from .report import SweepRun, summary_text, write_results
    from .runner import Settings, run_suite

    peers = _split(args.peers)
    unknown = [p for p in peers if p not in PEER_NAMES]
    if unknown:
        return _fail(f"--peers: unknown {', '.join(unknown)}; choose from {', '.join(PEER_NAMES)}")
    if "torch" not in peers and "torch-nomkldnn" not in peers:
        return _fail("--peers must include torch or torch-nomkldnn: torch is the correctness oracle")
    if args.threads < 1:
        return _fail(f"--threads must be >= 1, got {args.threads}")
    if not args.settle >= 0:
        return _fail(f"--settle must be >= 0 seconds, got {args.settle}")
    try:
        _check_dependencies(peers, args.write is not None)
    except BenchDependencyError as error:
        return _fail(str(error))

    for warning in (openblas_warning(), load_warning()):
        if warning:
            print(warning, file=sys.stderr)
    rounds = args.rounds or (QUICK_ROUNDS if args.quick else FULL_ROUNDS)
    budget = args.budget if args.budget is not None else (QUICK_BUDGET if args.quick else FULL_BUDGET)
    settings = Settings(
        implementations=tuple(name for name in IMPLEMENTATIONS if name == "ours" or name in peers),
        directions=("forward",) if args.forward_only else ("forward", "backward"),
        threads=args.threads,
        rounds=rounds,
        budget=budget,
        settle=args.settle,
    )
    tqdm = require("tqdm").tqdm

    activity = CpuActivity().start()
    with thread_limits(args.threads) as engine_hook:
        sgemm = SgemmReference()
        sgemm.measure(repeats=5)
        env = collect(threads=args.threads, engine_threads_hook=engine_hook, sgemm=sgemm.gflops, quick=args.quick,
                      rounds=rounds, command=_command(args))
        total = (len(layers) + len(sweep)) * len(settings.directions) * rounds
        with tqdm(total=total, unit="round", file=sys.stderr, disable=args.no_progress) as bar:
            results, sweep_results = (
                run_suite(
                    chosen,
                    settings,
                    progress=bar,
                    on_mismatch=lambda text: bar.write(text, file=sys.stderr),
                    between_layers=sgemm.measure,
                )
                for chosen in (layers, sweep)
            )
        sgemm.measure(repeats=2)
    env.other_cpu_load = activity.stop()
    env.sgemm_gflops, env.sgemm_samples, env.sgemm_slowest = sgemm.gflops, len(sgemm.samples), sgemm.slowest

    sweep_run = SweepRun(len(sweep), _seed(args), sweep_results) if sweep else None
    print(summary_text(results, env, sweep_run))
    if args.write is not None:
        written = write_results(args.write, results, env, sweep_run)
        print(f"\nwrote {', '.join(map(str, written))}")
    if env.other_cpu_load is not None and env.other_cpu_load >= BUSY_CPUS:
        print(
            f"warning: other processes used {env.other_cpu_load:.2f} CPUs on average during the run; "
            "the numbers are noisy -- rerun on a quiet machine",
            file=sys.stderr,
        )
    wrong = sum(1 for m in (*results, *sweep_results) if m.mismatches)
    if wrong:
        print(f"\n{wrong} measurement(s) compared WRONG against torch; see the 'check' column.", file=sys.stderr)
    return 1 if wrong else 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Stand-alone entry point (``python -m convtranspose.bench``)."""
    parser = argparse.ArgumentParser(prog="convtranspose bench", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))
