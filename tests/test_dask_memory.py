"""Bounded memory: smaller runs of examples/upscale_large.py on a 2-process LocalCluster.

Peak resident memory (Linux VmHWM, reset when the computation starts, after the imports, compiled
kernels and a small Zarr write are loaded: ``upscale_large.store_measured``) of each worker process
and of the client (which hosts the scheduler) is measured while a lazily generated input goes
through the layers and the result is written to a Zarr store.

* One layer (``ConvTranspose2d(1, 16, k6 s2 p2)`` on a 1024^2 float32 input in chunks of 128^2):
  the output, 16 x 2048^2 float32 = 256 MiB in 64 chunks of 4 MiB. A task holds its input window
  (a 64 KiB input chunk plus one-cell strips of its neighbours), its 4 MiB output chunk, the
  engine's working buffers (below 1.5x the output) and the Zarr encoder's copy; a worker runs one
  task at a time and keeps a few finished chunks until they are written. So each process grows by
  a small multiple of the 4 MiB chunk (measured: 16-17 MiB per worker, 11 MiB for the client),
  independent of the image size; the test allows 80 MiB per process and half the output in total.
* Both layers (the trained upsampler, fused by ``convtranspose.dask.chain``) on inputs 512 cells
  high and 1024 or 4096 wide, chunks of 128^2: the 16-channel hidden activation is 128 or 512 MiB,
  never stored; a task holds one 4 MiB hidden tile and its engine buffers (about 4x the tile).
  Measured: about 36 MiB per worker at both widths (+4 MiB from the narrow to the 4x wider image:
  the scheduler's bookkeeping of 4x as many tasks and the row of input chunks whose strips the next
  row still needs, 64 KiB each). Applying the layers one by one (``--unfused``) instead grew from
  about 60 to about 90 MiB per worker: a band of hidden chunks across the width stays alive until
  the next row of chunks has cut its halo strips from them. The test asserts the fused growth at
  4x the width exceeds the narrow one's by under 16 MiB, and stays below 1/8 of the hidden activation.
* A wider two-layer decoder (1 -> 16 -> 4 channels, random weights, fused by ``chain``) whose output
  and hidden activation are 512 MiB each: about 60 MiB per worker; the test asserts what it asserts
  for one layer, 80 MiB per process and half the output in total.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest

pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
pytest.importorskip("zarr")
pytest.importorskip("sklearn")
pytest.importorskip("tqdm")

if not Path("/proc/self/status").exists():
    pytest.skip("peak RSS is read from /proc (Linux)", allow_module_level=True)

PER_PROCESS_GROWTH_LIMIT = 80 * 2**20


def _growth(entry: dict) -> int:
    return entry["peak"] - entry["start"]


def test_one_layer_peak_memory_stays_far_below_the_output(upscale_example, tmp_path):
    args = upscale_example.parse_args(
        ["--size", "1024", "--chunk", "128", "--layers", "1", "--workers", "2", "--memory-limit", "1GiB", "--epochs", "1",
         "--out", str(tmp_path / "out.zarr"), "--quiet"]
    )
    report = upscale_example.run(args)
    assert report["output_bytes"] == 16 * 2048 * 2048 * 4
    assert report["corner_max_abs_difference"] < 1e-4  # the written image is the model's output
    processes = [*report["memory"]["workers"].values(), report["memory"]["client"]]
    assert len(processes) == 3
    growth = [_growth(entry) for entry in processes]
    assert all(g < PER_PROCESS_GROWTH_LIMIT for g in growth), [g >> 20 for g in growth]
    assert sum(growth) < report["output_bytes"] / 2, [g >> 20 for g in growth]


def test_two_layer_peak_memory_does_not_grow_with_the_width(upscale_example, tmp_path):
    example = upscale_example
    model, tiles = example.trained_model(None, epochs=1, quiet=True)
    warm = partial(example.warm_up, model.up.weight, model.up.bias, model.mix.weight, model.mix.bias)
    growth, hidden = {}, {}
    for width in (1024, 4096):
        x = example.lazy_input(512, width, 128, tiles)
        y = example.upscale(model, x)[0]
        hidden[width] = 16 * 4 * y.size
        with example.local_cluster(2, "1GiB") as cluster, distributed.Client(cluster) as client:
            _, memory = example.store_measured(client, y, tmp_path / f"{width}.zarr", warm)
        growth[width] = max(_growth(entry) for entry in memory["workers"].values())
        assert _growth(memory["client"]) < PER_PROCESS_GROWTH_LIMIT
    mib = {width: g >> 20 for width, g in growth.items()}
    print(f"peak RSS growth per worker (MiB) by width: {mib}")
    assert hidden[4096] == 512 * 2**20
    # 4x the width (384 MiB more hidden activation) adds only the scheduler's bookkeeping: measured +4 MiB
    # with numba, +9 MiB on the NumPy gemm path; the one-by-one layers add about +30 MiB (~60 -> ~90 MiB)
    assert growth[4096] - growth[1024] < 16 * 2**20, mib
    assert growth[4096] < hidden[4096] / 8, mib


def test_two_layer_decoder_peak_memory_stays_far_below_its_output(upscale_example, tmp_path):
    """A wider two-layer decoder, fused by chain: 1 -> 16 -> 4 channels, k4 s2 p1 twice, on a
    512 x 4096 input in 128^2 chunks. The output (4 x 2048 x 16384 float32) and the never-stored
    hidden activation (16 x 1024 x 8192) are 512 MiB each, in 4 MiB output chunks; each process must
    grow by a small multiple of a chunk (measured: about 60 MiB per worker, 5 MiB for the client),
    not of either."""
    import dask.array as da
    import numpy as np

    from convtranspose import ConvTranspose2d
    from convtranspose.dask import chain

    up = ConvTranspose2d(1, 16, 4, stride=2, padding=1, rng=0)
    mix = ConvTranspose2d(16, 4, 4, stride=2, padding=1, rng=1)
    x = da.random.RandomState(0).random_sample((1, 1, 512, 4096), chunks=(1, 1, 128, 128)).astype(np.float32)
    y = chain(x, [up, upscale_example.relu, mix])
    output_bytes = y.nbytes
    assert output_bytes == 512 * 2**20 and y.chunksize == (1, 4, 512, 512)
    warm = partial(upscale_example.warm_up, up.weight, up.bias, mix.weight, mix.bias)
    with upscale_example.local_cluster(2, "1GiB") as cluster, distributed.Client(cluster) as client:
        _, memory = upscale_example.store_measured(client, y, tmp_path / "decoder.zarr", warm)
    growth = [_growth(entry) for entry in [*memory["workers"].values(), memory["client"]]]
    mib = [g >> 20 for g in growth]
    print(f"two-layer decoder, 512 MiB output: peak RSS growth per process (MiB) {mib}")
    assert all(g < PER_PROCESS_GROWTH_LIMIT for g in growth), mib
    assert sum(growth) < output_bytes / 2, mib  # as for one layer: 80 MiB per process, half the output in all
