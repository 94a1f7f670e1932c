"""Bounded memory: a smaller run of examples/upscale_large.py on a 2-process LocalCluster.

Input 3072^2 float32 generated lazily in chunks of 256^2; the upsampler's 16-channel hidden
activation is 2.25 GiB and the output 6144^2 float32 is 144 MiB, written to a Zarr store. Peak
resident memory (Linux VmHWM, reset when the computation starts, after the imports and compiled
kernels are loaded) of each worker process and of the client (which hosts the scheduler) must grow
by far less than the output: the workers hold a few chunks at a time, never the image.

The bound: a task holds its input window (one 16 MiB hidden chunk plus one-cell strips of its
neighbours, or one 256 KiB input chunk), its result (a 1 MiB output chunk or a 16 MiB hidden
chunk) and the engine's working buffers (below 1.5x the result); a worker runs one task at a
time and keeps the hidden chunks whose neighbours still need their strips, plus what the
allocator has not returned to the system. So each worker's growth is a small multiple of the
16 MiB hidden chunk, independent of the image size; the test allows 100 MiB per process and
requires the sum over all three processes to stay below the output's 144 MiB.
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
PER_PROCESS_GROWTH_LIMIT = 100 * 2**20


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("upscale_large", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_peak_memory_stays_far_below_the_output(example, tmp_path):
    args = example.parse_args(
        ["--size", "3072", "--chunk", "256", "--workers", "2", "--memory-limit", "1GiB", "--epochs", "1",
         "--out", str(tmp_path / "out.zarr"), "--quiet"]
    )
    report = example.run(args)
    assert report["output_bytes"] == 6144 * 6144 * 4
    assert report["corner_max_abs_difference"] < 1e-4  # the written image is the model's output
    processes = [*report["memory"]["workers"].values(), report["memory"]["client"]]
    assert len(processes) == 3
    growth = [entry["peak"] - entry["start"] for entry in processes]
    assert all(g < PER_PROCESS_GROWTH_LIMIT for g in growth), [g >> 20 for g in growth]
    assert sum(growth) < report["output_bytes"], [g >> 20 for g in growth]
