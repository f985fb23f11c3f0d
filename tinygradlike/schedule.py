"""Kernel grouping: which nodes of a lazy graph get their own memory, and which are fused.

The rules, and the compiled code that applies them, are in tinygradlike/scheduler.pyx,
section 4 (tests/test_fusion.py pins them down by kernel counts). In short: elementwise chains
fuse into one kernel (rule 1); an elementwise epilogue joins the reduce or matmul it follows
(rule 2); what a kernel reads that is not inlined is memory (rule 3); elementwise kernels of
one shape share a launch when their inputs are ready (rule 4); and kernels have a bounded
size (rule 5, with the bounds below). This module holds the bounds and wraps the results
as KernelGroups for codegen.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from tinygradlike import scheduler
from tinygradlike.graph import Node, Op

# Rule 5's bounds. Measured on PoCL 3.1 (Debian): a kernel of a 100-node tanh/mul chain
# compiles in 0.67 s, 200 nodes in 1.4 s, 400 in 3.8 s, plus ~0.2 s at its first launch. For a
# backward pass through 600 such ops, bounds of 96/24, 128/32 and 256/64 (ops/shared) all
# compiled in 14-15 s (12 to 31 kernels); 128 keeps each kernel below the steep part.
MAX_KERNEL_OPS = 128
MAX_KERNEL_INPUTS = 64
SHARED_KERNEL_OPS = 32


@dataclass
class KernelGroup:
    """One kernel: it computes `root` (and, for an elementwise kernel, `siblings`) into new memory.

    `core` is the REDUCE or MATMUL node the kernel is built around (the root itself, or an
    ancestor whose elementwise consumers form the epilogue); None for an elementwise kernel.
    """

    root: Node
    core: Node | None
    siblings: list[Node] = field(default_factory=list)

    @property
    def roots(self) -> list[Node]:
        return [self.root, *self.siblings]

    @property
    def kind(self) -> str:
        if self.core is None:
            return "elementwise"
        return "reduce" if self.core.op is Op.REDUCE else "matmul"


def kernel_ops(group: KernelGroup, is_load) -> str:
    """The ops a kernel computes, sources first, joined by '+' ("matmul+add+where", "exp+sum"):
    what TGL_DEBUG=3 and profile() call the kernel. Views, constants and memory reads are left
    out; `is_load(node)` says which nodes the kernel reads from memory (its own roots are
    computed). A reduction is named by its combining op (sum, max, min)."""
    roots = {id(root) for root in group.roots}
    names: list[str] = []
    seen: set[int] = set()
    stack = [(root, False) for root in reversed(group.roots)]
    while stack:
        node, sources_done = stack.pop()
        if sources_done:
            if node.op not in _UNNAMED:
                names.append(_op_name(node))
            continue
        if id(node) in seen or (id(node) not in roots and is_load(node)):
            continue
        seen.add(id(node))
        stack.append((node, True))
        stack.extend((src, False) for src in reversed(node.srcs))
    return _join_op_names(names)


_UNNAMED = (Op.VIEW, Op.CONST, Op.BUFFER)
_REDUCE_NAMES = {Op.ADD: "sum", Op.MAX: "max", Op.MIN: "min"}
MAX_NAMED_OPS = 8  # past it, a kernel is named by its first six ops, how many more, and its last


def _op_name(node: Node) -> str:
    if node.op is Op.REDUCE:
        return _REDUCE_NAMES.get(node.arg[0], node.arg[0].value)
    if node.op is Op.CUSTOM:
        return str(getattr(node.arg[0], "name", None) or "custom")
    return node.op.value


def _join_op_names(names: list[str]) -> str:
    if not names:
        return "copy"  # a kernel of views only (contiguous() of a constant) copies
    if len(names) > MAX_NAMED_OPS:
        head, tail = names[:MAX_NAMED_OPS - 2], names[-1]
        return "+".join(head) + f"+...({len(names) - len(head) - 1} more)+" + tail
    return "+".join(names)


def is_memory(node: Node) -> bool:
    """Nodes the scheduler never looks behind: computed buffers and uploads."""
    return node.buffer is not None


def group_kernels(outputs: list[Node]) -> list[KernelGroup]:
    """Split the pending part of the graph behind `outputs` into kernels, in run order, by
    rules 1, 2, 3 and 5 (scheduler.group_kernels)."""
    pairs = scheduler.group_kernels(list(outputs), MAX_KERNEL_OPS, MAX_KERNEL_INPUTS, SHARED_KERNEL_OPS)
    return [KernelGroup(root, core) for root, core in pairs]


def merge_siblings(groups: list[KernelGroup]) -> list[KernelGroup]:
    """Rule 4 (scheduler.merge_siblings): each elementwise kernel folded into the latest
    earlier one of its shape that can also compute it, as a sibling root."""
    targets = scheduler.merge_siblings([g.root for g in groups], [g.kind == "elementwise" for g in groups],
                                       MAX_KERNEL_OPS, MAX_KERNEL_INPUTS)
    merged: dict[int, KernelGroup] = {}  # index of a kernel's first group -> the kernel
    for i, (group, target) in enumerate(zip(groups, targets)):
        if target < 0:
            merged[i] = group
        else:
            merged[target].siblings.append(group.root)
    return list(merged.values())


def kernel_clusters(outputs: list[Node]) -> list[tuple[str, list[Node]]]:
    """For a picture (graph.to_dot's clusters): per kernel that realizing `outputs` would run,
    its title and the nodes it computes. A node inlined into several kernels is drawn in the
    first; memory the kernels read stays outside every frame."""
    groups = merge_siblings(group_kernels(outputs))
    stored = {id(root) for group in groups for root in group.roots}
    placed: set[int] = set()
    clusters = []
    for k, group in enumerate(groups):
        members, stack = [], list(group.roots)
        own = {id(root) for root in group.roots}
        while stack:
            node = stack.pop()
            if id(node) in placed or is_memory(node) or (id(node) in stored and id(node) not in own):
                continue
            placed.add(id(node))
            members.append(node)
            stack.extend(node.srcs)
        clusters.append((f"kernel {k + 1}: {group.kind}", members))
    return clusters

