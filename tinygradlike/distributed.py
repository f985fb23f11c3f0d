"""Data parallelism over MPI: several processes train one model, each on its slice of every batch.

Launched by `mpiexec -n 2 python -m tinygradlike`, every process runs the same program; `world()`
tells each its rank and the number of processes. Before the first step `broadcast_parameters`
gives every process rank 0's weights (after checking that all of them built the same model);
after each backward pass `all_reduce` averages the gradients, so every process takes the same
optimizer step and the weights stay equal everywhere.

The transport is MPI's own (mpi4py's buffer `Allreduce`, `Bcast`, `allgather`): no sockets of
ours. Tensors travel through host memory: the small ones packed into a few buckets of one dtype
(BUCKET_BYTES at most) instead of one message per parameter, because every message pays MPI's
latency; a large one (ALONE_BYTES or more) alone, and on a CPU device straight from its own
memory, mapped. `all_reduce_replicas` adds the devices of this process (parallel.DataParallel):
their copies are summed on the host first. Called plainly, these wait until every device has
computed what it was given; parallel.DataParallel instead hands over, for each bucket, an
OpenCL marker after its last gradient, so a bucket is reduced while the backward pass still
computes the ones after it.

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
from contextlib import ExitStack
from typing import Any, Sequence

import numpy as np

from tinygradlike.tensor import Tensor

BUCKET_BYTES = 4 << 20  # per message: large enough that MPI's per-message latency is paid rarely
# a tensor this large travels alone: it needs no packing, and on a CPU device it is reduced in
# its own memory, where it lies (no copy to a bucket and back)
ALONE_BYTES = 1 << 20
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
    place: a tensor that owns memory (a parameter, a jit's output) is written into it, a lazy
    one (a gradient) becomes a realized tensor holding the result. Every process must call it
    with tensors of the same shapes and dtypes in the same order. Tensors of one dtype travel
    together in buckets of up to BUCKET_BYTES; float16 travels as float32, and "mean" needs
    floating-point tensors. Call it outside a jit: it reads and writes host memory. With one
    process it only checks its arguments.

    >>> g = Tensor([1.0, 2.0]); all_reduce([g], "mean"); g.numpy()
    array([1., 2.], dtype=float32)
    """
    all_reduce_replicas([tensors], op)


def all_reduce_replicas(replicas: Sequence[Sequence[Tensor]], op: str = "mean") -> None:
    """all_reduce over the devices of this process too: replicas[d] holds device d's copies of
    the same tensors (same shapes and dtypes, in the same order), and each of them becomes the
    sum (or mean) over every device of every process. The devices are read at the same time,
    summed on the host, reduced across processes in buckets, and written back to each device.

    >>> a, b = Tensor([1.0, 2.0]), Tensor([3.0, 6.0])  # as if on two devices
    >>> all_reduce_replicas([[a], [b]], "mean"); a.numpy(), b.numpy()
    (array([2., 4.], dtype=float32), array([2., 4.], dtype=float32))
    """
    _exchange("all_reduce", replicas, op)


def _exchange(kind: str, replicas: Sequence[Sequence[Tensor]], op: str, ready: list[list[Any]] | None = None) -> None:
    """A collective over every device's copies of the same tensors, through host memory:
    "all_reduce", or "broadcast" (rank 0's first device's values reach every other device of
    every process). Bucket by bucket: read from every device (through its transfer queue),
    summed, reduced across processes, written back. ready (parallel.DataParallel, during the
    backward pass): ready[k][d] an OpenCL event after which bucket k's tensors on device d are
    computed; each bucket's reads then wait for their event only, so the buckets of the last
    layers are reduced while the device still computes the first layers' gradients. Without
    it every device first finishes all it was given."""
    if op not in OPS:
        raise ValueError(f"all_reduce op must be one of {OPS}, got {op!r}")
    groups = [list(g) for g in replicas]
    first = groups[0] if groups else []
    if op == "mean":
        inexact = [f"{t.dtype.name}{list(t.shape)}" for t in first if not t.dtype.is_float]
        if inexact:
            raise TypeError(f"all_reduce op='mean' needs floating-point tensors, got {', '.join(inexact)}; "
                            f"use op='sum' for integers")
    for d, group in enumerate(groups[1:], start=1):
        theirs, ours = [(t.shape, t.dtype) for t in group], [(t.shape, t.dtype) for t in first]
        if theirs != ours:
            raise ValueError(f"replica {d} has tensors {[(s, t.name) for s, t in theirs]} where replica 0 has "
                             f"{[(s, t.name) for s, t in ours]}: every replica must hold the same tensors")
    comm = _comm()
    size = 1 if comm is None else comm.Get_size()
    if not first or (size == 1 and len(groups) < 2):
        return  # one copy of everything: nothing to exchange
    from tinygradlike import runtime

    rank = 0 if comm is None else comm.Get_rank()
    # which copies this process reads into the buckets and which it overwrites with the result
    reads = [rank == 0] + [False] * (len(groups) - 1) if kind == "broadcast" else [True] * len(groups)
    writes = [rank != 0] + [True] * (len(groups) - 1) if kind == "broadcast" else [True] * len(groups)
    devices = []
    for group in groups:
        devices.append(_device_of(group))
        if ready is None:
            with runtime.on_device(devices[-1]):
                Tensor.realize(*group)  # one schedule for all of them, then plain reads
    if ready is None:
        runtime.synchronize()  # computing them (the backward pass) is not communicating
    start = time.perf_counter()
    staging = _staging_for(first, len(groups))
    transfer = _Transfer(groups, devices, staging, reads, writes, ready)
    for k in range(len(staging.buckets)):
        flat = transfer.gather(k)  # this bucket's values of every device, summed
        if comm is not None:
            from mpi4py import MPI

            sent = time.perf_counter()
            if kind == "all_reduce":
                comm.Allreduce(MPI.IN_PLACE, flat, op=MPI.SUM)
            else:
                comm.Bcast(flat, root=0)
            counters["mpi_seconds"] += time.perf_counter() - sent
            counters["messages"] += 1
            counters["bytes_reduced"] += flat.nbytes
        if op == "mean":
            flat /= len(groups) * size
        transfer.scatter(k)
    transfer.finish()
    counters["all_reduce_calls"] += 1
    # waiting for the backward pass to compute a bucket is not communicating
    counters["seconds"] += time.perf_counter() - start - transfer.computing_seconds


class _Transfer:
    """The host side of one _exchange: reads from the devices into the staging buckets (or,
    for a large tensor alone in its bucket on a CPU device, whose memory is host memory, a
    map of the tensor's own memory: reduced where it lies, no copy), and writes back. All of
    it goes through each device's transfer queue; finish() waits for the writes, so the
    staging arrays are free again when _exchange returns."""

    def __init__(self, groups: list[list[Tensor]], devices: list[Any], staging: _Staging, reads: list[bool],
                 writes: list[bool], ready: list[list[Any]] | None):
        import pyopencl as cl

        self.groups, self.devices, self.staging, self.writes = groups, devices, staging, writes
        self.overlapped = ready is not None
        self.computing_seconds = 0.0  # waiting, with `ready`, for the devices to compute a bucket
        self.queues = [device.transfer_queue for device in devices]
        self.in_place = {k for k in staging.alone if len(groups) == 1 and devices[0].is_cpu
                         and _owns_memory(groups[0][staging.buckets[k][0]])}
        # memory that is overwritten is claimed first (Tensor._claim_memory): where that kept old
        # values aside (a device copy on the kernel queue), the transfers wait for a marker after it
        self.after_keeps: list[list[Any]] = [[] for _ in groups]
        for d, group in enumerate(groups):
            if writes[d]:
                kept = False
                for t in group:
                    if _owns_memory(t):
                        old = t.node
                        memory = t._claim_memory()
                        kept = kept or old.buffer is not memory
                if kept:
                    self.after_keeps[d] = [cl.enqueue_marker(devices[d].queue)]
        self.events: list[list[Any]] = []  # per bucket: what gather waits for
        self.late: list[list[tuple[int, int]]] = []  # per bucket: (device, tensor) read by Tensor.numpy
        self.mapped: dict[int, np.ndarray] = {}
        self.keep_alive: list[np.ndarray] = []
        for k, bucket in enumerate(staging.buckets):
            events, late = [], []
            for d, group in enumerate(groups):
                wait = ([ready[k][d]] if ready is not None else []) + self.after_keeps[d] or None
                if k in self.in_place:
                    if reads[d] or writes[d]:
                        t = group[bucket[0]]
                        flags = cl.map_flags.READ | cl.map_flags.WRITE
                        array, event = cl.enqueue_map_buffer(self.queues[d], t.node.buffer.cl, flags, 0,
                                                             (staging.flats[k].size,), staging.flats[k].dtype,
                                                             wait_for=wait, is_blocking=False)
                        self.mapped[k] = array
                        events.append(event)
                    continue
                if not reads[d]:
                    continue
                flats = staging.flats if d == 0 else staging.extra[d - 1]
                for i in bucket:
                    t, out = group[i], staging.view(flats, i)
                    if not out.size:
                        continue  # OpenCL refuses empty copies
                    if _owns_memory(t) and np.dtype(t.dtype.np) == out.dtype:
                        events.append(cl.enqueue_copy(self.queues[d], out, t.node.buffer.cl, is_blocking=False,
                                                      wait_for=wait))
                        _count("bytes_copied_out", out.nbytes)
                    else:
                        late.append((d, i))
            self.events.append(events)
            self.late.append(late)
        for queue in self.queues:
            queue.flush()

    def gather(self, k: int) -> np.ndarray:
        """Bucket k's values, summed over the devices, once every device has computed them."""
        from tinygradlike import runtime

        start = time.perf_counter()
        for event in self.events[k]:  # one by one: the devices may have contexts of their own
            event.wait()
        if self.overlapped:  # the reads took little of it: the wait was for the backward pass
            self.computing_seconds += time.perf_counter() - start
        staging = self.staging
        for d, i in self.late[k]:
            with runtime.on_device(self.devices[d]):  # a view or a lazy tensor is computed on its device
                values = self.groups[d][i].numpy()
            staging.view(staging.flats if d == 0 else staging.extra[d - 1], i)[:] = values.reshape(-1)
        flat = self.mapped.get(k, staging.flats[k])
        for extra in staging.extra:
            flat += extra[k]
        return flat

    def scatter(self, k: int) -> None:
        """Write bucket k's result into every copy that takes it."""
        import pyopencl as cl

        from tinygradlike.graph import buffer_node
        from tinygradlike.runtime import Buffer

        if k in self.mapped:
            self.mapped.pop(k).base.release(self.queues[0])
            return
        staging = self.staging
        for d, group in enumerate(self.groups):
            if not self.writes[d]:
                continue
            for i in staging.buckets[k]:
                t = group[i]
                values = staging.view(staging.flats, i).reshape(t.shape)
                if not values.size:
                    continue
                if values.dtype != np.dtype(t.dtype.np):
                    values = values.astype(t.dtype.np)
                    self.keep_alive.append(values)
                if _owns_memory(t):
                    cl.enqueue_copy(self.queues[d], t.node.buffer.cl, values, is_blocking=False,
                                    wait_for=self.after_keeps[d] or None)
                    _count("bytes_copied_in", values.nbytes)
                else:
                    fresh = Buffer.from_numpy(values, self.devices[d])
                    t.node = buffer_node(fresh, t.dtype, t.shape, requires_grad=t.node.requires_grad)

    def finish(self) -> None:
        for queue in self.queues:
            queue.finish()


def _count(name: str, n: int) -> None:
    """runtime.count, imported when first needed."""
    from tinygradlike import runtime

    runtime.count(name, n)


def broadcast_parameters(model: Any) -> None:
    """Give every process rank 0's parameters and buffers (the model's state_dict), after
    check_same_shapes: call it once, after building the model and before the first step. With
    one process it does nothing.

    >>> layer = nn.Linear(2, 1); broadcast_parameters(layer); layer.weight.shape
    (1, 2)
    """
    if _comm() is None:
        return
    check_same_shapes(model)
    _exchange("broadcast", [list(model.state_dict().values())], "sum")
    from tinygradlike import runtime

    runtime.synchronize()  # every device has its copy before the first step


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
    (float16 travels as float32), each bucket at most `limit` bytes. An array of ALONE_BYTES
    or more travels alone, and the arrays after it start a new bucket: a bucket never waits
    for an array that comes after a large one (arrays come in the order backward computes
    them, and a bucket is reduced once all of it is computed).

    >>> pack_buckets([np.zeros(3, np.float32), np.zeros(2, np.int32), np.zeros(1, np.float32)])
    [[0, 2], [1]]
    >>> pack_buckets([np.zeros(3, np.float32)] * 3, limit=24)
    [[0, 1], [2]]
    >>> pack_buckets([np.zeros(3, np.float32), np.zeros(1 << 18, np.float32), np.zeros(2, np.float32)])
    [[0], [1], [2]]
    """
    open_bucket: dict[np.dtype, int] = {}  # wire dtype -> index of the bucket being filled
    buckets: list[list[int]] = []
    sizes: list[int] = []
    for i, a in enumerate(arrays):
        wire = _wire_dtype(a.dtype)
        nbytes = a.size * wire.itemsize
        k = open_bucket.get(wire)
        if nbytes >= min(ALONE_BYTES, limit):
            k = len(buckets)  # its own bucket, which stays closed to the others
            buckets.append([])
            sizes.append(0)
            open_bucket.pop(wire, None)
        elif k is None or sizes[k] + nbytes > limit:
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


class _Staging:
    """Host memory for all_reduce of one list of shapes and dtypes, kept from call to call (new
    arrays would cost page faults on every step): a flat array per bucket in its wire dtype,
    where each tensor's slice is read from the device, reduced and written back from, and one
    more set per further device of this process (summed into the first)."""

    def __init__(self, tensors: list[Tensor], devices: int):
        # arrays of each tensor's dtype and size that take no memory (a zero-stride view)
        shaped = [np.broadcast_to(np.zeros((), t.dtype.np), t.shape) for t in tensors]
        sizes = [a.size for a in shaped]
        self.buckets = pack_buckets(shaped)
        self.slots: list[tuple[int, int, int]] = [(0, 0, 0)] * len(tensors)  # bucket, offset, size
        lengths = []
        for k, bucket in enumerate(self.buckets):
            at = 0
            for i in bucket:
                self.slots[i] = (k, at, sizes[i])
                at += sizes[i]
            lengths.append((at, _wire_dtype(shaped[bucket[0]].dtype)))
        self.flats = [np.zeros(n, wire) for n, wire in lengths]
        # buckets of one tensor that travels in its own dtype (the large ones)
        self.alone = [k for k, bucket in enumerate(self.buckets)
                      if len(bucket) == 1 and shaped[bucket[0]].dtype == self.flats[k].dtype]
        self.extra = [[np.zeros(n, wire) for n, wire in lengths] for _ in range(devices - 1)]

    def view(self, flats: list[np.ndarray], i: int) -> np.ndarray:
        k, at, n = self.slots[i]
        return flats[k][at:at + n]


_stagings: dict[tuple, _Staging] = {}


def _staging_for(tensors: list[Tensor], devices: int) -> _Staging:
    key = (devices, *((tuple(t.shape), t.dtype.name) for t in tensors))
    staging = _stagings.get(key)
    if staging is None:
        if len(_stagings) >= 8:  # a few kinds of calls per program (gradients, metrics): bounded
            _stagings.clear()
        staging = _stagings[key] = _Staging(tensors, devices)
    return staging


def _device_of(group: list[Tensor]) -> Any:
    """The device whose memory the group's tensors are on (lazy ones: their inputs'); every
    tensor of a group must be on one device."""
    from tinygradlike import runtime
    from tinygradlike.graph import memory_under

    found = {id(b.device): b.device for t in group for b in memory_under(t.node)}
    if len(found) > 1:
        raise ValueError(f"all_reduce needs each replica's tensors on one device, got them on "
                         f"{sorted(d.index for d in found.values())}")
    return next(iter(found.values())) if found else runtime.get_device()


def _owns_memory(t: Tensor) -> bool:
    from tinygradlike.graph import Op

    return t.node.op is Op.BUFFER and t.node.buffer is not None
