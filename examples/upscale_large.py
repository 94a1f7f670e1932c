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
    The layers are applied to the dask array directly (``model.up(x)`` returns a lazy dask array,
    see :mod:`convtranspose.dask`), the result is written to a Zarr store with a progress bar, on a
    ``distributed.LocalCluster`` of worker processes, each with a memory limit. At the end the
    script reports the peak resident memory (VmHWM, reset when the computation starts) of every
    worker process and of the client (which also hosts the scheduler), checks a corner of the
    output against the in-memory model, and can write the numbers as JSON (``--report``).

Run (needs the ``dask`` and ``examples`` extras)::

    python examples/upscale_large.py                     # 8192^2 -> 16384^2, 2 workers of 3 GiB
    python examples/upscale_large.py --size 2048 --chunk 256 --out /tmp/small.zarr
    python examples/upscale_large.py --size 1024 --chunk 128 --layers 1   # first layer only (the memory test)

Memory: a single layer's workers hold a few chunks at a time. With both layers, the second layer's
chunk needs one-cell strips of the neighbouring hidden chunks, so hidden chunks stay alive until
the next row of chunks is computed: a band across the image's width, and the scheduler runs ahead
of it until the worker's memory limit (``--memory-limit``) makes it pause or spill. So the peak is
bounded by the width times the chunk height and by the memory limit, never by the image's area.

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


def warm_up(w1: np.ndarray, b1: np.ndarray, w2: np.ndarray, b2: np.ndarray) -> None:
    """Both layers in memory on a small input (imports and compiles what the real chunks will use)."""
    from convtranspose import conv_transpose

    hidden = conv_transpose(np.ones((1, 1, 64, 64), np.float32), w1, b1, stride=2, padding=2)
    conv_transpose(np.maximum(hidden, 0), w2, b2, padding=1)


def upscale(model, x, layers: int = 2):
    """The model on a dask array (each layer returns a lazy dask array); ``layers=1``: the first only."""
    import dask.array as da

    hidden = model.up(x)
    return hidden if layers == 1 else model.mix(da.maximum(hidden, 0))


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


def run(args: argparse.Namespace) -> dict:
    import dask.array as da
    import distributed

    from convtranspose.engine import set_num_threads

    model, tiles = trained_model(args.weights, args.epochs, args.quiet)
    if args.save_weights:
        save_weights(model, args.save_weights)
    x = lazy_input(args.height or args.size, args.size, args.chunk, tiles)
    y = upscale(model, x, args.layers)[0]  # (channels, 2 height, 2 size)
    hidden_chunk = 16 * (2 * args.chunk) ** 2 * 4
    print(
        f"input {x.shape} float32 ({x.nbytes / 2**20:.0f} MiB) in {x.npartitions} chunks of {args.chunk}^2; "
        f"hidden 16 channels ({16 * 4 * y[0].size / 2**30:.1f} GiB, chunks of {hidden_chunk / 2**20:.0f} MiB); "
        f"output {y.shape} ({y.nbytes / 2**20:.0f} MiB)"
    )
    if args.out.exists():
        shutil.rmtree(args.out)

    if args.scheduler:
        cluster = None
        client = distributed.Client(args.scheduler)
    else:
        cluster = distributed.LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True, memory_limit=args.memory_limit,
            dashboard_address=None,
        )
        client = distributed.Client(cluster)
    try:
        # One engine thread per task: the workers' threads are the parallelism (no oversubscription).
        client.run(set_num_threads, 1)
        # Load the compiled kernels first, so that the peak below counts data, not code.
        client.run(partial(warm_up, model.up.weight, model.up.bias, model.mix.weight, model.mix.bias))
        workers_start, client_start = client.run(reset_peak), reset_peak()
        start = time.perf_counter()
        store = da.to_zarr(y, str(args.out), compute=False, overwrite=True)
        future = client.compute(store)
        if not args.quiet:
            distributed.progress(future)
            print()
        future.result()
        seconds = time.perf_counter() - start
        memory = memory_report(client, workers_start, client_start)
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
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes (default 2)")
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
