"""Data parallelism over MPI: several processes train one model, each on its slice of every batch.

Launched by `mpiexec -n 2 python -m tinygradlike`, every process runs the same program; `world()`
tells each its rank and the number of processes. Before the first step `broadcast_parameters`
gives every process rank 0's weights (after checking that all of them built the same model);
after each backward pass `all_reduce` averages the gradients, so every process takes the same
optimizer step and the weights stay equal everywhere.

The transport is MPI's own (mpi4py's buffer `Allreduce`, `Bcast`, `allgather`): no sockets of
ours. Tensors travel through host memory, packed into a few large buckets of one dtype
(BUCKET_BYTES each) instead of one message per parameter, because every message pays MPI's
latency. This part does not overlap communication with the backward pass: the gradients are
reduced after backward has finished, between backward and the optimizer step.

Without mpiexec (or with one process) the world is (0, 1), mpi4py is never imported, and the
collectives change nothing, so plain `import tinygradlike` never needs MPI.

Faults: under mpiexec with several processes, an exception that nobody catches prints its
traceback and then calls MPI's Abort, which ends every process of the job within seconds
instead of leaving the others waiting forever in a collective (as `python -m mpi4py` does).
"""
from __future__ import annotations

import os
import sys
import time
from typing import Any, Sequence

import numpy as np

from tinygradlike.tensor import Tensor

BUCKET_BYTES = 4 << 20  # per message: large enough that MPI's per-message latency is paid rarely
OPS = ("sum", "mean")
ABORT_PAUSE_SECONDS = 0.5  # between printing an uncaught error and ending the job (_abort_on_uncaught_exception)
# what a launcher sets in each process it starts: MPICH's hydra (PMI_SIZE), Open MPI (OMPI_*),
# PMIx-based launchers (PMIX_RANK, with the size in OMPI_COMM_WORLD_SIZE or asked of MPI)
LAUNCHER_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK")
# what the collectives did in this process: all_reduce calls and messages, bytes reduced, seconds
# communicating (from the host reads of the computed tensors to their write-back) and, of those,
# seconds inside MPI (waiting there for a slower process counts)
counters: dict[str, float] = {"all_reduce_calls": 0, "messages": 0, "bytes_reduced": 0, "seconds": 0.0,
                              "mpi_seconds": 0.0}

_communicator_found = False
_communicator: Any = None  # mpi4py's COMM_WORLD when launched with several processes, else None


def world() -> tuple[int, int]:
    """(rank of this process, number of processes): from MPI when launched by mpiexec with
    several processes, (0, 1) otherwise. The first call under mpiexec imports mpi4py and
    makes an uncaught exception end the whole job (this module's docstring).

    >>> world()
    (0, 1)
    """
    comm = _comm()
    return (0, 1) if comm is None else (comm.Get_rank(), comm.Get_size())


def launched_by_mpiexec() -> bool:
    """Whether an MPI launcher started this process (it sets PMI_SIZE, OMPI_COMM_WORLD_SIZE
    or PMIX_RANK in the environment).

    >>> launched_by_mpiexec() == any(name in os.environ for name in LAUNCHER_VARIABLES)
    True
    """
    return any(name in os.environ for name in LAUNCHER_VARIABLES)


def all_reduce(tensors: Sequence[Tensor], op: str = "mean") -> None:
    """Replace each tensor by its sum (op="sum") or mean (op="mean") over all processes, in
    place: a tensor that owns memory (a parameter) is written into it (Tensor.assign), a lazy
    one (a gradient) becomes a realized tensor holding the result. Every process must call it
    with tensors of the same shapes and dtypes in the same order. Tensors of one dtype travel
    together in buckets of up to BUCKET_BYTES; float16 travels as float32, and "mean" needs
    floating-point tensors. Call it outside a jit: it reads and writes host memory. With one
    process it only checks its arguments.

    >>> g = Tensor([1.0, 2.0]); all_reduce([g], "mean"); g.numpy()
    array([1., 2.], dtype=float32)
    """
    if op not in OPS:
        raise ValueError(f"all_reduce op must be one of {OPS}, got {op!r}")
    tensors = list(tensors)
    if op == "mean":
        inexact = [f"{t.dtype.name}{list(t.shape)}" for t in tensors if not t.dtype.is_float]
        if inexact:
            raise TypeError(f"all_reduce op='mean' needs floating-point tensors, got {', '.join(inexact)}; "
                            f"use op='sum' for integers")
    comm = _comm()
    if comm is None or not tensors:
        return
    from mpi4py import MPI

    from tinygradlike import runtime

    Tensor.realize(*tensors)  # one schedule for all of them, then plain reads
    runtime.synchronize()  # computing them (the backward pass) is not communicating
    start = time.perf_counter()
    hosts = [t.numpy() for t in tensors]
    for bucket in pack_buckets(hosts):
        flat = _pack(bucket, hosts)
        sent = time.perf_counter()
        comm.Allreduce(MPI.IN_PLACE, flat, op=MPI.SUM)
        counters["mpi_seconds"] += time.perf_counter() - sent
        if op == "mean":
            flat /= comm.Get_size()
        _unpack(flat, bucket, hosts)
        counters["messages"] += 1
        counters["bytes_reduced"] += flat.nbytes
    for t, values in zip(tensors, hosts):
        _write(t, values)
    counters["all_reduce_calls"] += 1
    counters["seconds"] += time.perf_counter() - start


def broadcast_parameters(model: Any) -> None:
    """Give every process rank 0's parameters and buffers (the model's state_dict), after
    check_same_shapes: call it once, after building the model and before the first step. With
    one process it does nothing.

    >>> layer = nn.Linear(2, 1); broadcast_parameters(layer); layer.weight.shape
    (1, 2)
    """
    comm = _comm()
    if comm is None:
        return
    check_same_shapes(model)
    start = time.perf_counter()
    tensors = list(model.state_dict().values())
    hosts = [t.numpy() for t in tensors]
    for bucket in pack_buckets(hosts):
        flat = _pack(bucket, hosts)
        comm.Bcast(flat, root=0)
        _unpack(flat, bucket, hosts)
    for t, values in zip(tensors, hosts):
        _write(t, values)
    counters["seconds"] += time.perf_counter() - start


def check_same_shapes(model: Any) -> None:
    """Raise a ValueError naming the first process and tensor whose name, shape or dtype
    differ from rank 0's, on every process alike (so all of them stop): a model built with
    different options on different ranks would otherwise fail inside a collective, or not at
    all. With one process there is nothing to compare.

    >>> check_same_shapes(nn.Linear(2, 1))
    """
    comm = _comm()
    if comm is None:
        return
    mine = [(name, t.shape, t.dtype.name) for name, t in model.state_dict().items()]
    everyone = comm.allgather(mine)
    problem = describe_mismatch(everyone)
    if problem:
        raise ValueError(f"the processes built different models: {problem}. Every rank must build the same "
                         f"model (the same command line and options)")


def describe_mismatch(described: list[list[tuple[str, tuple[int, ...], str]]]) -> str:
    """The first difference between rank 0's (name, shape, dtype) list and another rank's, in
    words; "" when all agree.

    >>> describe_mismatch([[("w", (2, 3), "float32")], [("w", (2, 4), "float32")]])
    "rank 1 has parameter 'w' of shape (2, 4) float32 where rank 0 has (2, 3) float32"
    """
    reference = {name: (shape, dtype) for name, shape, dtype in described[0]}
    for rank, entries in enumerate(described[1:], start=1):
        theirs = {name: (tuple(shape), dtype) for name, shape, dtype in entries}
        for name, (shape, dtype) in theirs.items():
            if name not in reference:
                return f"rank {rank} has parameter {name!r}, which rank 0 lacks"
            want_shape, want_dtype = reference[name]
            if (tuple(want_shape), want_dtype) != (shape, dtype):
                return (f"rank {rank} has parameter {name!r} of shape {shape} {dtype} "
                        f"where rank 0 has {tuple(want_shape)} {want_dtype}")
        for name in reference:
            if name not in theirs:
                return f"rank {rank} lacks parameter {name!r}, which rank 0 has"
    return ""


def pack_buckets(arrays: Sequence[np.ndarray], limit: int = BUCKET_BYTES) -> list[list[int]]:
    """Indices of `arrays` grouped into buckets, in order: one dtype on the wire per bucket
    (float16 travels as float32), each bucket at most `limit` bytes unless a single array is
    larger (it then travels alone).

    >>> pack_buckets([np.zeros(3, np.float32), np.zeros(2, np.int32), np.zeros(1, np.float32)])
    [[0, 2], [1]]
    >>> pack_buckets([np.zeros(3, np.float32)] * 3, limit=24)
    [[0, 1], [2]]
    """
    open_bucket: dict[np.dtype, int] = {}  # wire dtype -> index of the bucket being filled
    buckets: list[list[int]] = []
    sizes: list[int] = []
    for i, a in enumerate(arrays):
        wire = _wire_dtype(a.dtype)
        nbytes = a.size * wire.itemsize
        k = open_bucket.get(wire)
        if k is None or sizes[k] + nbytes > limit:
            open_bucket[wire] = k = len(buckets)
            buckets.append([])
            sizes.append(0)
        buckets[k].append(i)
        sizes[k] += nbytes
    return buckets


def _comm() -> Any:
    """COMM_WORLD when launched by mpiexec with several processes, else None; found once."""
    global _communicator_found, _communicator
    if not _communicator_found:
        _communicator = _connect() if launched_by_mpiexec() else None
        _communicator_found = True
    return _communicator


def _connect() -> Any:
    try:
        from mpi4py import MPI
    except ImportError as e:
        size = os.environ.get("PMI_SIZE") or os.environ.get("OMPI_COMM_WORLD_SIZE") or "1"
        if size == "1":
            return None
        # every process would train alone on the whole data and write the same files: refuse
        raise RuntimeError(f"launched by mpiexec with {size} processes, but mpi4py is not installed: "
                           f"pip install mpi4py mpich (or pip install -e '.[dev]')") from e
    comm = MPI.COMM_WORLD
    if comm.Get_size() == 1:
        return None
    _abort_on_uncaught_exception(comm)
    return comm


def _abort_on_uncaught_exception(comm: Any) -> None:
    """An uncaught exception prints as usual, then ends every process of the job (MPI Abort):
    the other ranks may be waiting in a collective that this one will never join."""
    previous = sys.excepthook

    def abort(kind, value, traceback) -> None:
        previous(kind, value, traceback)
        sys.stdout.flush()
        sys.stderr.flush()
        # mpiexec forwards our output through a pipe and stops reading it once Abort reaches it:
        # without a pause the traceback was lost in 1 run of 6 here
        time.sleep(ABORT_PAUSE_SECONDS)
        comm.Abort(1)

    sys.excepthook = abort


def _wire_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype an array travels as: its own, except float16 (MPI has no standard half type)
    and bool (summed as counts would overflow a byte)."""
    if dtype == np.float16:
        return np.dtype(np.float32)
    if dtype == np.bool_:
        return np.dtype(np.int32)
    return np.dtype(dtype)


def _pack(bucket: list[int], hosts: list[np.ndarray]) -> np.ndarray:
    """One flat array of the bucket's arrays, in the dtype they travel as."""
    wire = _wire_dtype(hosts[bucket[0]].dtype)
    if len(bucket) == 1 and hosts[bucket[0]].dtype == wire:
        return hosts[bucket[0]].reshape(-1)  # a large tensor travels alone: no copy (hosts are ours)
    return np.concatenate([hosts[i].ravel().astype(wire, copy=False) for i in bucket])


def _unpack(flat: np.ndarray, bucket: list[int], hosts: list[np.ndarray]) -> None:
    """Cut a reduced bucket back into its arrays, each in its own shape and dtype."""
    at = 0
    for i in bucket:
        n = hosts[i].size
        hosts[i] = flat[at:at + n].reshape(hosts[i].shape).astype(hosts[i].dtype, copy=False)
        at += n


def _write(t: Tensor, values: np.ndarray) -> None:
    """Make `t` hold `values`: in its own memory when it has some (a jit recording or an
    optimizer that reads it keeps reading it), else as new memory."""
    from tinygradlike.graph import Op, buffer_node
    from tinygradlike.runtime import Buffer

    fresh = buffer_node(Buffer.from_numpy(values), t.dtype, t.shape)
    if t.node.op is Op.BUFFER and t.node.buffer is not None:
        t.assign(Tensor(fresh))
    else:
        t.node = buffer_node(fresh.buffer, t.dtype, t.shape, requires_grad=t.node.requires_grad)
