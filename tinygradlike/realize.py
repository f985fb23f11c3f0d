"""Running a schedule: group the pending graph into kernels, render, compile, launch.

This is the one place where graph, codegen and runtime meet. Launches are only enqueued;
the queue is synchronized when the user reads data (Buffer.to_numpy).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from tinygradlike import runtime
from tinygradlike.codegen import RenderedKernel, render_group
from tinygradlike.graph import Node
from tinygradlike.schedule import KernelGroup, group_kernels, is_memory, merge_siblings

_NP_TYPES = {"float": np.float32, "double": np.float64, "int": np.int32, "uchar": np.uint8}
# scratch memory of multi-group reductions, kept per kernel: their counters must start at zero
_scratch: dict[tuple[str, str], tuple[runtime.Buffer, ...]] = {}


def plan(outputs: list[Node]) -> tuple[list[KernelGroup], Callable[[Node], bool]]:
    """The kernels realize(outputs) would run, in run order, and `is_load(node)`: whether a
    kernel reads that node from memory. Pure: touches no device, so tests and benchmarks can
    render a schedule (codegen.render_group) without compiling it."""
    groups = group_kernels(outputs)
    stored = {id(g.root) for g in groups}

    def is_load(node: Node) -> bool:
        return is_memory(node) or id(node) in stored

    return merge_siblings(groups, is_load), is_load


def realize(outputs: list[Node]) -> None:
    """Compute every node in `outputs` (VIEW outputs: their base) into device memory."""
    groups, is_load = plan(outputs)
    if not groups:
        return
    device = runtime.get_device()
    for group in groups:
        run_group(group, is_load, device)
    for group in groups:
        for root in group.roots:
            _forget_history(root)


def run_group(group: KernelGroup, is_load, device) -> None:
    outs = [runtime.Buffer(max(root.size, 1) * root.dtype.itemsize) for root in group.roots]
    if group.root.size:
        rendered = render_group(group, is_load, device)
        _check_one_device(rendered.inputs, device)
        kernel = runtime.compile_kernel(rendered.source, rendered.name, rendered.options)
        args = [*outs, *(node.buffer for node in rendered.inputs), *_scratch_buffers(rendered)]
        kernel(rendered.global_size, rendered.local_size, *args, flops=rendered.flops, nbytes=rendered.nbytes)
    for root, out in zip(group.roots, outs):
        root.buffer = out


def _check_one_device(inputs, device) -> None:
    """A kernel runs on one device and can only read memory there (OpenCL would fail or crash)."""
    for node in inputs:
        if node.buffer.device is not device:
            raise ValueError(f"a computation reads a tensor {node.shape} on {node.buffer.device.index} "
                             f"{node.buffer.device.name} but runs on {device.index} {device.name}: "
                             f"all its inputs must be on the device that runs it (runtime.set_device); "
                             f"copy the tensor over with Tensor(t.numpy())")


def _scratch_buffers(rendered: RenderedKernel) -> tuple[runtime.Buffer, ...]:
    if not rendered.scratch:
        return ()
    key = (rendered.source, runtime.get_device().cache_key)
    if key not in _scratch:
        buffers = []
        for ctype, count in rendered.scratch:
            zeros = np.zeros(max(count, 1), dtype=_NP_TYPES[ctype])
            buffers.append(runtime.Buffer.from_numpy(zeros))
        _scratch[key] = tuple(buffers)
    return _scratch[key]


def _forget_history(node: Node) -> None:
    """A computed node that no gradient can flow through needs no sources any more.

    Dropping them lets the memory of intermediate results go as soon as no tensor holds it,
    so a training loop's graph does not grow step after step.
    """
    if not node.requires_grad:
        node.srcs = ()

