"""jit: run a function's kernels again without running the function.

A training step builds the same graph every time: Python builds nodes, the scheduler groups
them, codegen renders (or finds) the same sources, and the runtime launches the same
kernels on the same kind of memory. `jit` records the launches of one call and, from then
on, replays them directly, with only the input buffers swapped:

    @jit
    def step(x: Tensor, y: Tensor) -> Tensor:
        loss = cross_entropy(model(x), y)
        opt.zero_grad(); loss.backward(); opt.step(loss)   # step realizes loss too
        return loss

The first call runs normally (it compiles); the second runs normally while recording; later
calls with inputs of the same shapes and dtypes replay. Inputs of a new shape (the last,
smaller batch of an epoch) get their own recording.

The rules, as in tinygrad's TinyJit:
- inputs are the Tensor arguments; everything else the function reads must live in device
  memory that stays put (parameters updated in place with Tensor.assign, as the optimizers do);
- host data made inside the function (Tensor(numpy), rand) is refused while recording,
  because a replay would reuse it: pass it in;
- Python numbers baked into the graph (a learning rate as a float) are frozen at recording;
- the returned tensors are the same memory on every replay: read them before the next call.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Callable

from tinygradlike import runtime
from tinygradlike.graph import Op, buffer_node
from tinygradlike.tensor import Tensor


@dataclass
class _Recording:
    commands: list
    inputs: list  # the recorded input Buffers (kept alive: their ids key the substitution)
    outputs: list  # (buffer, dtype, shape) of each returned tensor, or None
    structure: str  # "none", "tensor" or "tuple"
    keepalive: list = field(default_factory=list)


class jit:
    """Wrap `fn` (a function of Tensors returning a Tensor, a tuple of Tensors or None)."""

    def __init__(self, fn: Callable[..., Any]):
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.seen: set[tuple] = set()
        self.recordings: dict[tuple, _Recording] = {}

    def __call__(self, *args: Any) -> Any:
        tensors = [_as_memory(a) for a in args if isinstance(a, Tensor)]
        key = tuple((t.shape, t.dtype.name) for t in tensors)
        recording = self.recordings.get(key)
        if recording is not None:
            return self._replay(recording, tensors)
        if key not in self.seen:  # first call: compile everything, record nothing
            self.seen.add(key)
            return self.fn(*args)
        with runtime.capture() as commands:
            result = self.fn(*args)
            outputs, structure = _flatten(result)
            Tensor.realize(*outputs) if outputs else None
        self.recordings[key] = _Recording(
            commands, [t.node.base.buffer for t in tensors],
            [(t.node.base.buffer, t.dtype, t.shape) for t in outputs], structure)
        return result

    @staticmethod
    def _replay(recording: _Recording, tensors: list[Tensor]) -> Any:
        swap = {id(old): t.node.base.buffer for old, t in zip(recording.inputs, tensors)}
        runtime.replay(recording.commands, swap)
        outs = [Tensor(buffer_node(buf, dtype, shape)) for buf, dtype, shape in recording.outputs]
        if recording.structure == "none":
            return None
        return outs[0] if recording.structure == "tensor" else tuple(outs)


def _as_memory(t: Tensor) -> Tensor:
    """An input must be its own contiguous memory, so that its buffer can be swapped in."""
    node = t.node
    if node.op is not Op.BUFFER or node.buffer is None:
        raise ValueError(f"jit inputs must be realized tensors with their own memory (got a lazy "
                         f"or view tensor of shape {t.shape}); call .contiguous().realize() first")
    return t


def _flatten(result: Any) -> tuple[list[Tensor], str]:
    if result is None:
        return [], "none"
    if isinstance(result, Tensor):
        return [result], "tensor"
    if isinstance(result, tuple) and all(isinstance(r, Tensor) for r in result):
        return list(result), "tuple"
    raise TypeError(f"a jitted function must return a Tensor, a tuple of Tensors or None, got {type(result).__name__}")
