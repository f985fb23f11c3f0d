"""Running a schedule: group the pending graph into kernels, render, compile, launch.

This is the one place where graph, codegen and runtime meet. Launches are only enqueued;
the queue is synchronized when the user reads data (Buffer.to_numpy).

A graph seen before costs no scheduling: `realize` first takes the graph's structural key
(scheduler.structure: every pending node's op, argument, dtype, shape and sources, and the
dtype and shape of each memory node it reads), and when a schedule was built for that key,
it launches the same kernels on the new graph's memory. A training step written as a plain
loop builds the same graph every step, so from the second step on it pays one walk over
the graph instead of grouping, rendering and looking up programs.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import cached_property
from typing import Callable

import numpy as np

from tinygradlike import codegen, runtime, schedule, scheduler, sites
from tinygradlike.codegen import RenderedKernel, render_group
from tinygradlike.graph import Node
from tinygradlike.profiling import KernelOrigin
from tinygradlike.schedule import KernelGroup, group_kernels, is_memory, merge_siblings

_NP_TYPES = {"float": np.float32, "double": np.float64, "int": np.int32, "long": np.int64, "uchar": np.uint8}
# scratch memory of multi-group reductions, kept per kernel and device: their counters must
# start at zero, and each launch leaves them at zero for the next (kernels/reduce.cl)
_scratch: dict[tuple[str, str], tuple[runtime.Buffer, ...]] = {}


@dataclass(frozen=True)
class Launch:
    """One kernel of a cached schedule, with its memory named by position in the graph walk."""

    kernel: runtime.Kernel | None  # None: its results are empty, nothing to launch
    global_size: tuple
    local_size: tuple | None
    roots: tuple[tuple[int, int], ...]  # (position, bytes) of each node it writes
    reads: tuple[int, ...]  # positions of the memory nodes it reads, in argument order
    scratch: tuple[runtime.Buffer, ...]
    scalars: tuple  # numpy scalars after the buffers (a size-free kernel's size)
    flops: int
    nbytes: int
    ops: str  # the ops fused into the kernel, "matmul+add+where": a profile names it so

    @cached_property
    def origin(self) -> KernelOrigin:
        """What made the launch, without the user's line (origin_in gives that)."""
        return KernelOrigin(self.ops)

    def origin_in(self, nodes: list[Node]) -> KernelOrigin:
        """What made the launch in the graph walk `nodes`, with the user's line that made its
        first result when lines are being noted (sites.recording)."""
        if not sites.recording or not self.roots:
            return self.origin
        return KernelOrigin(self.ops, sites.line_of(nodes[self.roots[0][0]]))

    @cached_property
    def tail(self) -> list:
        """The arguments after the outputs and the reads."""
        return [*self.scratch, *self.scalars]

    @cached_property
    def replay(self) -> runtime.Replay:
        """This launch prepared for runtime.replay_launches."""
        outputs = tuple((position, max(nbytes, 1), nbytes) for position, nbytes in self.roots)
        return runtime.Replay(self.kernel, self.global_size, self.local_size, outputs, self.reads, tuple(self.tail))


# structural key -> the launches of its schedule. No graph nodes are kept (a cached node would
# keep its memory alive); positions name them. Bounded: a program that builds ever new graphs
# must not grow it without end.
_schedules: dict[tuple, tuple[Launch, ...]] = {}
MAX_SCHEDULES = 2048


def clear_schedules() -> None:
    """Forget every cached schedule (the compiled programs stay cached): the next realize of
    any graph groups and renders it again, and TGL_DEBUG=3 prints it again."""
    _schedules.clear()


def plan(outputs: list[Node]) -> tuple[list[KernelGroup], Callable[[Node], bool]]:
    """The kernels realize(outputs) would run, in run order, and `is_load(node)`: whether a
    kernel reads that node from memory. Pure: touches no device, so tests and benchmarks can
    render a schedule (codegen.render_group) without compiling it."""
    groups = group_kernels(outputs)
    stored = {id(g.root) for g in groups}

    def is_load(node: Node) -> bool:
        return is_memory(node) or id(node) in stored

    return merge_siblings(groups), is_load


def realize(outputs: list[Node]) -> None:
    """Compute every node in `outputs` (VIEW outputs: their base) into device memory."""
    key, nodes = scheduler.structure(outputs)
    if key is None:
        return  # nothing pending
    device = runtime.get_device()
    key = (key, device.index, codegen.FAST_MATH, schedule.MAX_KERNEL_OPS, schedule.MAX_KERNEL_INPUTS,
           schedule.SHARED_KERNEL_OPS)
    launches = _schedules.get(key)
    if launches is None:
        runtime.count("schedules_built")
        launches = _build(outputs, nodes, device)
        if len(_schedules) >= MAX_SCHEDULES:
            _schedules.clear()
        _schedules[key] = launches
    else:
        runtime.count("schedules_reused")
        _run(launches, nodes, device)
    for launch in launches:
        for position, _ in launch.roots:
            _forget_history(nodes[position])


def _build(outputs: list[Node], nodes: list[Node], device) -> tuple[Launch, ...]:
    """Group, render and compile the graph's kernels, run them, and describe them for reuse.
    Every kernel is rendered before any is compiled, so the programs no cache holds are
    built in parallel (runtime.compile_kernels)."""
    groups, is_load = plan(outputs)
    position = {id(node): i for i, node in enumerate(nodes)}
    rendered = [render_group(group, is_load, device) if group.root.size else None for group in groups]
    if runtime.debug_level() >= runtime.SCHEDULE_LEVEL:
        _print_schedule(groups, rendered)
    built = iter(runtime.compile_kernels([(r.source, r.name, r.options) for r in rendered if r is not None]))
    launches = []
    for group, r in zip(groups, rendered):
        outs = [runtime.Buffer(max(root.size, 1) * root.dtype.itemsize) for root in group.roots]
        kernel, scratch = None, ()
        if r is not None:
            kernel = next(built)
            _check_one_device(r.inputs, device)
            scratch = _scratch_buffers(r, device)
            line = sites.line_of(group.root) if sites.recording else None
            kernel(r.global_size, r.local_size, *outs, *(node.buffer for node in r.inputs), *scratch, *r.scalars,
                   flops=r.flops, nbytes=r.nbytes, origin=KernelOrigin(r.ops, line))
        for root, out in zip(group.roots, outs):
            root.buffer = out
        launches.append(Launch(
            kernel, r.global_size if r else (), r.local_size if r else None,
            tuple((position[id(root)], out.nbytes) for root, out in zip(group.roots, outs)),
            tuple(position[id(node)] for node in r.inputs) if r else (),
            scratch, r.scalars if r else (), r.flops if r else 0, r.nbytes if r else 0, r.ops if r else ""))
    return tuple(launches)


def _print_schedule(groups: list[KernelGroup], rendered: list[RenderedKernel | None]) -> None:
    """TGL_DEBUG >= 3: one line per kernel of a new schedule, in run order: its name, kind, the
    ops fused into it, its outputs and the user's line that made its (first) result."""
    print(f"tgl schedule: {len(groups)} kernel{'s' * (len(groups) != 1)}", file=sys.stderr)
    for k, (group, r) in enumerate(zip(groups, rendered), 1):
        outputs = ", ".join(f"{root.shape} {root.dtype.name}" for root in group.roots)
        name, ops = (r.name, r.ops) if r is not None else ("(empty: nothing to launch)", "")
        line = sites.line_of(group.root) or "(line unknown)"
        print(f"tgl   kernel {k} {name} {group.kind} [{ops}] -> {outputs}  {line}", file=sys.stderr)


def _run(launches: tuple[Launch, ...], nodes: list[Node], device) -> None:
    """Launch a cached schedule on the memory of a graph of the same structure: through
    runtime.replay_launches once every kernel has had its first launch and nothing records or
    times launches, else through the general path (Buffer, Kernel.__call__)."""
    replays = tuple(launch.replay for launch in launches)
    if runtime.plain_launches() and all(r.ready() for r in replays):
        runtime.replay_launches(replays, nodes, device)
        return
    for launch in launches:
        outs = [runtime.Buffer(nbytes, device) for _, nbytes in launch.roots]
        if launch.kernel is not None:
            reads = [nodes[i].buffer for i in launch.reads]
            for buffer in reads:
                if buffer.device is not device:
                    _check_one_device([n for n in nodes if n.buffer is buffer], device)
            launch.kernel(launch.global_size, launch.local_size, *outs, *reads, *launch.tail,
                          flops=launch.flops, nbytes=launch.nbytes, origin=launch.origin_in(nodes))
        for (position, _), out in zip(launch.roots, outs):
            nodes[position].buffer = out


def _check_one_device(inputs, device) -> None:
    """A kernel runs on one device and can only read memory there (OpenCL would fail or crash)."""
    for node in inputs:
        if node.buffer.device is not device:
            raise ValueError(f"a computation reads a tensor {node.shape} on {node.buffer.device.index} "
                             f"{node.buffer.device.name} but runs on {device.index} {device.name}: "
                             f"all its inputs must be on the device that runs it (runtime.set_device); "
                             f"copy the tensor over with t.to(device)")


def _scratch_buffers(rendered: RenderedKernel, device) -> tuple[runtime.Buffer, ...]:
    """The kernel's scratch memory on `device`, made at its first launch and zeroed on the
    device (the counters must start at zero): no host data, so a jit recording that meets the
    kernel first (its first call's results were never computed) may make it."""
    if not rendered.scratch:
        return ()
    key = (rendered.source, device.index)  # the memory is per device, not per model
    if key not in _scratch:
        _scratch[key] = tuple(runtime.Buffer.zeros(max(count, 1) * np.dtype(_NP_TYPES[ctype]).itemsize, device)
                              for ctype, count in rendered.scratch)
    return _scratch[key]


def _forget_history(node: Node) -> None:
    """A computed node that no gradient can flow through needs no sources any more.

    Dropping them lets the memory of intermediate results go as soon as no tensor holds it,
    so a training loop's graph does not grow step after step.
    """
    if not node.requires_grad:
        node.srcs = ()
