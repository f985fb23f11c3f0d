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
"""
from __future__ import annotations

from dataclasses import dataclass

from tinygradlike import scheduler
from tinygradlike.graph import Node, Op


@dataclass
class KernelGroup:
    """One kernel: it computes `root` into new memory.

    `core` is the REDUCE or MATMUL node the kernel is built around (the root itself, or an
    ancestor whose elementwise consumers form the epilogue); None for an elementwise kernel.
    """

    root: Node
    core: Node | None

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


def stored_nodes(groups: list[KernelGroup]) -> set[int]:
    """ids of the nodes this schedule writes to memory (codegen loads them, never inlines)."""
    return {id(g.root) for g in groups}
