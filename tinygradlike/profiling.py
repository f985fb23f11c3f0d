"""Which kernels are slow: `profile()` times every kernel launched inside its block on the
device, per kernel and per line of the user's code, and its report prints a table with a total
row and saves a Chrome trace (Perfetto, chrome://tracing).

The runtime appends each launch to `runtime._profile` while a profile is open; a launch carries
a KernelOrigin (the ops fused into its kernel and the user's line that made its result, noted
by tinygradlike.sites while the profile looks).
"""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, NamedTuple

from tinygradlike import runtime, sites


@dataclass(frozen=True)
class KernelOrigin:
    """What made a launch, for profiles and TGL_DEBUG lines: the ops fused into its kernel
    ("matmul+add+where") and the user's line that made its result ("train.py:42"; None when
    unknown: made while nobody was looking, see tinygradlike.sites)."""

    ops: str
    line: str | None = None


class ProfileRow(NamedTuple):
    """One row of a profile: a kernel launched from one line. The first five fields are the
    table's totals; `name` is what the table calls it."""

    kernel: str  # the kernel's own name (matmul_cpu_..., E_..., R_...): TGL_DEBUG lines and sources use it
    launches: int
    seconds: float
    gflops: float
    gbps: float
    ops: str = ""
    line: str | None = None
    flops: int = 0
    nbytes: int = 0

    @property
    def name(self) -> str:
        """The ops and the user's line: 'matmul+add+where  train.py:42'."""
        return f"{self.ops}  {self.line or '(line unknown)'}"


class ProfileReport:
    """What a profile() block launched. rows: per kernel and user's line, (kernel, launches,
    total seconds, GFLOPS, GB/s, ops, line, flops, bytes), slowest first; total: their sum as
    one row; launches: every launch in order (for save); str() is a table with a total row."""

    def __init__(self, device_name: str = "") -> None:
        self.device_name = device_name
        self.rows: list[ProfileRow] = []
        # (kernel, ops, line, start ns, end ns, global size, local size, flops, bytes) per launch
        self.launches: list[tuple] = []

    @property
    def total_seconds(self) -> float:
        return sum(row.seconds for row in self.rows)

    @property
    def total(self) -> ProfileRow:
        """Every row added up (GFLOPS and GB/s over the total time)."""
        ns = max(self.total_seconds * 1e9, 1)
        flops, nbytes = sum(row.flops for row in self.rows), sum(row.nbytes for row in self.rows)
        return ProfileRow("", sum(row.launches for row in self.rows), self.total_seconds, flops / ns, nbytes / ns,
                          "total", None, flops, nbytes)

    def __str__(self) -> str:
        width = max([32, *(len(row.name) for row in self.rows)])
        lines = [f"{'ops  line':<{width}s} {'launches':>8s} {'total ms':>10s} {'share':>6s} {'GFLOPS':>8s} "
                 f"{'GB/s':>8s}  kernel"]
        total = self.total_seconds or 1.0
        for row in self.rows:
            lines.append(f"{row.name:<{width}s} {row.launches:8d} {row.seconds * 1e3:10.3f} {row.seconds / total:6.1%} "
                         f"{row.gflops:8.2f} {row.gbps:8.2f}  {row.kernel}")
        t = self.total
        lines.append(f"{'total':<{width}s} {t.launches:8d} {t.seconds * 1e3:10.3f} {t.seconds / total:6.1%} "
                     f"{t.gflops:8.2f} {t.gbps:8.2f}")
        return "\n".join(lines)

    def save(self, path: str | os.PathLike) -> None:
        """Write the launches as a Chrome trace (JSON {"traceEvents": [...]}) that Perfetto
        (ui.perfetto.dev) and chrome://tracing open: one complete event ("ph": "X") per launch,
        named by its ops, at the device's start time and duration in microseconds (from the
        first launch), with the kernel's name, the user's line, global and local size, flops
        and bytes in its args."""
        first = min((launch[3] for launch in self.launches), default=0)
        events: list[dict] = [{"name": "process_name", "ph": "M", "pid": 0, "tid": 0,
                               "args": {"name": f"tinygradlike on {self.device_name}"}}]
        for kernel, ops, line, start, end, global_size, local_size, flops, nbytes in self.launches:
            events.append({"name": ops, "cat": "kernel", "ph": "X", "pid": 0, "tid": 0,
                           "ts": (start - first) / 1e3, "dur": max(end - start, 1) / 1e3,
                           "args": {"kernel": kernel, "line": line or "unknown", "global_size": list(global_size),
                                    "local_size": None if local_size is None else list(local_size),
                                    "flops": flops, "bytes": nbytes}})
        Path(path).write_text(json.dumps({"traceEvents": events, "displayTimeUnit": "ms"}))

    def _collect(self, launches: list) -> None:
        """Rows and launches from the profile's records (their events have finished)."""
        totals: dict[tuple, list] = {}
        for kernel, event, flops, nbytes, origin, global_size, local_size in launches:
            start, end = event.profile.start, event.profile.end
            ops, line = (origin.ops, origin.line) if origin is not None else (kernel, None)
            self.launches.append((kernel, ops, line, start, end, tuple(global_size), local_size, flops, nbytes))
            entry = totals.setdefault((kernel, ops, line), [0, 0, 0, 0])
            entry[0] += 1
            entry[1] += max(end - start, 1)
            entry[2] += flops
            entry[3] += nbytes
        self.rows = sorted((ProfileRow(kernel, c, ns / 1e9, fl / ns, nb / ns, ops, line, fl, nb)
                            for (kernel, ops, line), (c, ns, fl, nb) in totals.items()), key=lambda row: -row.seconds)


@contextmanager
def profile() -> Iterator[ProfileReport]:
    """Time every kernel launched inside the block on the device (a profiling queue; each
    kernel's own start and end, so launch overhead is not counted) and total them per kernel
    and user's line. Lines are noted while the block runs (sites.watch): a tensor made before
    it has an unknown line.

        with tinygradlike.profile() as report:
            train_step()
        print(report)                 # slowest first, then a total row
        report.save("trace.json")     # for ui.perfetto.dev or chrome://tracing
    """
    if runtime._profile is not None:
        raise RuntimeError("profiles cannot nest")
    device = runtime.get_device()
    was_profiling = device.profiling
    device.use_profiling(True)
    runtime._profile = launches = []
    report = ProfileReport(device.name)
    sites.watch()
    try:
        yield report
    finally:
        runtime._profile = None
        sites.unwatch()
        device.synchronize()
        report._collect(launches)
        device.use_profiling(was_profiling or runtime.debug_level() >= 2)
