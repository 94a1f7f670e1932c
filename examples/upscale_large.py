"""Upscale an image far larger than the memory it is computed in: a trained layer on dask.

Model
    The x2 upsampler of ``examples/train_upsampler.py`` (``ConvTranspose2d(1, 16, k6 s2 p2)`` ->
    ReLU -> ``ConvTranspose2d(16, 1, k3 p1)``), trained here in a few seconds on scikit-learn's
    digits (seed 0), or loaded from ``--weights`` (an ``.npz`` this script writes with
    ``--save-weights``).
Input
    A ``size x size`` float32 image generated lazily, chunk by chunk: a mosaic of the 4x4 low-
    resolution test digits, the kind of input the model was trained on. At the default size 8192 the
    input is 256 MiB, the 16-channel hidden activation 16 GiB and the output (16384 x 16384) 1 GiB;
    none of them is ever held whole.
Run
    The layers are applied to the dask array lazily, fused by ``convtranspose.dask.chain(x,
    [model.up, relu, model.mix])`` (``--layers 1``: ``model.up(x)``, a layer given a dask array
    returns one; see :mod:`convtranspose.dask`), the result is written to a Zarr store with a progress bar, on a
    ``distributed.LocalCluster`` of worker processes, each with a memory limit. At the end the
    script reports the peak resident memory (VmHWM, reset when the computation starts) of every
    worker process and of the client (which also hosts the scheduler), checks a corner of the
    output against the in-memory model, and can write the numbers as JSON (``--report``).

Run (needs the ``dask`` and ``examples`` extras)::

    python examples/upscale_large.py                     # 8192^2 -> 16384^2, 2 workers of 3 GiB
    python examples/upscale_large.py --size 2048 --chunk 256 --out /tmp/small.zarr
    python examples/upscale_large.py --size 1024 --chunk 128 --layers 1   # first layer only (the memory test)

Memory: both layers are fused by ``convtranspose.dask.chain``: each output chunk is one task that
computes the hidden activation only over that chunk's receptive field (its 1024^2 tile plus a
one-cell halo, recomputed), so a worker holds one hidden tile and the engine's buffers at a time
(about 4x the 64 MiB tile), whatever the image size. With ``--unfused`` the layers are applied one
after the other: the hidden activation is then stored in chunks, and each one stays alive until
the second layer's chunks around it have cut their one-cell strips from it -- a band of hidden
chunks across the image's width, which grows with the width (measured at 8192^2, before ``chain``:
+1.8 GiB per worker).

No HTTP port: the LocalCluster's scheduler and workers would each open one even without a
dashboard; ``local_cluster`` closes them (``--dashboard`` serves the dashboard instead).

Point ``--scheduler tcp://host:8786`` at a running ``dask scheduler`` to use a real cluster
instead of the LocalCluster (the workers need convtranspose installed; the Zarr path must then be
one that every worker can write, such as a shared file system or an object store URL).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import sys
import time
from functools import partial
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

HERE = Path(__file__).resolve().parent


def load_trainer():
    """``examples/train_upsampler.py`` as a module (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location("train_upsampler", HERE / "train_upsampler.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


def trained_model(weights: Optional[Path], epochs: int, quiet: bool):
    """The trained upsampler and the low-resolution test digits (the mosaic's tiles)."""
    trainer = load_trainer()
    data = trainer.load_data(seed=0)
    if weights is not None and weights.exists():
        model = trainer.Upsampler(seed=0)
        saved = np.load(weights)
        model.up.load_state_dict({"weight": saved["up_weight"], "bias": saved["up_bias"]})
        model.mix.load_state_dict({"weight": saved["mix_weight"], "bias": saved["mix_bias"]})
    else:
        model, history = trainer.train(data, epochs=epochs, seed=0, progress=not quiet)
        print(f"trained the upsampler: test MSE {history.test_mse[-1]:.4f} (bilinear {history.baseline_test_mse:.4f})")
    return model, data.test_inputs[:, 0].astype(np.float32)


def save_weights(model, path: Path) -> None:
    np.savez(path, up_weight=model.up.weight, up_bias=model.up.bias, mix_weight=model.mix.weight, mix_bias=model.mix.bias)


def mosaic_block(tiles: np.ndarray, block: np.ndarray, block_info=None) -> np.ndarray:
    """One chunk of the mosaic: pixel (r, c) is pixel (r % 4, c % 4) of a pseudo-random tile."""
    (r0, r1), (c0, c1) = block_info[0]["array-location"][2:]
    rows, cols = np.arange(r0, r1)[:, None], np.arange(c0, c1)[None, :]
    tile = ((rows // 4) * 7919 + (cols // 4) * 104729 + (rows // 4) * (cols // 4)) % len(tiles)
    return tiles[tile, rows % 4, cols % 4][np.newaxis, np.newaxis]


def lazy_input(height: int, width: int, chunk: int, tiles: np.ndarray):
    import dask.array as da

    template = da.zeros((1, 1, height, width), dtype=np.float32, chunks=(1, 1, chunk, chunk))
    return template.map_blocks(partial(mosaic_block, tiles), dtype=np.float32)


def warm_zarr() -> None:
    """Write a small Zarr array (imports and initialises what the real writes will use)."""
    import tempfile

    import zarr

    with tempfile.TemporaryDirectory() as tmp:
        zarr.open_array(tmp, mode="w", shape=(4, 4), chunks=(2, 2), dtype="f4")[:] = 1


def warm_up(w1: np.ndarray, b1: np.ndarray, w2: np.ndarray, b2: np.ndarray) -> None:
    """Both layers in memory on a small input, and a small Zarr write: imports and compiles what the
    real chunks will use, so that the peak measured after counts data, not code."""
    import convtranspose.dask  # noqa: F401  (dask.array, which the tasks' functions live beside)
    from convtranspose import conv_transpose

    hidden = conv_transpose(np.ones((1, 1, 64, 64), np.float32), w1, b1, stride=2, padding=2)
    conv_transpose(np.maximum(hidden, 0), w2, b2, padding=1)
    warm_zarr()


def relu(hidden: np.ndarray) -> np.ndarray:
    return np.maximum(hidden, 0)


def upscale(model, x, layers: int = 2, fused: bool = True):
    """The model on a dask array, lazily; ``layers=1``: its first layer only.

    ``fused``: both layers in one :func:`convtranspose.dask.chain` (each output chunk from its
    receptive field of the input; the hidden activation never stored). Otherwise the layers are
    applied one after the other (``model.mix(relu(model.up(x)))``, each a lazy dask array), which
    stores the hidden activation in chunks: kept here to compare the memory of the two.
    """
    import dask.array as da

    from convtranspose.dask import chain

    if layers == 1:
        return model.up(x)
    if fused:
        return chain(x, [model.up, relu, model.mix])
    return model.mix(da.maximum(model.up(x), 0))


# --------------------------------------------------------------------------------------------
# A LocalCluster that opens no HTTP port
# --------------------------------------------------------------------------------------------


def _stop_http_server(dask_scheduler=None, dask_worker=None) -> None:
    """Close this scheduler's or worker's HTTP server (runs on its event loop, through the client)."""
    server = dask_scheduler if dask_scheduler is not None else dask_worker
    server.http_server.stop()
    server.services.pop("dashboard", None)


def local_cluster(workers: int, memory_limit, dashboard: bool = False):
    """A ``distributed.LocalCluster`` of worker processes with one thread each, on 127.0.0.1.

    distributed starts an HTTP server (``/health``, ``/metrics``, and the dashboard if bokeh is
    installed) in the scheduler and in every worker even with ``dashboard_address=None`` -- the
    scheduler's on port 8787, or another port if that one is taken. Unless ``dashboard`` is asked
    for, they start on free loopback ports without the dashboard and are closed at once, so the
    cluster listens only on its scheduler's and workers' communication ports.
    """
    import distributed

    common = dict(n_workers=workers, threads_per_worker=1, processes=True, memory_limit=memory_limit, host="127.0.0.1")
    if dashboard:
        return distributed.LocalCluster(**common, dashboard_address="127.0.0.1:8787")
    cluster = distributed.LocalCluster(
        **common, dashboard_address="127.0.0.1:0", scheduler_kwargs={"dashboard": False}, worker_dashboard_address=None,
    )
    with distributed.Client(cluster) as client:
        client.run(_stop_http_server)
        client.run_on_scheduler(_stop_http_server)
    return cluster


# --------------------------------------------------------------------------------------------
# Peak resident memory: VmHWM from /proc (Linux), reset with clear_refs when the work starts
# --------------------------------------------------------------------------------------------


def _status(field: str) -> int:
    """A memory field of this process in bytes (``VmRSS``, ``VmHWM``)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def reset_peak() -> int:
    """Reset this process's peak RSS to its current RSS (Linux >= 4.0); return the current RSS."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
    except OSError:
        pass
    return _status("VmRSS")


def peak() -> int:
    try:
        return _status("VmHWM")
    except (OSError, KeyError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def memory_report(client, workers_start: dict, client_start: int) -> dict:
    """Per worker process and the client: RSS when the work started and the peak since."""
    peaks = client.run(peak)
    return {
        "workers": {address: {"start": start, "peak": peaks[address]} for address, start in workers_start.items()},
        "client": {"start": client_start, "peak": peak()},
    }


def store_measured(client, y, out: Path, warm_up=None, quiet: bool = True) -> tuple[float, dict]:
    """Compute ``y`` into the Zarr store ``out`` on ``client``'s workers; the seconds and peak memory.

    Each worker runs its engine with one thread (the workers' threads are the parallelism) and
    first runs ``warm_up`` (so that the peak counts data, not the compiled kernels it loads); then
    the peak resident memory of every process is reset and measured over the computation.
    """
    import dask.array as da
    import distributed

    from convtranspose.engine import set_num_threads

    client.run(set_num_threads, 1)
    if warm_up is not None:
        client.run(warm_up)
    workers_start, client_start = client.run(reset_peak), reset_peak()
    start = time.perf_counter()
    future = client.compute(da.to_zarr(y, str(out), compute=False, overwrite=True))
    if not quiet:
        distributed.progress(future)
        print()
    future.result()
    return time.perf_counter() - start, memory_report(client, workers_start, client_start)


def run(args: argparse.Namespace) -> dict:
    import distributed

    model, tiles = trained_model(args.weights, args.epochs, args.quiet)
    if args.save_weights:
        save_weights(model, args.save_weights)
    x = lazy_input(args.height or args.size, args.size, args.chunk, tiles)
    y = upscale(model, x, args.layers, fused=not args.unfused)[0]  # (channels, 2 height, 2 size)
    hidden_chunk = 16 * (2 * args.chunk) ** 2 * 4
    print(
        f"input {x.shape} float32 ({x.nbytes / 2**20:.0f} MiB) in {x.npartitions} chunks of {args.chunk}^2; "
        f"hidden 16 channels ({16 * 4 * y[0].size / 2**30:.1f} GiB, {'chunks' if args.unfused else 'tiles'} of "
        f"{hidden_chunk / 2**20:.0f} MiB); output {y.shape} ({y.nbytes / 2**20:.0f} MiB)"
    )
    if args.out.exists():
        shutil.rmtree(args.out)

    cluster = None if args.scheduler else local_cluster(args.workers, args.memory_limit, args.dashboard)
    client = distributed.Client(args.scheduler or cluster)
    try:
        if cluster is not None and args.dashboard:
            print(f"dashboard: {cluster.dashboard_link}")
        warm = partial(warm_up, model.up.weight, model.up.bias, model.mix.weight, model.mix.bias)
        seconds, memory = store_measured(client, y, args.out, warm, args.quiet)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()

    corner = check_corner(model, tiles, args.out, args.layers)
    report = {
        "size": args.size,
        "height": args.height or args.size,
        "chunk": args.chunk,
        "workers": args.workers,
        "memory_limit": args.memory_limit,
        "seconds": round(seconds, 1),
        "input_bytes": int(x.nbytes),
        "output_bytes": int(y.nbytes),
        "hidden_bytes": int(16 * 4 * y[0].size),
        "layers": args.layers,
        "fused": args.layers == 2 and not args.unfused,
        "input_chunk_bytes": args.chunk**2 * 4,
        "hidden_chunk_bytes": hidden_chunk,
        "memory": memory,
        "corner_max_abs_difference": corner,
        "loadavg": os.getloadavg(),
    }
    print(f"wrote {args.out} in {seconds:.1f} s; corner of the output vs the in-memory model: max |diff| = {corner:.2e}")
    for name, entry in [*memory["workers"].items(), ("client+scheduler", memory["client"])]:
        growth = entry["peak"] - entry["start"]
        print(f"  {name}: peak RSS {entry['peak'] / 2**20:.0f} MiB (+{growth / 2**20:.0f} MiB since the start)")
    if args.report:
        args.report.write_text(json.dumps(report, indent=2) + "\n")
    return report


def check_corner(model, tiles: np.ndarray, out: Path, layers: int) -> float:
    """The output's top-left 100 x 100 against the in-memory model on the input's top-left 64 x 64.

    Output cells below 100 depend on hidden cells up to 101 (the 3x3 mix), which depend on input
    cells up to 51 (k6 s2 p2), so the crop computes them exactly.
    """
    import zarr

    corner_input = mosaic_block(tiles, None, {0: {"array-location": [(0, 1), (0, 1), (0, 64), (0, 64)]}})
    expected = (model.up(corner_input) if layers == 1 else model(corner_input))[0, :, :100, :100]
    written = np.asarray(zarr.open_array(str(out), mode="r")[:, :100, :100])
    return float(np.max(np.abs(written - expected)))


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--size", type=int, default=8192, help="input width (and height) (default 8192)")
    parser.add_argument("--height", type=int, default=None, help="input height, if not --size")
    parser.add_argument("--chunk", type=int, default=512, help="input chunk side (default 512)")
    parser.add_argument("--layers", type=int, choices=(1, 2), default=2,
                        help="2: the whole upsampler (default); 1: its first layer, writing the 16-channel activation")
    parser.add_argument("--unfused", action="store_true",
                        help="apply the two layers one after the other instead of convtranspose.dask.chain "
                             "(stores the hidden activation in chunks: more memory, to compare)")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes (default 2)")
    parser.add_argument("--dashboard", action="store_true",
                        help="serve the LocalCluster's dashboard on 127.0.0.1:8787 (default: no HTTP port at all)")
    parser.add_argument("--memory-limit", default="3GiB", help="per worker (default 3GiB)")
    parser.add_argument("--scheduler", default=None, help="address of a running dask scheduler instead of a LocalCluster")
    parser.add_argument("--out", type=Path, default=Path("upscaled.zarr"), help="Zarr store to write (default upscaled.zarr)")
    parser.add_argument("--weights", type=Path, default=None, help="load the model from this .npz instead of training")
    parser.add_argument("--save-weights", type=Path, default=None, help="write the model's weights to this .npz")
    parser.add_argument("--epochs", type=int, default=60, help="training epochs when no --weights (default 60)")
    parser.add_argument("--report", type=Path, default=None, help="write the numbers as JSON here")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser.parse_args(argv)


if __name__ == "__main__":
    run(parse_args())
