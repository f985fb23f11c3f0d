"""Data-parallel scaling: training samples per second with 1 and with 2 processes, one core each.

    python benchmarks/scale.py                          # an MLP 784-1024-1024-10, global batches 256, 512, 1024
    python benchmarks/scale.py --hidden 256 --batch-size 64 --steps 100
    POCL_DEVICES="pthread pthread" python benchmarks/scale.py --devices 0:0,0:1   # also: 2 devices, 1 process

Both runs train the same MLP on the same synthetic 28x28 images with the same global batch, as
`mpiexec -n N python -m tinygradlike` does (train.make_train_step for one process,
parallel.DataParallel for two: each process takes half of every batch and the gradients are
averaged by distributed.all_reduce_replicas), uploading each batch from host memory and reading
the loss and the logits back every step, as the job does. Each process gets one core: PoCL is held to one thread
(POCL_MAX_PTHREAD_COUNT=1) and mpiexec binds each process to its own core. The first steps
(compiles, jit recording) are not timed. The efficiency is the 2-process throughput over the
1-process throughput; the goal (issue 12) is at least 1.6. Each global batch size is measured
apart: the compute per byte all-reduced grows with it. With --devices, one process also trains
over two devices (parallel.DataParallel), each held to one thread, the process bound to two cores.

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
    p.add_argument("--batch-size", type=int, nargs="+", default=[256, 512, 1024],
                   help="global batches (split over the processes), each measured apart")
    p.add_argument("--devices", default=None, help="two device specs, 'P:D,P:D': also time one process over both")
    p.add_argument("--no-overlap", action="store_true",
                   help="all-reduce after the backward pass instead of during it (parallel.DataParallel overlap=False)")
    p.add_argument("--steps", type=int, default=40, help="timed steps, after the warm-up")
    p.add_argument("--warmup", type=int, default=5, help="untimed first steps (compiles, jit recording)")
    p.add_argument("--repeats", type=int, default=3,
                   help="runs of each kind, alternated; each figure is the run of median throughput (the "
                        "machine is noisy)")
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
    from tinygradlike import distributed, optim, parallel, train
    from tinygradlike.tensor import Tensor

    from tinygradlike import runtime

    rank, size = distributed.world()
    batch_size = args.batch_size[0]
    devices = [runtime.open_device(spec) for spec in args.devices.split(",")] if args.devices else []
    if devices:
        runtime.set_device(devices[0])
    Tensor.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch_size * 8, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, len(x)).astype(np.int32)
    model = build_mlp(args.hidden)
    distributed.broadcast_parameters(model)
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    if devices:
        models = [model] + [parallel.replicate(model, d) for d in devices[1:]]
        optimizers = [opt] + [optim.SGD(m.parameters(), lr=0.01, momentum=0.9) for m in models[1:]]
        step = parallel.DataParallel(models, optimizers, devices, overlap=not args.no_overlap)
    elif size == 1:
        one_step = train.make_train_step(model, opt)

        def step(xb, yb):
            loss, logits = one_step(Tensor(xb), Tensor(yb))
            return loss.item(), logits.numpy()  # what the job reads every step
    else:
        step = parallel.DataParallel([model], [opt], overlap=not args.no_overlap)
    local = batch_size // size
    batches = [(x[i:i + batch_size][rank * local:(rank + 1) * local], y[i:i + batch_size][rank * local:(rank + 1) * local])
               for i in range(0, len(x), batch_size)]
    for i in range(args.warmup):
        step(*batches[i % len(batches)])
    before = dict(distributed.counters)
    start = time.perf_counter()
    for i in range(args.steps):
        step(*batches[i % len(batches)])
    seconds = time.perf_counter() - start
    result = {"processes": size, "devices": max(len(devices), 1), "seconds": seconds,
              "samples_per_second": batch_size * args.steps / seconds,
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


def launch(processes: int, batch_size: int, args: argparse.Namespace, devices: str | None = None) -> dict:
    """One run under mpiexec (one core per process; two cores for a run over two devices);
    returns rank 0's measures."""
    mpiexec = Path(sys.executable).parent / "mpiexec"
    command = [str(mpiexec), "-n", str(processes), "-bind-to", "core:2" if devices else "core", sys.executable,
               __file__, "--worker", "--hidden", str(args.hidden), "--batch-size", str(batch_size),
               "--steps", str(args.steps), "--warmup", str(args.warmup), *(["--devices", devices] if devices else []),
               *(["--no-overlap"] if args.no_overlap else [])]
    out = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **ONE_CORE}, timeout=600)
    if out.returncode != 0:
        raise SystemExit(f"the {processes}-process run failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def median_run(runs: list[dict]) -> dict:
    """The run of median throughput (the lower middle one of an even count)."""
    return sorted(runs, key=lambda run: run["samples_per_second"])[(len(runs) - 1) // 2]


def report(batch_size: int, runs: list[dict], args: argparse.Namespace) -> float:
    """Print one batch size's table and the ring model's figures; returns the efficiency."""
    one, two = runs[0], runs[1]
    print(f"\nMLP 784-{args.hidden}-{args.hidden}-10 ({one['parameters']:,} parameters), global batch {batch_size}, "
          f"{args.steps} timed steps, one core per process (per device), the median of {args.repeats} runs")
    print("| processes x devices | samples/s | ms per step | all_reduce ms per step | of which in MPI |")
    print("| --- | --- | --- | --- | --- |")
    for run in runs:
        print(f"| {run['processes']} x {run['devices']} | {run['samples_per_second']:.0f} | "
              f"{1e3 * run['seconds'] / args.steps:.2f} | {1e3 * run['communication_seconds_per_step']:.2f} | "
              f"{1e3 * run['mpi_seconds_per_step']:.2f} |")
    p = two["processes"]
    model = (2 * (p - 1) * two["latency_seconds"] * two["messages_per_step"]
             + 2 * (p - 1) / p * two["bytes_reduced_per_step"] / two["bandwidth_bytes_per_second"])
    print(f"bytes all-reduced per step {two['bytes_reduced_per_step']:,.0f} in {two['messages_per_step']:.0f} message(s); "
          f"MPI here: latency {1e6 * two['latency_seconds']:.1f} us per hop, bandwidth "
          f"{two['bandwidth_bytes_per_second'] / 1e9:.2f} GB/s; the ring model's all-reduce: {1e3 * model:.2f} ms per step "
          f"(measured in MPI: {1e3 * two['mpi_seconds_per_step']:.2f} ms; the rest of all_reduce is the "
          f"host side: reading the gradients from the device, packing, writing them back)")
    efficiency = two["samples_per_second"] / one["samples_per_second"]
    verdict = "meets" if efficiency >= GOAL else "misses"
    print(f"efficiency (2-process samples/s over 1-process): {efficiency:.2f}x, {verdict} the goal of {GOAL}x")
    if len(runs) > 2:
        print(f"1 process over 2 devices: {runs[2]['samples_per_second'] / one['samples_per_second']:.2f}x one device")
    return efficiency


def main() -> None:
    args = parse_args()
    if args.worker:
        worker(args)
        return
    summary = []
    for batch_size in args.batch_size:
        kinds = [(1, None), (2, None)] + ([(1, args.devices)] if args.devices else [])
        measured: list[list[dict]] = [[] for _ in kinds]
        for _ in range(args.repeats):  # alternated, so a slow spell of the machine hits every kind
            for runs, (processes, devices) in zip(measured, kinds):
                runs.append(launch(processes, batch_size, args, devices))
        summary.append((batch_size, report(batch_size, [median_run(runs) for runs in measured], args)))
    print("\nefficiency by global batch: " + ", ".join(f"{b}: {e:.2f}x" for b, e in summary))


if __name__ == "__main__":
    main()
