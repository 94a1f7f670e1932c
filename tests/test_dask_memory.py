"""Bounded memory: a smaller run of examples/upscale_large.py on a 2-process LocalCluster.

The upsampler's first layer (1 -> 16 channels, k6 s2 p2) on a 1024^2 float32 input generated
lazily in chunks of 128^2: the output, 16 x 2048^2 float32 = 256 MiB in 64 chunks of 4 MiB, is
written to a Zarr store. Peak resident memory (Linux VmHWM, reset when the computation starts,
after the imports and compiled kernels are loaded) of each worker process and of the client (which
hosts the scheduler) must grow by far less than the output: the workers hold a few chunks at a
time, never the image.

The bound: a task holds its input window (a 64 KiB input chunk plus one-cell strips of its
neighbours), its 4 MiB output chunk, the engine's working buffers (below 1.5x the output) and the
Zarr encoder's copy; a worker runs one task at a time and keeps a few finished chunks until they
are written, plus what the allocator has not returned to the system. So each process grows by a
small multiple of the 4 MiB chunk (measured: about 36 MiB per worker, 11 MiB for the client, under
load), independent of the image size; the test allows 80 MiB per process and half the output in
total.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytest.importorskip("dask.array")
pytest.importorskip("distributed")
pytest.importorskip("zarr")
pytest.importorskip("sklearn")
pytest.importorskip("tqdm")

if not Path("/proc/self/status").exists():
    pytest.skip("peak RSS is read from /proc (Linux)", allow_module_level=True)

SCRIPT = Path(__file__).resolve().parent.parent / "examples" / "upscale_large.py"
PER_PROCESS_GROWTH_LIMIT = 80 * 2**20


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("upscale_large", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_peak_memory_stays_far_below_the_output(example, tmp_path, monkeypatch):
    # The worker processes unpickle the example's functions by module name: let them import it
    # (spawned processes start with this process's sys.path).
    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    args = example.parse_args(
        ["--size", "1024", "--chunk", "128", "--layers", "1", "--workers", "2", "--memory-limit", "1GiB", "--epochs", "1",
         "--out", str(tmp_path / "out.zarr"), "--quiet"]
    )
    report = example.run(args)
    assert report["output_bytes"] == 16 * 2048 * 2048 * 4
    assert report["corner_max_abs_difference"] < 1e-4  # the written image is the model's output
    processes = [*report["memory"]["workers"].values(), report["memory"]["client"]]
    assert len(processes) == 3
    growth = [entry["peak"] - entry["start"] for entry in processes]
    assert all(g < PER_PROCESS_GROWTH_LIMIT for g in growth), [g >> 20 for g in growth]
    assert sum(growth) < report["output_bytes"] / 2, [g >> 20 for g in growth]
