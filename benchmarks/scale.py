"""Data-parallel scaling: training samples per second with 1 and with 2 processes, one core each.

    python benchmarks/scale.py                          # the default: an MLP 784-1024-1024-10, batch 256
    python benchmarks/scale.py --hidden 256 --batch-size 64 --steps 100

Both runs train the same MLP on the same synthetic 28x28 images with the same global batch, as
`mpiexec -n N python -m tinygradlike` does (train.make_train_step for one process,
train.make_data_parallel_step for two: each process takes half of every batch and the gradients
are averaged by distributed.all_reduce). Each process gets one core: PoCL is held to one thread
(POCL_MAX_PTHREAD_COUNT=1) and mpiexec binds each process to its own core. The first steps
(compiles, jit recording) are not timed. The efficiency is the 2-process throughput over the
1-process throughput; the goal (issue 12) is at least 1.6.

The 2-process run also measures what docs/scaling.md's cost model needs: the seconds spent in
all_reduce per step and the bytes it reduced, and MPI's latency and bandwidth on this machine
(an Allreduce of 8 bytes and of 4 MB), so the model's prediction can be set beside the measure.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

GOAL = 1.6
ONE_CORE = {"POCL_MAX_PTHREAD_COUNT": "1", "OMP_NUM_THREADS": "1"}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hidden", type=int, default=1024, help="units of each of the two hidden layers")
    p.add_argument("--batch-size", type=int, default=256, help="global batch (split over the processes)")
    p.add_argument("--steps", type=int, default=40, help="timed steps, after the warm-up")
    p.add_argument("--warmup", type=int, default=5, help="untimed first steps (compiles, jit recording)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # a process of one run
    return p.parse_args()


def build_mlp(hidden: int):
    from tinygradlike import nn

    return nn.Sequential(nn.Flatten(), nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, 10))


def measure_mpi(comm, nbytes: int, repeats: int) -> float:
    """Seconds per Allreduce of nbytes (float32), the median of `repeats`."""
    from mpi4py import MPI

    buffer = np.ones(nbytes // 4, np.float32)
    times = []
    for _ in range(repeats):
        comm.Barrier()
        start = time.perf_counter()
        comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def worker(args: argparse.Namespace) -> None:
    """One process of a run: train, time, and (rank 0) print one JSON line."""
    from tinygradlike import distributed, optim, train
    from tinygradlike.tensor import Tensor

    rank, size = distributed.world()
    Tensor.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch_size * 8, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, len(x)).astype(np.int32)
    model = build_mlp(args.hidden)
    distributed.broadcast_parameters(model)
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    step = train.make_train_step(model, opt) if size == 1 else train.make_data_parallel_step(model, opt)
    local = args.batch_size // size
    batches = [(Tensor(x[i:i + args.batch_size][rank * local:(rank + 1) * local]),
                Tensor(y[i:i + args.batch_size][rank * local:(rank + 1) * local]))
               for i in range(0, len(x), args.batch_size)]
    for i in range(args.warmup):
        loss, _ = step(*batches[i % len(batches)])
        loss.item()
    before = dict(distributed.counters)
    start = time.perf_counter()
    for i in range(args.steps):
        loss, logits = step(*batches[i % len(batches)])
        loss.item(), logits.numpy()  # what the job reads every step
    seconds = time.perf_counter() - start
    result = {"processes": size, "seconds": seconds, "samples_per_second": args.batch_size * args.steps / seconds,
              "parameters": sum(int(np.prod(p.shape)) for p in model.parameters()),
              "communication_seconds_per_step": (distributed.counters["seconds"] - before["seconds"]) / args.steps,
              "mpi_seconds_per_step": (distributed.counters["mpi_seconds"] - before["mpi_seconds"]) / args.steps,
              "bytes_reduced_per_step": (distributed.counters["bytes_reduced"] - before["bytes_reduced"]) / args.steps,
              "messages_per_step": (distributed.counters["messages"] - before["messages"]) / args.steps}
    if size > 1:  # the ring model's constants: t(n bytes) = 2(p-1) latency + 2(p-1)/p n / bandwidth
        from mpi4py import MPI

        hops, big = 2 * (size - 1), 4 << 20
        small_seconds, big_seconds = measure_mpi(MPI.COMM_WORLD, 8, 200), measure_mpi(MPI.COMM_WORLD, big, 20)
        result["latency_seconds"] = small_seconds / hops
        result["bandwidth_bytes_per_second"] = hops / size * big / (big_seconds - small_seconds)
    if rank == 0:
        print(json.dumps(result))


def launch(processes: int, args: argparse.Namespace) -> dict:
    """One run under mpiexec; returns rank 0's measures."""
    mpiexec = Path(sys.executable).parent / "mpiexec"
    command = [str(mpiexec), "-n", str(processes), "-bind-to", "core", sys.executable, __file__, "--worker",
               "--hidden", str(args.hidden), "--batch-size", str(args.batch_size), "--steps", str(args.steps),
               "--warmup", str(args.warmup)]
    out = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **ONE_CORE}, timeout=600)
    if out.returncode != 0:
        raise SystemExit(f"the {processes}-process run failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    args = parse_args()
    if args.worker:
        worker(args)
        return
    one, two = launch(1, args), launch(2, args)
    efficiency = two["samples_per_second"] / one["samples_per_second"]
    print(f"MLP 784-{args.hidden}-{args.hidden}-10 ({one['parameters']:,} parameters), global batch {args.batch_size}, "
          f"{args.steps} timed steps, one core per process")
    print("| processes | samples/s | ms per step | all_reduce ms per step | of which in MPI |")
    print("| --- | --- | --- | --- | --- |")
    for run in (one, two):
        print(f"| {run['processes']} | {run['samples_per_second']:.0f} | {1e3 * run['seconds'] / args.steps:.2f} | "
              f"{1e3 * run['communication_seconds_per_step']:.2f} | {1e3 * run['mpi_seconds_per_step']:.2f} |")
    p = two["processes"]
    model = (2 * (p - 1) * two["latency_seconds"] * two["messages_per_step"]
             + 2 * (p - 1) / p * two["bytes_reduced_per_step"] / two["bandwidth_bytes_per_second"])
    print(f"bytes all-reduced per step {two['bytes_reduced_per_step']:,.0f} in {two['messages_per_step']:.0f} message(s); "
          f"MPI here: latency {1e6 * two['latency_seconds']:.1f} us per hop, bandwidth "
          f"{two['bandwidth_bytes_per_second'] / 1e9:.2f} GB/s; the ring model's all-reduce: {1e3 * model:.2f} ms per step "
          f"(measured in MPI: {1e3 * two['mpi_seconds_per_step']:.2f} ms; the rest of all_reduce is the "
          f"host side: reading the gradients from the device, packing, writing them back)")
    verdict = "meets" if efficiency >= GOAL else "misses"
    print(f"efficiency (2-process samples/s over 1-process): {efficiency:.2f}x, {verdict} the goal of {GOAL}x")


if __name__ == "__main__":
    main()
