"""Compile time of long lazy graphs must grow linearly with their length (schedule rule 5).

    python benchmarks/compile_scaling.py              # the acceptance pair and the lazy sums
    python benchmarks/compile_scaling.py --distinct   # also a chain with no two kernels alike

Each measurement runs in its own subprocess with EMPTY caches: TGL_CACHE_DIR and
POCL_CACHE_DIR point at fresh temporary folders, and a new process has no programs in memory.
The time is from building the graph to reading the result (graph, backward, schedule, render,
compile, run); opening the device is done before the clock starts.

Workloads:
- chain N: x (64 floats, requires_grad); y = x; N times y = y * 1.0001 (odd i) or y.tanh()
  (even i); y.sum().backward(); x.grad.numpy(). Acceptance: time(3000) <= 12 * time(300).
  Its kernels repeat (every cut falls at the same place of the period), so the program cache
  compiles only a few distinct ones.
- distinct chain N (--distinct): the same with the constant 1.0001 + i * 1e-7, so every
  kernel's source differs and each one is compiled: the honest cost of compiling per node.
- lazy sum N: sum(tensors) of N tensors of 16 floats, Python style (0 + t0 + t1 + ...).
Exits 1 if any pair's ratio is above 12 (10x the work).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

MAX_RATIO = 12.0


def workload(kind: str, n: int) -> dict:
    import numpy as np

    from tinygradlike import Tensor, reset_stats, runtime, stats

    runtime.get_device()  # opening the device is not what we measure
    reset_stats()
    start = time.perf_counter()
    if kind in ("chain", "distinct"):
        x = Tensor(np.linspace(-1, 1, 64, dtype=np.float32), requires_grad=True)
        y = x
        for i in range(n):
            scale = 1.0001 + (i * 1e-7 if kind == "distinct" else 0.0)
            y = (y * scale) if i % 2 else y.tanh()
        y.sum().backward()
        result = x.grad.numpy()
    else:
        rng = np.random.default_rng(0)
        tensors = [Tensor(rng.standard_normal(16).astype(np.float32)) for _ in range(n)]
        result = sum(tensors).numpy()
    seconds = time.perf_counter() - start
    s = stats()
    return {"seconds": seconds, "kernels": s["kernels_launched"], "compiled": s["kernels_compiled"],
            "finite": bool(np.isfinite(result).all())}


def measure(kind: str, n: int) -> dict:
    """Run one workload in a fresh process with fresh, empty cache folders."""
    with tempfile.TemporaryDirectory(prefix="tgl-cache-") as tgl, tempfile.TemporaryDirectory(prefix="pocl-cache-") as pocl:
        env = dict(os.environ, TGL_CACHE_DIR=tgl, POCL_CACHE_DIR=pocl)
        done = subprocess.run([sys.executable, __file__, "--child", kind, str(n)], env=env,
                              capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{kind} {n} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare(label: str, kind: str, small: int, large: int) -> bool:
    a, b = measure(kind, small), measure(kind, large)
    ratio = b["seconds"] / a["seconds"]
    ok = ratio <= MAX_RATIO and a["finite"] and b["finite"]
    for n, r in ((small, a), (large, b)):
        print(f"{label} N={n:5d}: {r['seconds']:7.2f} s  ({r['kernels']} kernels launched, "
              f"{r['compiled']} compiled)")
    print(f"{label} ratio {large}/{small}: {ratio:5.2f}x for {large / small:.0f}x the work "
          f"(limit {MAX_RATIO:.0f}x) {'PASS' if ok else 'FAIL'}", flush=True)
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--distinct", action="store_true", help="also time a chain whose kernels all differ")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(workload(args.child[0], int(args.child[1]))))
        return 0
    ok = compare("backward chain", "chain", 300, 3000)
    ok &= compare("lazy sum", "sum", 200, 2000)
    if args.distinct:
        ok &= compare("distinct chain", "distinct", 300, 3000)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
