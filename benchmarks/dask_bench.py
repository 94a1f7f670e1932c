"""Benchmark of convtranspose.dask: the cost of chunking, 1 vs 2 worker processes, and the large example.

Not a test (no timing is asserted). Measures, on one problem that fits in memory
(input 1x32x1024x1024 float32, 128 MiB; weight 32 -> 16 channels, k4 s2 p1; output 1x16x2048x2048,
256 MiB):

* the in-memory call ``convtranspose.conv_transpose`` (engine with 2 threads);
* the dask path on the threaded scheduler (2 workers), input chunks of 64 MiB and 32 MiB, with the
  engine at 1 thread per task (the dask workers are the parallelism) and at 2 (oversubscribed);
  result gathered into one ndarray by ``.compute()``, as a user of the in-memory call would get it;
* a ``distributed.LocalCluster`` with 1 worker process (1 task at a time, engine 2 threads) and with
  2 worker processes (1 task each, engine 1 thread), input already on the workers, result persisted
  there (the pattern of a real pipeline, which writes its chunks to storage), and gathered;

each the best of ``--repeat`` runs, with the machine's load average before and after. With
``--large`` it also runs ``examples/upscale_large.py`` (8192^2 -> 16384^2 through a 16 GiB hidden
activation, both layers fused by ``convtranspose.dask.chain``; 15-30 minutes here) and records its
peak resident memory. The clusters open no HTTP port (``upscale_large.local_cluster``).

Run::

    python benchmarks/dask_bench.py --large          # writes benchmarks/dask_results.json and DASK_RESULTS.md
    python benchmarks/dask_bench.py --large --dry-run   # the same steps at toy sizes (a minute); writes nothing
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parent / "examples"


def local_cluster(workers: int, memory_limit: str):
    """``examples/upscale_large.py``'s LocalCluster: worker processes with one thread each, no HTTP port."""
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))  # the workers import the example's functions by name
    return importlib.import_module("upscale_large").local_cluster(workers, memory_limit)


def best_of(repeat: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def problem(size: int = 1024):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 32, size, size), dtype=np.float32)
    w = (rng.standard_normal((32, 16, 4, 4)) * 0.05).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)
    return x, w, b, dict(stride=2, padding=1)


def bench_fits(repeat: int, size: int = 1024) -> dict:
    import dask.array as da
    import distributed

    from convtranspose import conv_transpose, engine
    from convtranspose.dask import conv_transpose as lazy_conv_transpose

    x, w, b, params = problem(size)
    expected = conv_transpose(x, w, b, **params)
    results: dict = {"size": size, "input_mib": x.nbytes / 2**20, "output_mib": expected.nbytes / 2**20}
    engine.set_num_threads(2)
    results["in_memory_s"] = best_of(repeat, lambda: conv_transpose(x, w, b, **params))

    for chunk_rows in (size // 2, size // 4):
        chunks = (1, 32, chunk_rows, size)
        lazy_x = da.from_array(x, chunks=chunks)
        y = lazy_conv_transpose(lazy_x, w, b, **params)
        for threads in (1, 2):
            engine.set_num_threads(threads)
            key = f"threads_chunk{x[0, :, :chunk_rows].nbytes / 2**20:g}MiB_engine{threads}_s"
            results[key] = best_of(repeat, lambda: y.compute(scheduler="threads", num_workers=2))
            assert np.allclose(y.compute(scheduler="threads", num_workers=2), expected, rtol=1e-4, atol=1e-4)
    engine.set_num_threads(2)

    for workers, engine_threads in ((1, 2), (2, 1)):
        with local_cluster(workers, "4GiB") as cluster, distributed.Client(cluster) as client:
            client.run(engine.set_num_threads, engine_threads)
            lazy_x = client.persist(da.from_array(x, chunks=(1, 32, size // 2, size)))
            distributed.wait(lazy_x)
            runs = iter(range(1, 1000))

            def fresh():  # new keys every run (a bias that differs by 1e-7), so nothing is reused
                return lazy_conv_transpose(lazy_x, w, b * np.float32(1 + 1e-7 * next(runs)), **params)

            def persisted() -> None:
                done = client.persist(fresh())
                distributed.wait(done)
                del done

            results[f"cluster_{workers}proc_persist_s"] = best_of(repeat, persisted)
            results[f"cluster_{workers}proc_gather_s"] = best_of(repeat, lambda: client.compute(fresh()).result())
    return results


def run_large(dry_run: bool = False) -> dict:
    tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    report = tmp / "convtranspose_dask_large_dry_run.json" if dry_run else HERE / "dask_large_report.json"
    out = tmp / "convtranspose_upscaled.zarr"
    command = [
        sys.executable, str(EXAMPLES / "upscale_large.py"), "--out", str(out), "--report", str(report), "--quiet",
    ]
    if dry_run:
        command += ["--size", "256", "--chunk", "64", "--epochs", "2", "--memory-limit", "1GiB"]
    subprocess.run(command, check=True)
    return json.loads(report.read_text())


def markdown(results: dict) -> str:
    fits = results["fits"]
    base = fits["in_memory_s"]
    lines = [
        "# convtranspose.dask benchmark",
        "",
        f"`python benchmarks/dask_bench.py --large` on {results['machine']}, "
        f"load average {results['loadavg_before']} before and {results['loadavg_after']} after "
        "(the machine was shared: treat ratios as indicative).",
        "",
        f"Problem that fits: input 1x32x{fits['size']}x{fits['size']} float32 ({fits['input_mib']:.0f} MiB), "
        "k4 s2 p1 to 16 channels, "
        f"output {fits['output_mib']:.0f} MiB. Best of {results['repeat']}.",
        "",
        "| run | seconds | vs in-memory |",
        "|---|---|---|",
    ]
    for key, value in fits.items():
        if key.endswith("_s"):
            lines.append(f"| {key[:-2]} | {value:.2f} | {value / base:.2f}x |")
    if "large" in results:
        large = results["large"]
        lines += [
            "",
            f"Large example (`examples/upscale_large.py`): input {large['size']}^2 -> output {2 * large['size']}^2 "
            f"float32 ({large['output_bytes'] / 2**20:.0f} MiB; hidden activation "
            f"{large['hidden_bytes'] / 2**30:.0f} GiB), chunks of {large['chunk']}^2 input cells "
            f"(hidden tiles {large['hidden_chunk_bytes'] / 2**20:.0f} MiB), "
            f"{'both layers fused by convtranspose.dask.chain' if large.get('fused') else 'layers applied one by one'}, "
            f"{large['workers']} workers with "
            f"memory_limit={large['memory_limit']}, {large['seconds']} s, load average {large['loadavg']}.",
            "",
            "| process | RSS at start (MiB) | peak RSS (MiB) | growth (MiB) |",
            "|---|---|---|---|",
        ]
        entries = [*large["memory"]["workers"].items(), ("client + scheduler", large["memory"]["client"])]
        for name, entry in entries:
            lines.append(
                f"| {name} | {entry['start'] / 2**20:.0f} | {entry['peak'] / 2**20:.0f} | "
                f"{(entry['peak'] - entry['start']) / 2**20:.0f} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--large", action="store_true", help="also run examples/upscale_large.py (~10 min)")
    parser.add_argument("--reuse-large", action="store_true", help="report the last large run's dask_large_report.json")
    parser.add_argument("--dry-run", action="store_true",
                        help="every step at toy sizes (fits: 64^2, large: 256^2), 1 repeat; prints, writes nothing here")
    args = parser.parse_args()
    if args.dry_run:
        args.repeat = 1
    results: dict = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "repeat": args.repeat,
        "loadavg_before": [round(v, 2) for v in os.getloadavg()],
    }
    results["fits"] = bench_fits(args.repeat, 64 if args.dry_run else 1024)
    if args.large:
        results["large"] = run_large(args.dry_run)
    elif args.reuse_large and (HERE / "dask_large_report.json").exists():
        results["large"] = json.loads((HERE / "dask_large_report.json").read_text())
    results["loadavg_after"] = [round(v, 2) for v in os.getloadavg()]
    text = markdown(results)
    if not args.dry_run:
        (HERE / "dask_results.json").write_text(json.dumps(results, indent=2) + "\n")
        (HERE / "DASK_RESULTS.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
