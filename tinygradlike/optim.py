"""Optimizers: SGD (momentum, Nesterov, weight decay), Adam, AdamW and RMSprop, with torch's
update rules.

    opt = optim.Adam(model.parameters(), lr=1e-3)
    opt.zero_grad(); loss.backward(); opt.step()

One `step()` builds the new value of every parameter and of the optimizer's state as lazy
tensors and realizes them all, with the gradients they read, in ONE schedule. Each result then
becomes the content of the memory its tensor already owns, by trading storage, not copying
(see _store); the parameter becomes a leaf again with no history, so nothing grows from step
to step, and the memory object stays put, so a `jit`-recorded training step keeps reading
the right buffers when it is replayed.

Nothing that changes between steps is a Python number inside the graph: numbers are baked
into the kernel source, so a changing one would compile new kernels (and a jit replay would
freeze it). The learning rate lives in a one-element device buffer (`opt.lr = 0.01` rewrites
it), and Adam's bias corrections are optimizer state on the device, updated by the step.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from tinygradlike import runtime
from tinygradlike.graph import Op, buffer_node, next_serial
from tinygradlike.scheduler import inputs_key
from tinygradlike.templates import TemplateCache
from tinygradlike.tensor import Tensor, pending_backward_roots


class Optimizer:
    """Holds the parameters and their state; subclasses define `update`."""

    def __init__(self, params: Iterable[Tensor], lr: float):
        self.params: list[Tensor] = []
        for p in params:
            if not p.requires_grad:
                raise ValueError(f"optimizer parameter of shape {p.shape} does not require gradients; "
                                 f"create it with requires_grad=True")
            if any(src.requires_grad for src in p.node.srcs):
                raise ValueError(f"optimizer parameter of shape {p.shape} is not a leaf: it is computed from "
                                 f"other tensors that require gradients, so an update could not change it. "
                                 f"Optimize the tensors it is made from, or make it a leaf with "
                                 f".detach().requires_grad_()")
            if all(p is not q for q in self.params):
                self.params.append(_own_memory(p))
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")
        self._lr = Tensor(np.array(lr, dtype=np.float32))
        self._lr_value = float(lr)
        self._templates = TemplateCache(16)  # settings changed every step must not grow it

    @property
    def lr(self) -> float:
        """The learning rate. Setting it rewrites a device buffer: no kernel is recompiled."""
        return self._lr_value

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr_value = float(value)
        self._lr.node.buffer.copyin(np.array(value, dtype=np.float32))

    def zero_grad(self) -> None:
        """Forget the gradients (and, with them, the graph of the last forward pass)."""
        for p in self.params:
            p.grad = None

    def step(self, *also: Tensor) -> None:
        """Update every parameter that has a gradient, in one schedule.

        `also`: tensors to compute in the same schedule, such as the loss or the logits you
        want to read afterwards (`opt.step(loss)`): they cost no second pass over the graph."""
        stepping = [(i, p) for i, p in enumerate(self.params) if p.grad is not None]
        pairs, grads = self._update_graph(stepping) if stepping else ([], [])
        # the losses backward() ran on, if still lazy: computed here, from the weights they
        # were built on, so reading one after the step costs a read and no second schedule.
        # Not while a jit records: every replay would compute them again (a jit step passes
        # its loss to step() instead)
        roots = [] if runtime.capturing() else pending_backward_roots()
        outputs = [new for _, new in pairs] + grads + list(also) + roots
        if outputs:
            outputs[0].realize(*outputs[1:])
        taken: set[int] = set()
        for target, new in pairs:
            _store(target, new, taken)
        for (_, p), g in zip(stepping, grads):
            p.grad = g  # the realized gradient this step used

    def _build_update(self, stepping: list[tuple[int, Tensor]]) -> tuple[list[tuple[Tensor, Tensor]], list[Tensor]]:
        """(tensor that owns memory, its new value) pairs and the detached gradients, built
        by running begin_step and update."""
        pairs = self.begin_step()
        grads = []
        for i, p in stepping:
            g = p.grad.detach()  # one node for all its uses: computed once, stored once
            new_p, state = self.update(i, p.detach(), g)
            pairs += [(p, new_p), *state]
            grads.append(g)
        return pairs, grads

    def _update_graph(self, stepping: list[tuple[int, Tensor]]) -> tuple[list[tuple[Tensor, Tensor]], list[Tensor]]:
        """The update graph of this step: built by _build_update the first time for its
        structure, and from then on copied from that first build (templates.Template), which
        skips the Python of every Tensor op in update(). The update is the same graph every
        step as long as its inputs (the optimizer's tensors and the gradients) keep their
        shapes, dtypes and views, and its settings (momentum, betas, ...) stay put: all of
        that is the key. The learning rate is not in it: it lives on the device."""
        tensors = self._tensors()
        inputs = [t.node for t in tensors] + [p.grad.node for _, p in stepping]
        key = (tuple(i for i, _ in stepping), self._settings(), inputs_key(inputs))
        known = self._templates.find(key)
        if known is None:
            since = next_serial()
            pairs, grads = self._build_update(stepping)
            runtime.count("update_graphs_built")
            where = {id(t): k for k, t in enumerate(tensors)}
            targets = tuple(where.get(id(t), -1) for t, _ in pairs)
            outputs = None if -1 in targets else [new.node for _, new in pairs] + [g.node for g in grads]
            self._templates.record(key, inputs, outputs, since, targets)
            return pairs, grads
        template, targets = known
        runtime.count("update_graphs_copied")
        nodes = template.instantiate(inputs)
        pairs = [(tensors[k], Tensor(node)) for k, node in zip(targets, nodes)]
        return pairs, [Tensor(node) for node in nodes[len(targets):]]

    def _tensors(self) -> list[Tensor]:
        """Every tensor the optimizer holds (parameters, state, learning rate), in a fixed order."""
        found = []
        for value in vars(self).values():
            if isinstance(value, Tensor):
                found.append(value)
            elif isinstance(value, list):
                found.extend(v for v in value if isinstance(v, Tensor))
        return found

    def _settings(self) -> tuple:
        """The plain-valued attributes the update graph may depend on."""
        return tuple((name, value) for name, value in vars(self).items()
                     if name != "_lr_value" and isinstance(value, (bool, int, float, str, tuple, type(None))))

    def begin_step(self) -> list[tuple[Tensor, Tensor]]:
        """(state, new value) pairs of the whole step, built before the per-parameter updates."""
        return []

    def update(self, i: int, p: Tensor, g: Tensor) -> tuple[Tensor, list[tuple[Tensor, Tensor]]]:
        """The new value of parameter i (from detached p and g), and (state, new value) pairs."""
        raise NotImplementedError

    def _zeros_state(self) -> list[Tensor]:
        # real buffers, not lazy zeros: the first step must read memory like every later one,
        # or step 2 would compile different kernels than step 1
        return [Tensor(np.zeros(p.shape, dtype=p.dtype.np)) for p in self.params]


def _store(target: Tensor, new: Tensor, taken: set[int]) -> None:
    """Make `target` (a parameter or a state tensor) hold the realized value `new`, in the
    memory object it already owns (a jit recording that read it keeps reading it).

    Eager code trades storage instead of copying: `new` was computed into fresh memory, so the
    target's memory object takes that storage, and the target's old node (which a lazy loss,
    the logits or a backward through the old graph may still read) takes the old storage, with
    the old values. No bytes move. While a jit records, the value is copied (Tensor.assign),
    so the recording holds the copy a replay must repeat. `taken`: values already stored."""
    old, node = target.node, new.node
    memory, fresh = old.buffer, node.buffer
    if (runtime.capturing() or fresh is None or node.op in (Op.VIEW, Op.BUFFER) or id(node) in taken
            or new.dtype != target.dtype or fresh.nbytes != memory.nbytes or fresh.device is not memory.device):
        target.assign(new)
        return
    taken.add(id(node))
    memory.exchange(fresh)  # memory now holds the new values, fresh the old ones
    old.buffer, node.buffer = fresh, memory
    target.node = buffer_node(memory, target.dtype, target.shape, requires_grad=old.requires_grad)


def _own_memory(p: Tensor) -> Tensor:
    """Make p a realized leaf with its own buffer (what assign writes into), in place."""
    if p.node.op is not Op.BUFFER or p.node.buffer is None:
        p.node = buffer_node(p.contiguous().realize().node.base.buffer, p.dtype, p.shape, requires_grad=True)
    return p


class SGD(Optimizer):
    """torch.optim.SGD: g += weight_decay * p; buf = momentum * buf + g;
    p -= lr * (g + momentum * buf if nesterov else buf)  (buf = g when momentum == 0)."""

    def __init__(self, params: Iterable[Tensor], lr: float = 0.01, momentum: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        super().__init__(params, lr)
        if nesterov and momentum <= 0:
            raise ValueError("Nesterov momentum needs momentum > 0")
        self.momentum, self.weight_decay, self.nesterov = momentum, weight_decay, nesterov
        # zeros make the first step buf = g, exactly torch's first step (dampening is not offered)
        self.momentum_buffers = self._zeros_state() if momentum else []

    def update(self, i, p, g):
        if self.weight_decay:
            g = g + self.weight_decay * p
        if not self.momentum:
            return p - self._lr * g, []
        buf = self.momentum_buffers[i] * self.momentum + g
        direction = g + self.momentum * buf if self.nesterov else buf
        return p - self._lr * direction, [(self.momentum_buffers[i], buf)]


class Adam(Optimizer):
    """torch.optim.Adam: m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2;
    p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps). weight_decay adds weight_decay*p to g
    (L2, as torch's Adam); AdamW decays the weights directly instead."""

    decoupled = False

    def __init__(self, params: Iterable[Tensor], lr: float = 0.001, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(params, lr)
        self.b1, self.b2 = betas
        self.eps, self.weight_decay = eps, weight_decay
        self.m, self.v = self._zeros_state(), self._zeros_state()
        # each parameter's bias corrections 1 - b1^t and 1 - b2^t, kept as c <- c*b + (1-b)
        # from c = 0: accurate in float32 (1 - 0.999^t itself would cancel), on the device, so
        # they advance on a jit replay too, and per parameter, as torch counts steps: one
        # that had no gradient in a step (a frozen layer) does not advance
        # (one (2,) tensor per parameter: a jit step copies each state tensor back)
        self.corrections = [Tensor(np.zeros(2, dtype=np.float32)) for _ in self.params]

    def update(self, i, p, g):
        betas = Tensor.full((1,), self.b1).cat(Tensor.full((1,), self.b2))
        one_minus = Tensor.full((1,), 1 - self.b1).cat(Tensor.full((1,), 1 - self.b2))
        c = self.corrections[i] * betas + one_minus  # this step's (1 - b1^t, 1 - b2^t)
        c1, c2 = c[0], c[1]
        if self.weight_decay and self.decoupled:
            p = p * (1 - self._lr * self.weight_decay)
        elif self.weight_decay:
            g = g + self.weight_decay * p
        m = self.b1 * self.m[i] + (1 - self.b1) * g
        v = self.b2 * self.v[i] + (1 - self.b2) * g * g
        new_p = p - (self._lr / c1) * (m / (v.sqrt() / c2.sqrt() + self.eps))
        return new_p, [(self.m[i], m), (self.v[i], v), (self.corrections[i], c)]


class AdamW(Adam):
    """torch.optim.AdamW: Adam with decoupled weight decay, p *= 1 - lr * weight_decay first."""

    decoupled = True

    def __init__(self, params: Iterable[Tensor], lr: float = 0.001, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.01):
        super().__init__(params, lr, betas, eps, weight_decay)


class RMSprop(Optimizer):
    """torch.optim.RMSprop: s = alpha*s + (1-alpha)*g^2 (g += weight_decay*p first);
    centered: a = alpha*a + (1-alpha)*g and the denominator uses s - a^2;
    d = g / (sqrt(...) + eps); with momentum, buf = momentum*buf + d and p -= lr*buf,
    else p -= lr*d."""

    def __init__(self, params: Iterable[Tensor], lr: float = 0.01, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False):
        super().__init__(params, lr)
        self.alpha, self.eps, self.weight_decay = alpha, eps, weight_decay
        self.momentum, self.centered = momentum, centered
        self.square_avg = self._zeros_state()
        self.grad_avg = self._zeros_state() if centered else []
        self.momentum_buffers = self._zeros_state() if momentum else []

    def update(self, i, p, g):
        if self.weight_decay:
            g = g + self.weight_decay * p
        square_avg = self.alpha * self.square_avg[i] + (1 - self.alpha) * g * g
        state = [(self.square_avg[i], square_avg)]
        if self.centered:
            grad_avg = self.alpha * self.grad_avg[i] + (1 - self.alpha) * g
            state.append((self.grad_avg[i], grad_avg))
            denominator = (square_avg - grad_avg * grad_avg).sqrt() + self.eps
        else:
            denominator = square_avg.sqrt() + self.eps
        direction = g / denominator
        if self.momentum:
            direction = self.momentum * self.momentum_buffers[i] + direction
            state.append((self.momentum_buffers[i], direction))
        return p - self._lr * direction, state
