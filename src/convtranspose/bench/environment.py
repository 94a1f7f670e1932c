"""The machine and software a benchmark ran on, the thread setting, and the sgemm reference rate."""

from __future__ import annotations

import contextlib
import datetime
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from .peers import require

__all__ = [
    "OPENBLAS_VARIABLES",
    "Environment",
    "openblas_overrides",
    "openblas_warning",
    "thread_limits",
    "sgemm_gflops",
    "SgemmReference",
    "collect",
    "CpuActivity",
    "load_warning",
]

#: Variables that pin OpenBLAS to an older kernel; a current NumPy is slower with them.
OPENBLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")

#: Other processes' CPU use (in CPUs) from which a run counts as noisy.
BUSY_CPUS = 0.25

_PACKAGES = ("numpy", "torch", "onnxruntime", "onnx", "threadpoolctl", "convtranspose")


def openblas_overrides() -> dict[str, str]:
    """The OpenBLAS override variables set in this process's environment."""
    return {name: os.environ[name] for name in OPENBLAS_VARIABLES if name in os.environ}


def openblas_warning() -> Optional[str]:
    """A warning text when OpenBLAS overrides are set, else None."""
    overrides = openblas_overrides()
    if not overrides:
        return None
    listed = ", ".join(f"{name}={value}" for name, value in overrides.items())
    unset = " ".join(f"-u {name}" for name in OPENBLAS_VARIABLES)
    return (
        f"warning: {listed} is set; it pins NumPy's OpenBLAS to an older kernel and slows our engine "
        f"(and the sgemm reference). To benchmark without it: env {unset} convtranspose bench"
    )


@contextlib.contextmanager
def thread_limits(threads: int) -> Iterator[bool]:
    """Limit every thread pool to ``threads``: BLAS/OpenMP pools, torch, and our engine if it can.

    Yields whether our engine exposes ``convtranspose.engine.set_num_threads`` (when it does not,
    its only threads are those of NumPy's BLAS, which threadpoolctl limits).
    """
    threadpoolctl = require("threadpoolctl")
    torch = require("torch")
    from .. import engine

    previous_torch = torch.get_num_threads()
    engine_setter = getattr(engine, "set_num_threads", None)
    engine_getter = getattr(engine, "get_num_threads", None)
    previous_engine = engine_getter() if engine_getter is not None else None
    torch.set_num_threads(threads)
    if engine_setter is not None:
        engine_setter(threads)
    try:
        with threadpoolctl.threadpool_limits(limits=threads):
            yield engine_setter is not None
    finally:
        torch.set_num_threads(previous_torch)
        if engine_setter is not None and previous_engine is not None:
            engine_setter(previous_engine)


class SgemmReference:
    """The sgemm rate: ``np.matmul`` on float32 ``size x size`` matrices, in GFLOP/s.

    Sampled several times during a run (at the start, between layers, at the end) and reported as
    the best sample, like every other time in the suite, so a burst of load from other processes
    at one moment does not deflate the reference. The slowest sample is kept as a noise indicator.
    """

    def __init__(self, size: int = 2048) -> None:
        rng = np.random.default_rng(0)
        self.size = size
        self._a = rng.standard_normal((size, size), dtype=np.float32)
        self._b = rng.standard_normal((size, size), dtype=np.float32)
        self._out = np.empty_like(self._a)
        self.samples: list[float] = []

    def measure(self, repeats: int = 1) -> float:
        """Time ``repeats`` products (after one warm-up); return the best rate so far."""
        np.matmul(self._a, self._b, out=self._out)
        for _ in range(repeats):
            start = time.perf_counter()
            np.matmul(self._a, self._b, out=self._out)
            self.samples.append(2.0 * self.size**3 / (time.perf_counter() - start) / 1e9)
        return self.gflops

    @property
    def gflops(self) -> float:
        return max(self.samples)

    @property
    def slowest(self) -> float:
        return min(self.samples)


def sgemm_gflops(size: int = 2048, repeats: int = 5) -> float:
    """Best-of-``repeats`` rate of ``np.matmul`` on float32 ``size x size`` matrices, in GFLOP/s."""
    return SgemmReference(size).measure(repeats)


def _cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _versions() -> dict[str, str]:
    found = {}
    for package in _PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def _git_commit() -> Optional[str]:
    repo = Path(__file__).resolve().parents[3]
    try:
        completed = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = completed.stdout.strip()
    if not commit:
        return None
    status = subprocess.run(
        ["git", "-C", str(repo), "status", "--porcelain", "--", "src"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    return commit + (" + uncommitted changes under src/" if status.stdout.strip() else "")


def _blas_libraries() -> list[dict[str, object]]:
    threadpoolctl = require("threadpoolctl")
    keys = ("user_api", "internal_api", "prefix", "version", "architecture", "threading_layer", "num_threads")
    return [{key: info[key] for key in keys if key in info} for info in threadpoolctl.threadpool_info()]


class CpuActivity:
    """CPU time used by *other* processes between :meth:`start` and :meth:`stop` (Linux only).

    System-wide busy time from ``/proc/stat`` minus this process's own CPU time, in CPU-seconds per
    wall-clock second (1.0 = one core fully busy with something else): a noise indicator for the
    run, since other work on the machine slows every implementation unevenly.
    """

    def __init__(self) -> None:
        self._start: Optional[tuple[float, float, float]] = None
        self.others: Optional[float] = None

    @staticmethod
    def _sample() -> Optional[tuple[float, float, float]]:
        stat = Path("/proc/stat")
        if not stat.exists():
            return None
        fields = [int(v) for v in stat.read_text().splitlines()[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        busy = (sum(fields) - idle) / os.sysconf("SC_CLK_TCK")
        own = sum(os.times()[:2])
        return busy, own, time.monotonic()

    def start(self) -> "CpuActivity":
        self._start = self._sample()
        return self

    def stop(self) -> Optional[float]:
        end = self._sample()
        if self._start is not None and end is not None and end[2] > self._start[2]:
            busy, own, wall = (b - a for a, b in zip(self._start, end))
            self.others = max(0.0, (busy - own) / wall)
        return self.others


def load_warning(sample_seconds: float = 0.5) -> Optional[str]:
    """A warning when other processes keep the CPUs busy right now (sampled for ``sample_seconds``)."""
    activity = CpuActivity().start()
    time.sleep(sample_seconds)
    others = activity.stop()
    if others is None or others < BUSY_CPUS:
        return None
    return (
        f"warning: other processes are using {others:.2f} of {os.cpu_count()} CPUs; timings will be noisy "
        "and slow multi-threaded peers most (torch's OpenMP barriers) -- rerun on a quiet machine"
    )


@dataclass
class Environment:
    """Everything RESULTS.md records about a run."""

    date: str
    cpu: str
    logical_cpus: int
    python: str
    platform: str
    versions: dict[str, str]
    git_commit: Optional[str]
    threads: int
    engine_threads_hook: bool
    sgemm_gflops: float
    blas: list[dict[str, object]]
    openblas_env: dict[str, str]
    command: str
    quick: bool
    rounds: int
    sgemm_samples: int = 0
    sgemm_slowest: Optional[float] = None
    load_average: Optional[float] = None
    other_cpu_load: Optional[float] = None
    extra: dict[str, str] = field(default_factory=dict)


def collect(
    *, threads: int, engine_threads_hook: bool, sgemm: float, quick: bool, rounds: int, command: str
) -> Environment:
    """Describe this process (call inside :func:`thread_limits` so BLAS thread counts are the limited ones)."""
    return Environment(
        date=datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        cpu=_cpu_name(),
        logical_cpus=os.cpu_count() or 0,
        python=sys.version.split()[0],
        platform=platform.platform(),
        versions=_versions(),
        git_commit=_git_commit(),
        threads=threads,
        engine_threads_hook=engine_threads_hook,
        sgemm_gflops=sgemm,
        blas=_blas_libraries(),
        openblas_env=openblas_overrides(),
        command=command,
        quick=quick,
        rounds=rounds,
        load_average=os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    )
