"""The runtime: with devices.py (which devices exist, which to use), the only code that touches
pyopencl.

It opens the chosen OpenCL device, turns kernel source into cached programs, owns device memory
(with a pool so a training loop reuses buffers), and launches kernels without waiting for them.

Environment variables (read lazily, except TGL_DEBUG, read at import):
- TGL_DEVICE: "P:D" (platform:device, as `python -m tinygradlike devices` lists them) or a
  case-insensitive substring of "platform name, platform version, device name, kind"
  ("debian", "3.0-rc2", "nvidia", "gpu", "cpu"). Default: a GPU, else a system CPU OpenCL,
  else the PyPI PoCL (`pocl-binary-distribution`).
- TGL_CACHE_DIR: where compiled program binaries are kept (default ~/.cache/tinygradlike, or
  $XDG_CACHE_HOME/tinygradlike). "" or "0" turns the disk cache off. Each file says what it
  was built from and carries its binary's sha256; a file that does not match is deleted and
  rebuilt, never handed to OpenCL.
- TGL_DEBUG: 1 prints a line per compile (a build from source, a disk-cache load, the code
  generation at a first launch); 2 also one line per launch with its time, GFLOPS and GB/s (it
  waits for every kernel, so timings are real and the run is slower); 3 also each new schedule,
  one line per kernel: its name, kind, the ops fused into it, its outputs and the user's line
  that made its result (noting lines costs time while on: tinygradlike.sites); 4 also the
  source of each program when it is built or loaded, as the compiler sees it (#if blocks
  resolved: compiled_source). Everything goes to stderr. runtime.set_debug changes it.

Ordering: every device has one in-order queue, so commands run in the order they were enqueued.
That is what makes it safe to hand a freed buffer's memory to a new Buffer while old kernels
that read it may still be queued: anything done to the new Buffer is enqueued after them.
"""
from __future__ import annotations

import functools
import hashlib
import os
import sys
import tempfile
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np
import pyopencl as cl

if TYPE_CHECKING:  # profiling imports runtime: the origin type is only named here
    from tinygradlike.profiling import KernelOrigin

from tinygradlike import sites
from tinygradlike.devices import INSTALL_HELP, choose_device, device_environment, enumerate_devices, summarize
from tinygradlike.preprocess import compiled_source

CACHE_FORMAT = "tgl-program-cache-v2"  # bump to invalidate every binary on disk
# Every cache file is MAGIC, then the sha256 of what it was built from (CACHE_FORMAT, device,
# options, source), then the sha256 of the binary, then the binary. PoCL crashes the process on
# a truncated binary, so nothing reaches OpenCL before all three are checked.
_CACHE_MAGIC = b"TGLPROG2"

# ---------------------------------------------------------------- debug level and counters

def _read_debug_env() -> int:
    raw = os.environ.get("TGL_DEBUG", "") or "0"
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"TGL_DEBUG must be an integer (0 to 4), got {raw!r}") from None


_DEBUG = _read_debug_env()
SCHEDULE_LEVEL = 3  # the TGL_DEBUG level from which every new schedule is printed

_COUNTER_NAMES = (
    "kernels_launched", "kernels_compiled", "compile_seconds", "first_launch_seconds",
    "cache_load_seconds", "cache_hits_memory", "cache_hits_disk", "cache_entries_rejected",
    "buffers_allocated", "bytes_allocated", "buffers_reused", "bytes_copied_in", "bytes_copied_out",
    "bytes_copied_on_device", "synchronizations", "schedules_built", "schedules_reused", "backward_graphs_derived",
    "backward_graphs_copied", "update_graphs_built", "update_graphs_copied", "composite_graphs_built",
    "composite_graphs_copied",
)
_counters: dict[str, float] = dict.fromkeys(_COUNTER_NAMES, 0)
_live_buffers = 0
_threads_count = threading.Lock()


def stats() -> dict:
    """Counters since the last reset_stats(): kernels_launched, kernels_compiled (builds from
    source only), compile_seconds, first_launch_seconds, cache_load_seconds, cache_hits_memory,
    cache_hits_disk, cache_entries_rejected (corrupt or foreign disk cache files, deleted and rebuilt),
    buffers_allocated and bytes_allocated (real device allocations, pool hits excluded),
    buffers_reused (pool hits), bytes_copied_in/out (host to device and back),
    bytes_copied_on_device (Buffer.copy_from), synchronizations, schedules_built (graphs
    grouped, rendered and compiled) and schedules_reused (graphs whose structure had a
    schedule already: no grouping, rendering or program lookup), backward_graphs_derived
    and backward_graphs_copied (backward passes built by the gradient rules, or copied from
    one of the same structure: gradients.py), update_graphs_built and update_graphs_copied
    (the same for optimizer steps), composite_graphs_built and composite_graphs_copied (the
    same for library composites such as cross_entropy: tensor.replayable); plus live_buffers
    (a gauge, never reset).

    compile_seconds is compiling: the builds from source plus first_launch_seconds. PoCL
    generates the machine code at the first launch of a kernel for each local size, not in the
    build. So the first launch of each (kernel, local size) waits for the queue to drain and
    for the kernel to finish, and that wall time (one run of the kernel included) counts as
    compile time. Only those first launches wait; they are not counted in synchronizations.
    cache_load_seconds is the time spent loading programs from the disk cache (cache_hits_disk
    of them), kept apart: a warm start compiles nothing, however long its loads take. Programs
    built or loaded in parallel threads each add their own time, so both can exceed the wall
    time."""
    return {**_counters, "live_buffers": _live_buffers}


def count(name: str, n: int = 1) -> None:
    """Add n to one of the stats() counters (for the layers above the runtime)."""
    _counters[name] += n


def reset_stats() -> None:
    """Zero every counter (live_buffers is a gauge and is left alone)."""
    for name in _COUNTER_NAMES:
        _counters[name] = 0


def set_debug(level: int) -> None:
    """Set the debug level (see the module docstring). Levels >= 2 need a profiling queue, so
    the open devices drain their queue and switch to one; levels >= 3 note the user's line of
    every tensor made from now on (sites.watch)."""
    global _DEBUG
    _DEBUG = int(level)
    _follow_debug_level()
    for device in _opened.values():
        device.use_profiling(_DEBUG >= 2)


_debug_watches = False  # whether the debug level holds one of sites' watchers


def _follow_debug_level() -> None:
    global _debug_watches
    wanted = _DEBUG >= SCHEDULE_LEVEL
    if wanted != _debug_watches:
        (sites.watch if wanted else sites.unwatch)()
        _debug_watches = wanted


def debug_level() -> int:
    """The current TGL_DEBUG level."""
    return _DEBUG


def _log(message: str) -> None:
    print(message, file=sys.stderr)


_follow_debug_level()  # TGL_DEBUG=3 or more from the environment


def list_devices() -> list[dict]:
    """One dict per OpenCL device: index "P:D", platform_name, platform_version, name, kind,
    driver_version, fp64, is_pip_pocl, and default (True for the one get_device() uses or would
    pick under the current TGL_DEVICE)."""
    infos = [info for info, _ in enumerate_devices()]
    selected = _selected_index(infos)
    return [{**info, "default": info["index"] == selected} for info in infos]


def _selected_index(infos: list[dict]) -> str | None:
    if _default is not None:
        return _default.index
    try:
        return choose_device(infos, *device_environment())
    except (RuntimeError, ValueError):
        return None


def describe_devices() -> str:
    """Human-readable device list for `python -m tinygradlike devices`; '*' marks the selected one."""
    devices = list_devices()
    if not devices:
        return INSTALL_HELP
    lines = ["OpenCL devices ('*' = selected; choose with TGL_DEVICE=P:D or a name substring):"]
    for info in devices:
        mark = "*" if info["default"] else " "
        fp64 = "  fp64" if info["fp64"] else ""
        lines.append(f"{mark} {summarize(info)}{fp64}")
    if not any(info["default"] for info in devices):
        try:
            choose_device(devices, *device_environment())
        except ValueError as e:
            lines.append(f"(none selected: {str(e).splitlines()[0]})")
    if not any(info["kind"] == "gpu" or not info["is_pip_pocl"] for info in devices):
        lines.append("tip: `apt-get install pocl-opencl-icd` (Debian's PoCL) is usually 1.5-2.5x faster than the pip PoCL")
    return "\n".join(lines)


# ---------------------------------------------------------------- the device

class Device:
    """One OpenCL device with its own context, in-order queue and buffer pool."""

    def __init__(self, info: dict, cl_device: cl.Device):
        platform = cl_device.platform
        self.index: str = info["index"]
        self.cl_device = cl_device
        self.name: str = info["name"]
        self.platform_name: str = platform.name
        self.platform_version: str = platform.version
        self.driver_version: str = cl_device.driver_version
        self.kind: str = info["kind"]
        self.is_gpu = self.kind == "gpu"
        self.is_cpu = self.kind == "cpu"
        self.is_pip_pocl: bool = info["is_pip_pocl"]
        self.has_fp64: bool = info["fp64"]
        self.compute_units: int = cl_device.max_compute_units
        self.max_work_group_size: int = cl_device.max_work_group_size
        self.local_mem_size: int = cl_device.local_mem_size
        self.preferred_vector_width_float: int = cl_device.preferred_vector_width_float
        self.global_mem_size: int = cl_device.global_mem_size
        self.max_mem_alloc_size: int = cl_device.max_mem_alloc_size
        self.live_bytes = 0  # held by live Buffers; with pool.pooled_bytes, what we hold in all
        # Binaries are only valid for the same device and compiler, so all of these go in the key.
        self.cache_key = "|".join((self.platform_name, self.platform_version, self.name,
                                   cl_device.version, self.driver_version))
        self.ctx = cl.Context([cl_device])
        self.profiling = False
        self.queue = self._make_queue(profiling=_DEBUG >= 2)
        self.pool = BufferPool(limit_bytes=min(1 << 30, self.global_mem_size // 4))
        self.pending_copies: list[tuple[cl.Event, np.ndarray]] = []

    def _make_queue(self, profiling: bool) -> cl.CommandQueue:
        self.profiling = profiling
        props = cl.command_queue_properties.PROFILING_ENABLE if profiling else 0
        return cl.CommandQueue(self.ctx, properties=props)

    def use_profiling(self, profiling: bool) -> None:
        """Switch to a queue with or without profiling; drains the old one first, which keeps
        the in-order promise across the switch."""
        if profiling != self.profiling:
            self.synchronize()
            self.queue = self._make_queue(profiling)

    @functools.cached_property
    def transfer_queue(self) -> cl.CommandQueue:
        """A second in-order queue for host transfers that may run beside the kernels of
        `queue`, ordered with them only by events (distributed reads gradients through it while
        the backward pass still runs). Made at first use."""
        return cl.CommandQueue(self.ctx)

    def synchronize(self) -> None:
        """Wait until everything enqueued on this device has finished."""
        self.queue.finish()
        if "transfer_queue" in self.__dict__:
            self.transfer_queue.finish()
        self.pending_copies.clear()
        _counters["synchronizations"] += 1

    def remember_copy(self, event: cl.Event, host: np.ndarray) -> None:
        """Keep a host array alive until its non-blocking upload finishes."""
        self.pending_copies.append((event, host))
        if len(self.pending_copies) > 64:  # a loop that never reads back must not grow this forever
            done = cl.command_execution_status.COMPLETE
            self.pending_copies = [(e, h) for e, h in self.pending_copies if e.command_execution_status != done]

    def __repr__(self) -> str:
        return f"Device({self.index} {self.kind} {self.name!r} on {self.platform_version.split('  ')[0]!r})"


_default: Device | None = None
_opened: dict[str, Device] = {}


def open_device(spec: str | None = None, pyopencl_ctx: str | None = None) -> Device:
    """The Device that spec selects (same rules as TGL_DEVICE; without one, pyopencl_ctx as
    PYOPENCL_CTX), opened once per process."""
    found = enumerate_devices()
    index = choose_device([info for info, _ in found], spec, pyopencl_ctx)
    if index not in _opened:
        info, cl_device = next((info, d) for info, d in found if info["index"] == index)
        try:
            _opened[index] = Device(info, cl_device)
        except cl.Error as e:  # a driver can list a device it then fails to open
            others = "\n".join(f"  {summarize(i)}" for i, _ in found if i["index"] != index) or "  (none)"
            raise RuntimeError(f"could not open OpenCL device {summarize(info)}: {e}\n"
                               f"Choose another with TGL_DEVICE=P:D; the others are:\n{others}") from e
    return _opened[index]


def get_device() -> Device:
    """The process-wide default device, chosen on first use from TGL_DEVICE, else PYOPENCL_CTX
    (as pyopencl reads it), else the preference."""
    global _default
    if _default is None:
        _default = open_device(*device_environment())
    return _default


def set_device(device: Device | str | None) -> Device:
    """Make another device the default (a Device, a TGL_DEVICE-style spec, or None for the
    preference). Buffers and kernels keep the device they were made on; do not mix them."""
    global _default
    _default = device if isinstance(device, Device) else open_device(device)
    return _default


@contextmanager
def on_device(device: Device | str | None) -> Iterator[Device]:
    """Make `device` (a Device or a TGL_DEVICE-style spec; None: the current default) the
    default inside the block, and restore the previous default after it: new tensors are made
    and computations run there, as under torch.cuda.device(i). Several devices of one process
    each take their part this way (parallel.DataParallel); the default is per process, not
    per thread.

    >>> with on_device(get_device()) as d: d is get_device()
    True
    """
    global _default
    previous = _default
    chosen = get_device() if device is None else set_device(device)
    try:
        yield chosen
    finally:
        _default = previous


def opened_devices() -> list[Device]:
    """The devices this process has opened (the default one, those open_device and set_device
    chose), in the order they were opened."""
    return list(_opened.values())


def synchronize() -> None:
    """Wait for every device that was used. The only other wait is Buffer.to_numpy."""
    for device in _opened.values():
        device.synchronize()


# ---------------------------------------------------------------- memory

class BufferPool:
    """Freed device allocations, keyed by size, handed to the next Buffer of the same size.
    Bounded by limit_bytes: past it, freed memory goes back to OpenCL instead."""

    def __init__(self, limit_bytes: int):
        self.limit_bytes = limit_bytes
        self.free: dict[int, list[cl.Buffer]] = {}
        self.pooled_bytes = 0
        self.hits = 0
        self.misses = 0

    def take(self, size: int) -> cl.Buffer | None:
        stack = self.free.get(size)
        if not stack:
            self.misses += 1
            return None
        self.hits += 1
        self.pooled_bytes -= size
        return stack.pop()

    def give(self, buffer: cl.Buffer, size: int) -> None:
        if self.pooled_bytes + size <= self.limit_bytes:
            self.free.setdefault(size, []).append(buffer)
            self.pooled_bytes += size

    def clear(self) -> None:
        self.free.clear()
        self.pooled_bytes = 0

    def stats(self) -> dict:
        return {"pooled_buffers": sum(map(len, self.free.values())), "pooled_bytes": self.pooled_bytes,
                "limit_bytes": self.limit_bytes, "hits": self.hits, "misses": self.misses}


class Buffer:
    """Device memory of nbytes bytes (0 is allowed). When the object dies its memory returns to
    the device's pool. `cl` is the pyopencl.Buffer to pass to kernels."""

    __slots__ = ("nbytes", "cl", "device", "_size")

    def __init__(self, nbytes: int, device: Device | None = None, _host: np.ndarray | None = None):
        if _host is not None:
            _refuse_upload_while_recording()
        if int(nbytes) < 0:
            raise ValueError(f"a Buffer needs nbytes >= 0, got {nbytes}")
        device = device or get_device()
        size = max(int(nbytes), 1)  # OpenCL rejects size-0 buffers
        pooled = device.pool.take(size)
        if pooled is not None and _host is not None and not device.is_gpu:
            # an upload on a CPU device gets new memory filled at creation (COPY_HOST_PTR, ~1 us
            # for a batch): PoCL takes ~40 us to enqueue a write into pooled memory. The pooled
            # block is released instead, so the pool does not grow. A GPU allocates slowly and
            # writes asynchronously, so there the pooled memory is written.
            pooled = None
        if pooled is not None:
            _counters["buffers_reused"] += 1
            self._hold(pooled, int(nbytes), size, device)
            if _host is not None:
                self.copyin(_host)
        else:
            self._hold(_allocate(device, size, _host), int(nbytes), size, device)

    def _hold(self, memory: cl.Buffer, nbytes: int, size: int, device: Device) -> None:
        """Take `memory` (size bytes, nbytes of them used) as this Buffer's, and count it live."""
        global _live_buffers
        self.cl, self.nbytes, self._size, self.device = memory, nbytes, size, device
        _live_buffers += 1
        device.live_bytes += size
        if _capture.commands is not None:
            _capture.commands.created.add(id(self))

    @classmethod
    def from_numpy(cls, arr: np.ndarray, device: Device | None = None) -> Buffer:
        """A new Buffer holding arr's bytes (C order). arr may be changed right after the call."""
        arr = np.ascontiguousarray(arr)
        return cls(arr.nbytes, device, _host=arr)

    @classmethod
    def zeros(cls, nbytes: int, device: Device | None = None) -> Buffer:
        """A new Buffer of nbytes zero bytes, filled on the device without waiting. No host data
        is involved, so it may be made while a jit records: like any new memory it is made once,
        not replayed."""
        buffer = cls(nbytes, device)
        cl.enqueue_fill_buffer(buffer.device.queue, buffer.cl, np.uint8(0), 0, buffer._size)
        if _capture.commands is not None:  # its zeros are not recorded: a replay must not trade them away
            _capture.commands.created.discard(id(buffer))
        return buffer

    def copyin(self, arr: np.ndarray) -> None:
        """Enqueue an upload of arr's bytes (C order) without waiting. The bytes are copied on
        the host first, so the caller may change arr right away."""
        _refuse_upload_while_recording()
        host = np.array(arr, order="C", copy=True)
        if host.nbytes != self.nbytes:
            raise ValueError(f"copyin of {host.nbytes} bytes ({host.dtype}{list(host.shape)}) into a Buffer of {self.nbytes} bytes")
        if host.nbytes == 0:
            return
        event = cl.enqueue_copy(self.device.queue, self.cl, host, is_blocking=False)
        self.device.remember_copy(event, host)
        _counters["bytes_copied_in"] += host.nbytes

    def copy_from(self, src: Buffer) -> None:
        """Enqueue a device-side copy of src's bytes into this buffer (same size, same device)."""
        if src.nbytes != self.nbytes:
            raise ValueError(f"copy_from a Buffer of {src.nbytes} bytes into one of {self.nbytes} bytes")
        if self.nbytes:
            cl.enqueue_copy(self.device.queue, self.cl, src.cl, byte_count=self.nbytes)
            _counters["bytes_copied_on_device"] += self.nbytes
        recording = _capture.commands
        if recording is not None:
            recording.append((None, self, src, False))

    def exchange(self, other: Buffer) -> None:
        """Swap the device storage of two Buffers of one size on one device: each object then
        holds the bytes the other held, and nothing is copied. Kernels read a Buffer's storage
        when they are enqueued, so commands enqueued before see the old storage."""
        if other.nbytes != self.nbytes or other.device is not self.device:
            raise ValueError(f"exchange needs two Buffers of one size on one device, got {self.nbytes} "
                             f"bytes on {self.device.index} and {other.nbytes} on {other.device.index}")
        self.cl, other.cl = other.cl, self.cl

    def to_numpy(self, dtype: Any, shape: tuple[int, ...]) -> np.ndarray:
        """A new host array read from this buffer. Waits for every command enqueued before it:
        this is the one place the runtime synchronizes by itself."""
        out = np.empty(shape, dtype=getattr(dtype, "np", dtype))
        if out.nbytes > self.nbytes:
            raise ValueError(f"to_numpy of {out.dtype}{list(out.shape)} needs {out.nbytes} bytes, the Buffer has {self.nbytes}")
        if out.nbytes:
            cl.enqueue_copy(self.device.queue, out, self.cl, is_blocking=True)
            self.device.pending_copies.clear()  # the in-order queue has finished everything before
            _counters["bytes_copied_out"] += out.nbytes
            _counters["synchronizations"] += 1
        return out

    def __del__(self) -> None:
        global _live_buffers
        try:
            buffer = self.cl
        except AttributeError:  # __init__ failed before allocating
            return
        try:
            _live_buffers -= 1
            self.device.live_bytes -= self._size
            self.device.pool.give(buffer, self._size)
        except Exception:  # interpreter shutdown: module globals may already be gone
            pass

    def __repr__(self) -> str:
        return f"Buffer({self.nbytes} bytes on {self.device.index})"


def _allocate(device: Device, size: int, host: np.ndarray | None) -> cl.Buffer:
    _check_fits(device, size)
    flags = cl.mem_flags.READ_WRITE
    try:
        if host is not None and host.nbytes == size:
            # Copied at creation: no queue command, no host array to keep alive.
            buffer = cl.Buffer(device.ctx, flags | cl.mem_flags.COPY_HOST_PTR, hostbuf=host)
            _counters["bytes_copied_in"] += size
        else:
            buffer = cl.Buffer(device.ctx, flags, size)
    except cl.Error as e:
        raise MemoryError(f"could not allocate {format_bytes(size)} on {device.index} {device.name} "
                          f"({format_bytes(device.live_bytes)} held by live buffers, "
                          f"{format_bytes(device.pool.pooled_bytes)} pooled): {e}") from e
    _counters["buffers_allocated"] += 1
    _counters["bytes_allocated"] += size
    return buffer


def _check_fits(device: Device, size: int) -> None:
    """MemoryError before OpenCL is asked for more than the device has: PoCL hands out more
    than global_mem_size, and the process is then killed when the memory is first touched."""
    fix = "use smaller tensors (a smaller batch or model), or choose a device with more memory with TGL_DEVICE."
    where = f"{format_bytes(size)} on {device.index} {device.name}"
    if size > min(device.max_mem_alloc_size, device.global_mem_size):
        raise MemoryError(f"cannot allocate {where}: one buffer may be at most "
                          f"{format_bytes(device.max_mem_alloc_size)} (max_mem_alloc_size) and the device has "
                          f"{format_bytes(device.global_mem_size)} (global_mem_size). To fix: {fix}")
    if device.live_bytes + device.pool.pooled_bytes + size > device.global_mem_size:
        device.pool.clear()  # pooled memory is ours to give back before giving up
    if device.live_bytes + size > device.global_mem_size:
        raise MemoryError(f"cannot allocate {where}: live buffers already hold {format_bytes(device.live_bytes)} "
                          f"of its {format_bytes(device.global_mem_size)} (global_mem_size). To fix: free tensors "
                          f"that are no longer needed (del them), {fix}")


def format_bytes(n: int) -> str:
    """A size for people: '4.0 TiB (4398046511104 bytes)', or '12 bytes'."""
    value, unit = float(n), "bytes"
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024 or unit == "PiB":
            break
        value /= 1024
    return f"{n} bytes" if unit == "bytes" else f"{value:.1f} {unit} ({n} bytes)"


# --- profiling (tinygradlike.profiling): while a profile() is open, every launch is added here
# as (kernel name, event, flops, bytes, origin, global size, local size)

_profile: list | None = None


# --- recording, for tinygradlike.jit ----------------------------------------------------------
# While a capture is open, every launch and device-side copy is appended to it as
# (launch, global_size, local_size, args) or (None, dst, src, None), where launch is the Kernel
# with the launch's flops, bytes and origin bound (so a replay shows in a profile as the
# original did); replay() enqueues them again, with some buffers swapped for others. Uploads cannot be replayed (the host data
# would be frozen), so they are refused while recording. A capture belongs to the thread that
# opened it: another thread's launches are not part of it, and its uploads are not refused.


class Commands(list):
    """What a capture recorded: the commands, and `created`, the ids of the Buffers made while
    it was open whose contents recorded commands write before anything reads them (a kernel's
    outputs, a copy's destination; not Buffer.zeros, whose fill is not recorded)."""

    def __init__(self):
        super().__init__()
        self.created: set[int] = set()


class _Capture(threading.local):
    commands: Commands | None = None  # the open capture of this thread (a class default per thread)


_capture = _Capture()


@contextmanager
def capture() -> Iterator[list]:
    """Record the launches and device copies this thread enqueues inside the block."""
    if _capture.commands is not None:
        raise RuntimeError("captures cannot nest: this thread is already capturing")
    _capture.commands = commands = Commands()
    try:
        yield commands
    finally:
        _capture.commands = None


def plain_launches() -> bool:
    """No jit recording, launch timing (TGL_DEBUG >= 2) or profile is on: launches need no
    bookkeeping beyond the count (Kernel.replay)."""
    return _capture.commands is None and _DEBUG < 2 and _profile is None


def capturing() -> bool:
    """Whether this thread has a capture open."""
    return _capture.commands is not None


def _refuse_upload_while_recording() -> None:
    if _capture.commands is not None:
        raise RuntimeError("host data was uploaded while a jit was capturing (a Tensor made from numpy, "
                           "a list or rand/randn inside the jitted function): a replay would reuse the "
                           "same data. Make such tensors outside and pass them in as arguments.")


class Replay:
    """One launch of a cached schedule, prepared so that replaying it is a few list operations
    and the two pyopencl calls (replay_launches): ~2 us a launch on PoCL, where the general
    path (Buffer(), Kernel.__call__) pays ~6 us of Python around them.

    outputs: (position, size, nbytes) of each node it writes (size: bytes allocated);
    reads: positions of the memory nodes it reads; tail: the arguments after those (scratch
    memory and scalars), ready for set_args. kernel None: empty results, nothing to launch."""

    __slots__ = ("kernel", "global_size", "local_size", "outputs", "reads", "tail", "_ready")

    def __init__(self, kernel: Kernel | None, global_size: tuple, local_size: tuple | None,
                 outputs: tuple, reads: tuple, tail: tuple):
        self.kernel, self.global_size, self.local_size = kernel, global_size, local_size
        self.outputs, self.reads = outputs, reads
        self.tail = tuple(a.cl if type(a) is Buffer else a for a in tail)
        self._ready = kernel is None

    def ready(self) -> bool:
        """Whether the launch can skip Kernel.__call__'s first-launch work (argument types,
        the timed first launch of its local size). Once true, true for good: a kernel's
        argument types and timed local sizes are only ever added."""
        if not self._ready:
            kernel = self.kernel
            self._ready = kernel._typed and self.local_size in kernel._timed_local_sizes and 0 not in self.global_size
        return self._ready


def replay_launches(replays: tuple, nodes: list, device: Device) -> None:
    """Launch a cached schedule's kernels (all ready(), and plain_launches()) on the memory of
    `nodes`, a graph walk of the same structure: each output gets pooled memory, set as its
    node's buffer, and each kernel reads its inputs' memory. A kernel that would read memory
    on another device raises ValueError before anything of it is launched."""
    global _live_buffers
    pool, queue = device.pool, device.queue
    free, new, enqueue = pool.free, Buffer.__new__, cl.enqueue_nd_range_kernel
    made = allocated = reused = launched = 0
    for replay in replays:
        args = []
        for position, size, nbytes in replay.outputs:
            stack = free.get(size)
            if stack:
                memory = stack.pop()
                pool.pooled_bytes -= size
                reused += 1
            else:
                memory = _allocate(device, size, None)
            buffer = new(Buffer)
            buffer.cl, buffer.nbytes, buffer._size, buffer.device = memory, nbytes, size, device
            _live_buffers += 1
            made += 1
            allocated += size
            device.live_bytes += size
            nodes[position].buffer = buffer
            args.append(memory)
        kernel = replay.kernel
        if kernel is None:
            continue
        for position in replay.reads:
            buffer = nodes[position].buffer
            if buffer.device is not device:
                raise ValueError(f"a computation reads a tensor {nodes[position].shape} on {buffer.device.index} "
                                 f"{buffer.device.name} but runs on {device.index} {device.name}: all its "
                                 f"inputs must be on the device that runs it (runtime.set_device); copy the "
                                 f"tensor over with t.to(device)")
            args.append(buffer.cl)
        kernel._cl.set_args(*args, *replay.tail)
        enqueue(queue, kernel._cl, replay.global_size, replay.local_size)
        launched += 1
    pool.hits += reused
    pool.misses += made - reused
    _counters["buffers_reused"] += reused
    _counters["kernels_launched"] += launched


def replay(commands: list, substitute: dict[int, Buffer], after: dict[int, Any] | None = None) -> None:
    """Enqueue recorded commands again; substitute maps id(recorded Buffer) -> Buffer to use.
    A copy command (None, destination, source, exchange) copies, or with exchange=True trades
    the two Buffers' storage instead (Buffer.exchange: no bytes move; jit marks the copies
    whose source nothing reads afterwards). after: {position: function}, each called right
    after the command at that position is enqueued."""
    for position, (kernel, a, b, c) in enumerate(commands):
        if kernel is None:
            if c:
                substitute.get(id(a), a).exchange(substitute.get(id(b), b))
            else:
                substitute.get(id(a), a).copy_from(substitute.get(id(b), b))
        else:
            kernel(a, b, *[substitute.get(id(x), x) if isinstance(x, Buffer) else x for x in c])
        if after:
            hook = after.get(position)
            if hook is not None:
                hook()


def live_buffers() -> int:
    """How many Buffer objects are alive (pooled memory does not count)."""
    return _live_buffers


def pool_stats(device: Device | None = None) -> dict:
    """pooled_buffers, pooled_bytes, limit_bytes, hits, misses of the device's pool."""
    return (device or get_device()).pool.stats()


def clear_pool(device: Device | None = None) -> None:
    """Give every pooled allocation back to OpenCL."""
    (device or get_device()).pool.clear()


# ---------------------------------------------------------------- programs and kernels

class CompileError(RuntimeError):
    """An OpenCL build failed. The message holds the compiler log and the numbered source, and
    ends with a hint when the log shows that the driver, not the source, is at fault."""

    def __init__(self, name: str, source: str, options: tuple[str, ...], log: str, device: Device):
        self.name, self.source, self.options, self.log = name, source, options, log
        self.hint = _driver_fault_hint(log, device)
        numbered = "\n".join(f"{i:4d} | {line}" for i, line in enumerate(source.splitlines(), 1))
        super().__init__(
            f"OpenCL build of kernel '{name}' failed on {device.name} ({device.platform_version.split('  ')[0]}), "
            f"options {list(options)}\n--- compiler log ---\n{log.strip()}\n--- source ---\n{numbered}"
            + (f"\n--- hint ---\n{self.hint}" if self.hint else ""))


def _driver_fault_hint(log: str, device: Device) -> str | None:
    """What to do when the build log shows a driver that cannot build any kernel at all."""
    if "unknown target CPU" in log:  # an LLVM older than the CPU (the pip PoCL's LLVM 14 on Zen 4)
        driver = f"{device.index} {device.platform_version.split('  ')[0]}"
        return (f"this OpenCL driver ({driver}) cannot build any kernel here: its LLVM does not know this CPU. "
                "Install Debian's PoCL (`apt-get install pocl-opencl-icd`) or another OpenCL driver, and "
                "choose it with TGL_DEVICE (`python -m tinygradlike devices` lists them).")
    return None


class Kernel:
    """A compiled kernel, callable to enqueue a launch."""

    __slots__ = ("name", "source", "device", "_cl", "_typed", "_timed_local_sizes")

    def __init__(self, name: str, source: str, device: Device, program: cl.Program):
        self.name, self.source, self.device = name, source, device
        self._typed = False
        self._timed_local_sizes: set = set()
        try:
            self._cl = cl.Kernel(program, name)
        except cl.Error:
            raise ValueError(f"no kernel named {name!r} in the program; it defines {program.kernel_names!r}") from None

    def __call__(self, global_size: tuple, local_size: tuple | None, *args: Any, flops: int = 0, nbytes: int = 0,
                 origin: KernelOrigin | None = None) -> None:
        """Enqueue one launch. args are Buffers or numpy scalars (np.int32, np.float32, ...).
        Never waits, except at the first launch for each local size (PoCL compiles then; timed
        into stats()["compile_seconds"]) and under TGL_DEBUG>=2 where it times every launch.
        An empty global size (a 0-length dim) launches nothing. flops, nbytes and origin (what
        made the launch) are for profiles and TGL_DEBUG lines only."""
        if 0 in global_size:
            return
        if not self._typed:
            self._declare_arg_types(args)
        try:
            self._cl.set_args(*[a.cl if isinstance(a, Buffer) else a for a in args])
        except cl.Error as e:
            kinds = ", ".join(type(a).__name__ for a in args)
            raise TypeError(f"kernel {self.name!r}: bad arguments ({kinds}); pass Buffers and numpy scalars: {e}") from e
        event = self._enqueue(global_size, local_size)
        _counters["kernels_launched"] += 1
        recording = _capture.commands
        if recording is not None:  # with what a profile shows bound, so a replay shows the same
            recording.append((functools.partial(self, flops=flops, nbytes=nbytes, origin=origin),
                              global_size, local_size, args))
        if _DEBUG >= 2:
            _report_launch(self, event, global_size, local_size, flops, nbytes, origin)
        if _profile is not None:
            _profile.append((self.name, event, flops, nbytes, origin, global_size, local_size))

    def _enqueue(self, global_size: tuple, local_size: tuple | None) -> cl.Event:
        """Enqueue without waiting, except the first time for this local size: PoCL turns the
        built program into machine code at that launch, so it is timed (to the kernel's end)
        and counted as compile time, which stats() would otherwise undercount."""
        local_key = None if local_size is None else tuple(local_size)
        queue = self.device.queue
        if local_key in self._timed_local_sizes:
            return cl.enqueue_nd_range_kernel(queue, self._cl, global_size, local_size)
        queue.finish()  # earlier kernels must not count as this one's compile time
        start = time.perf_counter()
        event = cl.enqueue_nd_range_kernel(queue, self._cl, global_size, local_size)
        event.wait()
        seconds = time.perf_counter() - start
        self._timed_local_sizes.add(local_key)
        _counters["first_launch_seconds"] += seconds
        _counters["compile_seconds"] += seconds
        if _DEBUG >= 1:
            _log(f"tgl compile {self.name}: first launch with local={_format_size(local_key)} took "
                 f"{seconds * 1e3:.1f} ms on {self.device.index}")
        return event

    def _declare_arg_types(self, args: tuple) -> None:
        """Tell pyopencl the scalar types once, from the first launch: without them every
        numpy scalar argument costs ~9 us in set_args, with them a whole launch costs ~5 us."""
        types = []
        for a in args:
            if isinstance(a, Buffer):
                types.append(None)
            elif isinstance(a, np.generic):
                types.append(a.dtype)
            else:
                raise TypeError(f"kernel {self.name!r}: argument {a!r} is a {type(a).__name__}; "
                                "pass Buffers and numpy scalars (np.int32(n), np.float32(x))")
        self._cl.set_scalar_arg_dtypes(types)
        self._typed = True

    def __repr__(self) -> str:
        return f"Kernel({self.name!r} on {self.device.index})"


def _report_launch(kernel: Kernel, event: cl.Event, global_size: tuple, local_size: tuple | None, flops: int,
                   nbytes: int, origin: KernelOrigin | None) -> None:
    event.wait()
    try:
        ns = max(event.profile.end - event.profile.start, 1)
    except cl.Error:  # a queue made before profiling was switched on
        ns = 1
    _log(f"tgl launch {int(_counters['kernels_launched']):5d} {kernel.name:<28s} "
         f"global={_format_size(global_size):<14s} local={_format_size(local_size):<10s} "
         f"{ns / 1e3:10.1f} us {flops / ns:9.2f} GFLOPS {nbytes / ns:8.2f} GB/s"
         + (f"  {origin.ops}  {origin.line or '(line unknown)'}" if origin is not None else ""))


def _format_size(size: tuple | None) -> str:
    return "None" if size is None else "x".join(map(str, size))


_programs: dict[tuple, cl.Program] = {}
_kernels: dict[tuple, Kernel] = {}


def compile_kernel(source: str, name: str, options: tuple[str, ...] = (), device: Device | None = None) -> Kernel:
    """The kernel `name` from source, built for the device (default: get_device()).

    Looked up in memory, then on disk (a program binary keyed by source, options and the
    device's cache_key), and only then built from source. CompileError on a build failure."""
    return compile_kernels([(source, name, tuple(options))], device)[0]


def compile_kernels(requests: list[tuple[str, str, tuple[str, ...]]], device: Device | None = None) -> list[Kernel]:
    """compile_kernel for each (source, name, options), with the programs that are in no cache
    loaded or built in parallel threads: pyopencl lets go of the GIL while the driver builds,
    so a cold schedule of many kernels takes the time of its slowest builds, not their sum.
    On a build failure, the CompileError of the first failing request is raised."""
    device = device or get_device()
    keys = [(device.index, source, tuple(options)) for source, _, options in requests]
    missing = {key: name for key, (_, name, _) in zip(keys, requests)
               if key not in _programs and (key, name) not in _kernels}
    if missing:
        jobs = list(missing.items())
        if len(jobs) == 1:
            results = [_obtain_program(device, key[1], name, key[2]) for key, name in jobs]
        else:
            with ThreadPoolExecutor(max_workers=min(len(jobs), os.cpu_count() or 1)) as pool:
                futures = [pool.submit(_obtain_program, device, key[1], name, key[2]) for key, name in jobs]
            results = [f.result() for f in futures]  # raises the first failure, in request order
        for (key, name), (program, how, seconds) in zip(jobs, results):
            _programs[key] = program
            _note_program(name, key[1], key[2], how, seconds)
    kernels = []
    for key, (_, name, _) in zip(keys, requests):
        kernel = _kernels.get((key, name))
        if kernel is None:
            if key not in missing:
                _counters["cache_hits_memory"] += 1
            kernel = _kernels[(key, name)] = Kernel(name, key[1], device, _programs[key])
        elif key not in missing:
            _counters["cache_hits_memory"] += 1
        kernels.append(kernel)
    return kernels


def clear_program_cache() -> None:
    """Forget the in-memory programs (the disk cache stays), e.g. to test the disk cache."""
    _programs.clear()
    _kernels.clear()


def cache_dir() -> Path | None:
    """The disk cache folder, or None when TGL_CACHE_DIR is "" or "0" (disk cache off)."""
    configured = os.environ.get("TGL_CACHE_DIR")
    if configured is None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        return Path(base) / "tinygradlike"
    if configured.strip() in ("", "0"):
        return None
    return Path(configured).expanduser()


def _obtain_program(device: Device, source: str, name: str, options: tuple[str, ...]) -> tuple[cl.Program, str, float]:
    """(program, how it was obtained, seconds): loaded from the disk cache, else built from
    source (and stored there). Touches no shared state but the disk, so threads may run it."""
    digest = _cache_digest(device, source, options)
    path = _binary_path(device, source, options)
    start = time.perf_counter()
    program = _load_binary(device, path, digest, name, options) if path is not None else None
    if program is not None:
        how = "loaded from disk cache"
    else:
        program = _build_source(device, source, name, options)
        how = "built from source"
        if path is not None:
            _store_binary(path, digest, program)
    return program, how, time.perf_counter() - start


def _note_program(name: str, source: str, options: tuple[str, ...], how: str, seconds: float) -> None:
    """Count and log one program obtained by _obtain_program (on the calling thread)."""
    loaded = how.startswith("loaded")
    _counters["cache_hits_disk" if loaded else "kernels_compiled"] += 1
    _counters["cache_load_seconds" if loaded else "compile_seconds"] += seconds
    if _DEBUG >= 1:
        _log(f"tgl compile {name}: {how} in {seconds * 1e3:.1f} ms")
    if _DEBUG >= 4:
        _log(compiled_source(source, options))


def _cache_digest(device: Device, source: str, options: tuple[str, ...]) -> bytes:
    """The sha256 of everything a binary depends on: cache format, device and driver, options, source."""
    return hashlib.sha256("\0".join((CACHE_FORMAT, device.cache_key, " ".join(options), source)).encode()).digest()


def _binary_path(device: Device, source: str, options: tuple[str, ...]) -> Path | None:
    folder = cache_dir()
    if folder is None:
        return None
    return folder / f"{_cache_digest(device, source, options).hex()}.bin"


class _BadCacheEntry(Exception):
    """A disk cache file that must not be used; the message says why."""


def _load_binary(device: Device, path: Path, digest: bytes, name: str,
                 options: tuple[str, ...]) -> cl.Program | None:
    """The program in the cache file at path, or None when there is none or it is unusable.
    An unusable file is deleted, so the source build that follows writes a good one."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:  # unreadable, e.g. another user's file: build, and leave it alone
        if _DEBUG >= 1:
            _log(f"tgl compile: cannot read the disk cache file {path}: {e}")
        return None
    try:
        return _program_from_binary(device, _unpack_cache_entry(raw, digest), name, options)
    except _BadCacheEntry as e:
        _reject_cache_entry(path, str(e))
        return None


def _pack_cache_entry(digest: bytes, binary: bytes) -> bytes:
    return _CACHE_MAGIC + digest + hashlib.sha256(binary).digest() + binary


def _unpack_cache_entry(raw: bytes, digest: bytes) -> bytes:
    """The binary in a cache file, once its magic, the digest of what it was built from and
    the binary's own sha256 all match: OpenCL must never see a truncated or foreign binary."""
    head = len(_CACHE_MAGIC)
    if raw[:head] != _CACHE_MAGIC:
        raise _BadCacheEntry(f"it does not start with {_CACHE_MAGIC!r} (an older format, or garbage)")
    if raw[head:head + 32] != digest:
        raise _BadCacheEntry("it was built from another source, options or device")
    binary = raw[head + 64:]
    if hashlib.sha256(binary).digest() != raw[head + 32:head + 64]:
        raise _BadCacheEntry("the binary does not match its sha256 (truncated or corrupted)")
    return binary


def _program_from_binary(device: Device, binary: bytes, name: str, options: tuple[str, ...]) -> cl.Program:
    try:
        program = _quiet_build(cl.Program(device.ctx, [device.cl_device], [binary]), options=list(options))
    except cl.Error as e:
        raise _BadCacheEntry(f"OpenCL cannot load it: {str(e).splitlines()[0] if str(e) else e!r}") from None
    if name not in program.kernel_names.split(";"):  # a wrong program is as corrupt as a bad one
        raise _BadCacheEntry(f"it has no kernel {name!r}, only {program.kernel_names!r}")
    return program


def _reject_cache_entry(path: Path, problem: str) -> None:
    with _threads_count:  # compile_kernels' threads may get here together
        _counters["cache_entries_rejected"] += 1
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass  # the rebuild's os.replace overwrites it anyway
    if _DEBUG >= 1:
        _log(f"tgl compile: deleted the unusable disk cache file {path} ({problem}); building from source")


def _build_source(device: Device, source: str, name: str, options: tuple[str, ...]) -> cl.Program:
    # cache_dir=False: pyopencl's own binary cache would hide builds from our counters.
    program = cl.Program(device.ctx, source)
    try:
        return _quiet_build(program, options=list(options), devices=[device.cl_device], cache_dir=False)
    except cl.Error as e:
        raise CompileError(name, source, options, _build_log(program, device) or str(e), device) from None


def _quiet_build(program: cl.Program, **options) -> cl.Program:
    """program.build without pyopencl's CompilerWarning: the warnings are about our generated
    code (clang calls the NaN test x != x "always false"), nothing a user can act on. A failed
    build still raises with its log."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cl.CompilerWarning)
        return program.build(**options)


def _build_log(program: cl.Program, device: Device) -> str:
    try:
        return program.get_build_info(device.cl_device, cl.program_build_info.LOG)
    except Exception:  # the program object may not exist after a failed build
        return ""


def _store_binary(path: Path, digest: bytes, program: cl.Program) -> None:
    """Write the cache entry to a temporary file and rename it, so a reader never sees half a file."""
    try:
        entry = _pack_cache_entry(digest, program.get_info(cl.program_info.BINARIES)[0])
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".bin")
    except (OSError, cl.Error) as e:  # a read-only home must not stop the program from running
        if _DEBUG >= 1:
            _log(f"tgl compile: could not write the disk cache at {path}: {e}")
        return
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(entry)
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        if _DEBUG >= 1:
            _log(f"tgl compile: could not write the disk cache at {path}: {e}")
