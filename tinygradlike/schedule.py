"""Kernel grouping: which nodes of a lazy graph get their own memory, and which are fused.

The rules (tests/test_fusion.py pins them down by kernel counts):

1. Elementwise nodes are inlined into every kernel that reads them (recomputed, never
   stored), unless they are an output or a matmul operand.
2. A REDUCE or MATMUL node is stored, unless all its uses flow, through identity views and
   inlined elementwise nodes, into exactly one stored elementwise node: then that node's
   kernel *is* the reduce/matmul kernel, with the elementwise chain as its epilogue.
3. Everything a kernel reads that is not inlined is memory: a realized buffer, or a node
   stored by an earlier kernel of the same schedule.

An elementwise prologue is therefore fused into a reduce for free (rule 1); matmul operands
are read through strided views (transposes and broadcasts cost nothing) but must be memory,
because the fast kernel loads whole rows of them with vector loads.

4. Stored elementwise nodes of one shape share a kernel when the later one's inputs are all
   ready by the time the earlier one runs (merge_siblings): one kernel writes several outputs,
   like an optimizer's m, v and new weights, and reads of a sibling in place reuse its value.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from tinygradlike import scheduler
from tinygradlike.graph import Node, Op


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


def is_memory(node: Node) -> bool:
    """Nodes the scheduler never looks behind: computed buffers and uploads."""
    return node.buffer is not None


def group_kernels(outputs: list[Node]) -> list[KernelGroup]:
    """Split the pending part of the graph behind `outputs` into kernels, in run order.

    The work (a topological sort and one pass each way over the graph) runs in the compiled
    scheduler, tinygradlike/scheduler.pyx, section 3."""
    return [KernelGroup(root, core) for root, core in scheduler.group_kernels(list(outputs))]


def merge_siblings(groups: list[KernelGroup], is_load) -> list[KernelGroup]:
    """Rule 4: fold each elementwise kernel into the latest earlier one of the same shape that
    can also compute it: everything it reads is memory written before that kernel runs, or
    that kernel's own results read in place."""
    merged: list[KernelGroup] = []
    written_at: dict[int, int] = {}  # id(stored node) -> index of the kernel that writes it
    for group in groups:
        target = None
        if group.kind == "elementwise":
            reads = _reads(group.root, is_load)
            for i in range(len(merged) - 1, -1, -1):
                other = merged[i]
                if other.kind != "elementwise" or other.root.shape != group.root.shape:
                    continue
                if all(written_at.get(nid, -1) < i or (written_at[nid] == i and in_place)
                       for nid, in_place in reads.items()):
                    target = i
                    break
        if target is None:
            written_at[id(group.root)] = len(merged)
            merged.append(group)
        else:
            merged[target].siblings.append(group.root)
            written_at[id(group.root)] = target
    return merged


def _reads(root: Node, is_load) -> dict[int, bool]:
    """The memory an elementwise kernel for `root` reads: id -> read in place (identity views only)."""
    reads: dict[int, bool] = {}
    seen: set[tuple[int, bool]] = set()
    stack = [(root, True)]
    while stack:
        node, in_place = stack.pop()
        if (id(node), in_place) in seen:
            continue
        seen.add((id(node), in_place))
        if node is not root and is_load(node):
            reads[id(node)] = reads.get(id(node), True) and in_place
        elif node.op is Op.VIEW:
            stack.append((node.base, in_place and node.in_place))
        elif node.op is not Op.CONST:
            stack.extend((src, in_place) for src in node.srcs)
    return reads
