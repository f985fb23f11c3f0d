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

The first call runs normally and computes what it returns, read or not (it compiles); the
second runs normally while recording; later calls with the same kind of arguments replay.
Each kind gets its own recording: the inputs' shapes, dtypes and devices, which inputs are the
same tensor, the default device, and the values of the non-Tensor arguments (the last,
smaller batch of an epoch records its own).

The rules, as in tinygrad's TinyJit:
- inputs are the Tensor arguments. A lazy or view input is first computed into memory of its
  own (contiguous().realize(), run normally on every call, so pass realized tensors to save it);
- the other arguments may be numbers (bool, int, float, numpy scalars), strings or None: each
  distinct value records its own, so a value that changes on every call never replays (pass
  it as a Tensor instead). Any other argument is a TypeError: reach modules and optimizers
  through the closure;
- everything else the function reads must live in device memory that stays put: parameters
  written in place (Tensor.assign, the optimizers, Module.load_state_dict). Before a replay,
  jit checks that each tensor the recording read still owns that memory (or, if lazy, the same
  graph); when one was given new memory or a new graph, the call records again. A name
  rebound to a new Tensor object is not seen;
- host data made inside the function (Tensor(numpy), rand) is refused while recording,
  because a replay would reuse it: pass it in;
- Python numbers read from the closure (a learning rate as a float) are frozen at recording;
- a replay returns what the function returned: views of the same memory on every replay
  (read them before the next call; one fed back as an input is copied first), and an input
  returned as it is is that input;
- a jit called while another one records on the same thread (a jitted function calling a
  jitted function) runs its function plainly: its launches become part of the outer recording.
  A recording belongs to its thread: other threads keep running normally meanwhile. One jit
  object should be called from one thread at a time (a replay reuses its memory).

A replay also does less than the recorded call where nobody can tell the difference: a copy of
a new value into memory that stays put (an optimizer writing a parameter) becomes a trade of
storage, and a copy that kept old values aside for a graph that no longer exists is dropped
(_trade_instead_of_copying). A jitted optimizer step so moves no bytes, as an eager one.
"""
from __future__ import annotations

import functools
import gc
import weakref
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from tinygradlike import runtime
from tinygradlike.graph import Node, Op, buffer_node, memory_under
from tinygradlike.scheduler import is_grad_enabled
from tinygradlike.tensor import Tensor

_STATIC = (bool, int, float, str, type(None), np.generic)  # arguments that key a recording by value


@dataclass
class _Recording:
    commands: list
    inputs: list  # the recorded input Buffers (kept alive: their ids key the substitution)
    outputs: list  # how to rebuild each returned tensor (see _describe_output)
    structure: str  # "none", "tensor" or "tuple"
    reads: list  # (weakref to a Tensor, its Buffer or lazy Node): what was read besides the inputs
    returned: set  # ids of the returned memory, which an input fed back must not be
    touches: dict | None = None  # _last_touches, found at the first replay that asks


class jit:
    """Wrap `fn` (a function of Tensors returning a Tensor, a tuple of Tensors or None): the
    first call runs it, the second records its kernel launches, later calls with the same kind
    of arguments replay them (the rules are in this module's docstring). Usable as a decorator.

    >>> double = jit(lambda x: x * 2)
    >>> [double(Tensor([1.0, 2.0])).numpy() for _ in range(3)][-1]
    array([2., 4.], dtype=float32)
    """

    def __init__(self, fn: Callable[..., Any]):
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.seen: set[tuple] = set()
        self.recordings: dict[tuple, _Recording] = {}

    def __call__(self, *args: Any) -> Any:
        return self.call_notifying(None, *args)

    def call_notifying(self, ready: Callable[[int, runtime.Buffer], None] | None, *args: Any) -> Any:
        """Call as jit(...)(*args); when the call replays, also call ready(i, buffer) for each
        returned tensor i computed into memory, as soon as the last command that touches that
        memory is enqueued (the rest of the replay is not yet): the host can start reading it
        while the device runs the rest (parallel.DataParallel all-reduces gradients so, during
        the backward pass). No call of ready means the call did not replay.

        >>> double, seen = jit(lambda x: x * 2), []
        >>> for _ in range(3): out = double.call_notifying(lambda i, buffer: seen.append(i), Tensor([1.0]))
        >>> seen  # calls 1 and 2 run and record; the third replays
        [0]
        """
        if runtime.capturing():  # inside another jit's recording: be part of it
            return self.fn(*args)
        call_args = [_with_memory(a) if isinstance(a, Tensor) else a for a in args]
        tensors = [a for a in call_args if isinstance(a, Tensor)]
        key = _recording_key(call_args)
        recording = self.recordings.get(key)
        if recording is not None and _reads_the_same_memory(recording):
            return _replay(recording, tensors, args, ready)
        if key not in self.seen:  # first call: compile everything, record nothing
            self.seen.add(key)
            return _run_and_realize(self.fn, args)
        self.recordings.pop(key, None)
        return self._record(key, args, call_args, tensors)

    def _record(self, key: tuple, args: tuple, call_args: list, tensors: list[Tensor]) -> Any:
        with runtime.capture() as commands:
            outputs, structure = _flatten(self.fn(*call_args))
            if outputs:
                Tensor.realize(*outputs)
        inputs = [t.node.buffer for t in tensors]
        descriptions = [_describe_output(out, call_args) for out in outputs]
        returned = {id(d[1]) for d in descriptions if d[0] == "memory"}
        reads = _tensors_read(commands, inputs)
        kept = returned | {id(b) for b in inputs} | {id(read) for _, read in reads}
        self.recordings[key] = _Recording(_trade_instead_of_copying(commands, kept), inputs, descriptions,
                                          structure, reads, returned)
        outputs = [args[d[1]] if d[0] == "input" else out for d, out in zip(descriptions, outputs)]
        return _unflatten(outputs, structure)


def _run_and_realize(fn: Callable[..., Any], args: tuple) -> Any:
    """fn(*args) with what it returns computed, as a recording and a replay return it. So the
    first call builds every kernel the recording will launch, and what a kernel's first launch
    makes (a reduction's scratch memory) is made before the capture, not inside it."""
    result = fn(*args)
    outputs, _ = _flatten(result)
    if outputs:
        Tensor.realize(*outputs)
    return result


def _with_memory(t: Tensor) -> Tensor:
    """t when it is computed into memory of its own (which a replay can swap), else a computed
    contiguous copy of it."""
    node = t.node
    if node.op is not Op.VIEW and node.buffer is not None:
        return t
    return t.contiguous().realize()


def _recording_key(call_args: list) -> tuple:
    """What a recording is valid for: the default device, the grad mode, each input's shape,
    dtype, device and first position among the inputs (aliasing), and the values of the other
    arguments."""
    buffers = [a.node.buffer for a in call_args if isinstance(a, Tensor)]
    key: list[Any] = [runtime.get_device(), is_grad_enabled()]  # no_grad() builds another graph
    for a in call_args:
        if isinstance(a, Tensor):
            buffer = a.node.buffer
            same = next(i for i, b in enumerate(buffers) if b is buffer)
            key.append((a.shape, a.dtype.name, buffer.device, same))
        elif isinstance(a, _STATIC):
            key.append((type(a), a))
        else:
            raise TypeError(f"a jitted function takes Tensors (its inputs), and numbers, strings or None "
                            f"(each value records its own replay); got {type(a).__name__}. Reach other "
                            f"objects (modules, optimizers) through the function's closure")
    return tuple(key)


def _describe_output(out: Tensor, call_args: list) -> tuple:
    """("input", i) for an argument returned as it is, else ("memory", buffer, dtype, shape,
    views): the computed memory and the VIEW nodes (base first) that the tensor reads it through."""
    for i, a in enumerate(call_args):
        if out is a:
            return ("input", i)
    views = []
    node = out.node
    while node.op is Op.VIEW:
        views.append((node.arg, node.dtype, node.shape, node.move))
        node = node.srcs[0]
    return ("memory", node.buffer, node.dtype, node.shape, tuple(reversed(views)))


def _tensors_read(commands: list, inputs: list) -> list:
    """The tensors alive now that the commands read, other than the inputs: (tensor, buffer)
    for one computed into memory the commands use, (tensor, node) for a lazy one whose graph
    reads such memory. Once per recording, so a scan of every object is affordable."""
    used = {id(x) for command in commands for x in _buffers_of(command)} - {id(b) for b in inputs}
    reads = []
    for obj in gc.get_objects():
        # type(), not isinstance: it runs no object's __class__; a Tensor being made has no node yet
        node = getattr(obj, "node", None) if issubclass(type(obj), Tensor) else None
        if node is None:
            continue
        buffer = node.base.buffer
        if buffer is not None:
            if id(buffer) in used:
                reads.append((weakref.ref(obj), buffer))
        elif any(id(b) in used for b in memory_under(node)):
            reads.append((weakref.ref(obj), node))
    return reads


def _trade_instead_of_copying(commands: runtime.Commands, kept: set[int]) -> list:
    """The commands without the copies a replay does not need. An optimizer's step computes
    every new value into new memory and copies it into the parameter: a replay can instead give
    the parameter that storage and the scratch buffer the parameter's old storage, which the
    next replay's kernel overwrites first (a trade, runtime.replay). And a copy that kept old
    values for a graph alive while recording (Tensor.assign) is dropped when nothing in the
    replay reads it. Only where the replay cannot tell: the scratch buffer (the source of a
    trade, the destination of a dropped copy) was made while recording (so a kernel or the
    copy writes it before anything reads it), nothing after the copy uses it, it is none of
    `kept` (inputs, returned memory, memory a live tensor holds), and a trade's two buffers
    have one size and device."""
    created, commands = commands.created, list(commands)
    last_use: dict[int, int] = {}
    for position, command in enumerate(commands):
        for buffer in _buffers_of(command):
            last_use[id(buffer)] = position
    for position, (kernel, destination, source, _) in enumerate(commands):
        if kernel is not None:
            continue
        if id(destination) in created and id(destination) not in kept and last_use[id(destination)] == position:
            commands[position] = None  # a copy nothing reads (old values kept for a graph that is gone)
        elif (id(source) in created and id(source) not in kept and last_use[id(source)] == position
              and destination is not source and source.nbytes == destination.nbytes
              and source.device is destination.device):
            commands[position] = (None, destination, source, True)
    return [command for command in commands if command is not None]


def _buffers_of(command: tuple) -> list:
    kernel, a, b, c = command
    return [a, b] if kernel is None else [x for x in c if isinstance(x, runtime.Buffer)]


def _reads_the_same_memory(recording: _Recording) -> bool:
    """False when a tensor the recording read was given other memory or another graph (its
    node replaced): the recording would read the old one, so the call records again."""
    for ref, read in recording.reads:
        t = ref()
        if t is None:
            continue
        current = t.node if isinstance(read, Node) else t.node.base.buffer
        if current is not read:
            return False
    return True


def _replay(recording: _Recording, tensors: list[Tensor], args: tuple,
            ready: Callable[[int, runtime.Buffer], None] | None = None) -> Any:
    swap = {}
    for old, t in zip(recording.inputs, tensors):
        new = t.node.buffer
        if id(new) in recording.returned and new is not old:  # a returned tensor fed back
            new = _copy(new)
        swap[id(old)] = new
    after = None
    if ready is not None:
        touches = _last_touches(recording)  # position -> outputs (-1: memory no command touches)
        _notify(ready, touches.get(-1, ()), recording, swap)
        after = {position: functools.partial(_notify, ready, outputs, recording, swap)
                 for position, outputs in touches.items() if position >= 0}
    runtime.replay(recording.commands, swap, after)
    outs = [args[d[1]] if d[0] == "input" else _rebuild(d, swap) for d in recording.outputs]
    return _unflatten(outs, recording.structure)


def _last_touches(recording: _Recording) -> dict[int, list[int]]:
    """For each returned tensor computed into memory, the position of the last command that
    touches its memory (-1: none does), as {position: [output indices]}; once per recording."""
    if recording.touches is None:
        last: dict[int, int] = {}
        for position, command in enumerate(recording.commands):
            for buffer in _buffers_of(command):
                last[id(buffer)] = position
        touches: dict[int, list[int]] = {}
        for i, description in enumerate(recording.outputs):
            if description[0] == "memory":
                touches.setdefault(last.get(id(description[1]), -1), []).append(i)
        recording.touches = touches
    return recording.touches


def _notify(ready: Callable[[int, runtime.Buffer], None], outputs: list[int], recording: _Recording,
            swap: dict) -> None:
    for i in outputs:
        buffer = recording.outputs[i][1]
        ready(i, swap.get(id(buffer), buffer))


def _copy(buffer: runtime.Buffer) -> runtime.Buffer:
    """Device memory with buffer's bytes: the replay overwrites the memory it returns, which an
    input must not be."""
    copy = runtime.Buffer(buffer.nbytes, buffer.device)
    copy.copy_from(buffer)
    return copy


def _rebuild(description: tuple, swap: dict) -> Tensor:
    _, buffer, dtype, shape, views = description
    node = buffer_node(swap.get(id(buffer), buffer), dtype, shape)
    for st, view_dtype, view_shape, move in views:
        node = Node(Op.VIEW, (node,), st, view_dtype, view_shape, move=move)
    return Tensor(node)


def _flatten(result: Any) -> tuple[list[Tensor], str]:
    if result is None:
        return [], "none"
    if isinstance(result, Tensor):
        return [result], "tensor"
    if isinstance(result, tuple) and all(isinstance(r, Tensor) for r in result):
        return list(result), "tuple"
    raise TypeError(f"a jitted function must return a Tensor, a tuple of Tensors or None, got {type(result).__name__}")


def _unflatten(outputs: list[Tensor], structure: str) -> Any:
    if structure == "none":
        return None
    return outputs[0] if structure == "tensor" else tuple(outputs)
