"""Kernel grouping: which nodes of a lazy graph get their own memory, and which are fused.

The rules (tests/test_fusion.py pins them down by kernel counts):

1. Elementwise nodes are inlined into every kernel that reads them (recomputed, never
   stored), unless they are an output or a matmul operand, or rule 5 stores them.
2. A REDUCE or MATMUL node is stored, unless all its uses flow, through identity views and
   inlined elementwise nodes, into exactly one stored elementwise node: then that node's
   kernel *is* the reduce/matmul kernel, with the elementwise chain as its epilogue.
   b. A MATMUL stored on its own (its uses flow into several kernels) whose one use is an
      elementwise node, like a linear layer's bias add, stores that node instead: the same
      matmul kernel writes the epilogue's value, the kernels that read it read memory, and a
      later read (the logits after a training step) needs no kernel.
3. Everything a kernel reads that is not inlined is memory: a realized buffer, or a node
   stored by an earlier kernel of the same schedule.

An elementwise prologue is therefore fused into a reduce for free (rule 1); matmul operands
are read through strided views (transposes and broadcasts cost nothing) but must be memory,
because the fast kernel loads whole rows of them with vector loads.

4. Stored elementwise nodes of one shape share a kernel when the later one's inputs are all
   ready by the time the earlier one runs (merge_siblings): one kernel writes several outputs,
   like an optimizer's m, v and new weights, and reads of a sibling in place reuse its value.

5. Kernels have a bounded size, so a long lazy chain costs compile time linear in its length
   (PoCL's compile time grows faster than linearly with a kernel's size: 200 fused tanh/mul
   nodes took 1.4 s, 400 took 3.8 s, 800 took 17 s). Sources before consumers, each kernel's
   cone is counted: the nodes it computes (once each, twice if read both in place and through
   a reshuffling view, as codegen then computes it twice) and the buffers it reads. Then
     a. when the kernel for a node would compute more than MAX_KERNEL_OPS nodes or read more
        than MAX_KERNEL_INPUTS buffers (OpenCL limits a kernel's parameters, often to 1024
        bytes, 128 pointers), its largest inlined source is stored instead (a reduce whose
        prologue is too big reads it from memory; a fused reduce is unfused);
     b. an elementwise node read by several nodes whose cone is over SHARED_KERNEL_OPS nodes
        is stored once rather than recomputed by every kernel that reads it: in a backward
        pass, each gradient kernel would otherwise inline the forward chain again;
     c. rule 4 merges two kernels only while the sum of their sizes stays within both bounds.
   The bounds are far above the handful of nodes of ordinary layers, so rules 1-4 decide
   every graph of tests/test_fusion.py and the MLP step; only long chains are cut, into
   kernels of at most MAX_KERNEL_OPS nodes, each compiled once per distinct source.
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


def is_memory(node: Node) -> bool:
    """Nodes the scheduler never looks behind: computed buffers and uploads."""
    return node.buffer is not None


def group_kernels(outputs: list[Node]) -> list[KernelGroup]:
    """Split the pending part of the graph behind `outputs` into kernels, in run order.

    The work (a topological sort and one pass each way over the graph) runs in the compiled
    scheduler, tinygradlike/scheduler.pyx, section 3."""
    pairs = scheduler.group_kernels(list(outputs), MAX_KERNEL_OPS, MAX_KERNEL_INPUTS, SHARED_KERNEL_OPS)
    return [KernelGroup(root, core) for root, core in pairs]


def merge_siblings(groups: list[KernelGroup], is_load) -> list[KernelGroup]:
    """Rule 4: fold each elementwise kernel into the latest earlier one of the same shape that
    can also compute it: everything it reads is memory written before that kernel runs, or
    that kernel's own results read in place. Rule 5c: only while the merged kernel computes at
    most MAX_KERNEL_OPS nodes and passes at most MAX_KERNEL_INPUTS + 1 buffers."""
    merged: list[KernelGroup] = []
    sizes: list[tuple[int, set[int]]] = []  # per merged kernel: nodes computed (a bound), buffers read
    written_at: dict[int, int] = {}  # id(stored node) -> index of the kernel that writes it
    for group in groups:
        target = None
        reads, n_ops = _cone(group.root, is_load)
        if group.kind == "elementwise":
            for i in range(len(merged) - 1, -1, -1):
                if not all(written_at.get(nid, -1) < i or (written_at[nid] == i and in_place)
                           for nid, in_place in reads.items()):
                    break  # something it reads is written by kernel i or later: no earlier one can
                other = merged[i]
                if other.kind != "elementwise" or other.root.shape != group.root.shape:
                    continue
                other_ops, other_reads = sizes[i]
                buffers = len(other_reads | reads.keys()) + len(other.roots) + 1
                if other_ops + n_ops <= MAX_KERNEL_OPS and buffers <= MAX_KERNEL_INPUTS + 1:
                    target = i
                    break
        if target is None:
            written_at[id(group.root)] = len(merged)
            merged.append(group)
            sizes.append((n_ops, set(reads)))
        else:
            merged[target].siblings.append(group.root)
            written_at[id(group.root)] = target
            other_ops, other_reads = sizes[target]
            sizes[target] = (other_ops + n_ops, other_reads | reads.keys())
    return merged


def _cone(root: Node, is_load) -> tuple[dict[int, bool], int]:
    """The memory a kernel for `root` reads (id -> read in place, through identity views only),
    and how many nodes it computes (once in place, once more if also read reshuffled)."""
    reads: dict[int, bool] = {}
    computed: set[tuple[int, bool]] = set()
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
            computed.add((id(node), in_place))
            stack.extend((src, in_place) for src in node.srcs)
    return reads, len(computed)
