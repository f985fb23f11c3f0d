"""Graphs built once and copied after: what a training loop repeats is not built again.

A backward pass (gradients.py), an optimizer's update (optim.py) and a library composite
(tensor.replayable: cross_entropy, softmax, ...) build the same graph every time they meet
inputs of the same structure. The first graph for a structure is kept as a Template, a recipe
of its nodes, in a TemplateCache under a structural key; later calls copy the recipe onto
their own inputs (scheduler.copy_graph, one node construction per node) instead of running the
Python that built it. The key must hold everything the graph's construction depended on;
each caller says what that is, and scheduler.inputs_key gives the inputs' part.
"""
from __future__ import annotations

import copy
import weakref

from tinygradlike.graph import Node, Op
from tinygradlike.scheduler import copy_graph, is_grad_enabled, signature_id, toposort


class Template:
    """A graph built once by Tensor code, copied onto new inputs without running that code again.

    `record(inputs, outputs)` keeps every node between `inputs` and `outputs` as a recipe (op,
    argument, dtype, shape, movement, sources by position); `instantiate(new_inputs)` makes
    fresh nodes from it, one per recipe step, so the copy costs a node construction per node
    instead of the broadcasting, promotion and view logic that built the original. A caller
    uses it for a graph that is a function of its inputs' structure only (the optimizer's
    update: the same ops on the same shapes every step) and keys it by that structure.

    Only self-contained graphs qualify: every node must be an input or made while building
    it, and every leaf an input or a constant (a copy of a node that read other memory would
    read it forever). Custom ops are copied only when their rule has a `replay_key` (the
    library's own rules, pure functions of their configuration): a user's custom backward
    may read Python state that changes between calls. `record` returns None otherwise."""

    __slots__ = ("steps", "outputs")

    def __init__(self, steps: list[tuple], outputs: tuple[int, ...]):
        self.steps, self.outputs = steps, outputs

    @staticmethod
    def record(inputs: list[Node], outputs: list[Node], since: int) -> Template | None:
        """`since`: scheduler.next_serial() taken before the graph was built. A node older
        than that which is not an input (the base of an input view, reached through a
        movement that undoes the view) belongs to the first call only: no template then."""
        slot = {id(node): i for i, node in enumerate(inputs)}
        steps = []
        for node in toposort(outputs, expand=lambda n: id(n) not in slot):
            if id(node) in slot:
                continue
            if node.serial < since or node.buffer is not None or (not node.srcs and node.op is not Op.CONST):
                return None
            arg, custom = node.arg, None
            if node.op is Op.CUSTOM:  # a library rule (a replay_key says it is a pure function)
                rule, rule_inputs = node.arg
                if getattr(rule, "replay_key", None) is None or any(id(n) not in slot for n in rule_inputs):
                    return None
                arg, custom = rule, tuple(slot[id(n)] for n in rule_inputs)
            steps.append((node.op, tuple(slot[id(s)] for s in node.srcs), arg, node.dtype, node.shape,
                          node.move, node.requires_grad, custom, signature_id(node)))
            slot[id(node)] = len(inputs) + len(steps) - 1
        return Template(steps, tuple(slot[id(node)] for node in outputs))

    def instantiate(self, inputs: list[Node]) -> list[Node]:
        """Fresh nodes for the recipe on `inputs` (the compiled loop: scheduler.copy_graph)."""
        return copy_graph(self.steps, inputs, self.outputs, _copy_rule)


def _copy_rule(rule, node: Node, rule_inputs: tuple) -> tuple:
    """A copied custom op's argument: its own rule object, since a rule may hold a reference to
    the node it belongs to (its forward value)."""
    rule = copy.copy(rule)
    if hasattr(rule, "output"):
        rule.output = weakref.ref(node)
    return rule, rule_inputs


class TemplateCache:
    """Templates by structural key, each with what its caller needs to use the copy (`extra`).
    Bounded: a program that builds ever new structures must not grow it without end.

    The grad mode (grad_mode.no_grad) is part of every key: a graph built under no_grad holds
    nodes that require no gradient, and a copy of it must not turn up where they should."""

    def __init__(self, limit: int):
        self.limit = limit
        self.entries: dict = {}

    def find(self, key) -> tuple | None:
        """(template, extra) recorded under `key`; None when there is none, or none can be: a
        None key, an unhashable one (a list of axes), a graph Template.record refused."""
        if key is None:
            return None
        try:
            return self.entries.get((key, is_grad_enabled()))
        except TypeError:
            return None

    def record(self, key, inputs: list[Node], outputs: list[Node] | None, since: int, extra=None) -> None:
        """Keep the graph between `inputs` and `outputs` under `key`, the first time only; a graph
        that cannot be copied (outputs None, or refused by Template.record) is remembered as such."""
        if key is None:
            return
        key = (key, is_grad_enabled())
        try:
            if key in self.entries:
                return
        except TypeError:
            return
        if len(self.entries) >= self.limit:
            self.entries.clear()
        template = None if outputs is None else Template.record(inputs, outputs, since)
        self.entries[key] = None if template is None else (template, extra)
