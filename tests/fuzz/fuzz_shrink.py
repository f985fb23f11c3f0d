"""Shrinking a failing program to a small repro, and locating the op that goes wrong.

Greedy passes, each kept only if the program still fails with the same signature (kind and
detail): drop the gradient stage, drop outputs, then for each op replace its result by one of
its operands (same shape and dtype) or by a fresh input holding its reference value, which
cuts off everything before it; dead code goes at every step. Every attempt runs the program
(and may compile kernels), so shrinking has a deadline.
"""
from __future__ import annotations

import time

import numpy as np

from fuzz_program import Failure, GradSpec, Input, Instr, Program, check_program, run_ref
from fuzz_ref import FLOATS, NUMPY


class _OutOfTime(Exception):
    pass


def live_program(prog: Program) -> Program | None:
    """prog without the ops and inputs nothing reads (None if nothing is left to check)."""
    needed = set(prog.outputs)
    grad = prog.grad
    if grad is not None:
        needed.add(grad.loss)
    instrs = []
    for ins in reversed(prog.instrs):
        if ins.out in needed:
            instrs.append(ins)
            needed.update(ins.args)
    instrs.reverse()
    if grad is not None:
        keep = [i for i, t in enumerate(grad.targets) if t in needed]
        if not keep:
            grad = None
        else:
            grad = GradSpec(grad.mode, grad.loss, grad.weight, tuple(grad.targets[i] for i in keep),
                            tuple(grad.weights2[i] for i in keep) if grad.weights2 else ())
    inputs = [i for i in prog.inputs if i.name in needed]
    if not prog.outputs and grad is None:
        return None
    return Program(inputs, instrs, list(prog.outputs), grad, prog.together)


def _substitute(prog: Program, old: str, new: str, upto: int) -> Program:
    """Uses of `old` after instruction `upto` read `new` instead."""
    instrs = list(prog.instrs[:upto + 1])
    for ins in prog.instrs[upto + 1:]:
        instrs.append(Instr(ins.out, ins.op, tuple(new if a == old else a for a in ins.args), ins.params))
    outputs = list(dict.fromkeys(new if o == old else o for o in prog.outputs))
    grad = prog.grad
    if grad is not None and grad.loss == old:
        grad = GradSpec(grad.mode, new, grad.weight, grad.targets, grad.weights2)
    return Program(list(prog.inputs), instrs, outputs, grad, prog.together)


def _as_input(prog: Program, index: int, value: np.ndarray, dtype: str) -> Program:
    """Instruction `index`'s result replaced by a new input holding `value`."""
    ins = prog.instrs[index]
    used = {i.name for i in prog.inputs}
    name = next(f"x{k}" for k in range(len(used) + 1) if f"x{k}" not in used)
    grad = prog.grad
    requires_grad = grad is not None and dtype in FLOATS
    stored = np.array(value, dtype=NUMPY[dtype])
    replaced = _substitute(prog, ins.out, name, index)
    if requires_grad:
        w2 = grad.weights2 + ((np.ones(stored.shape, stored.dtype),) if grad.weights2 else ())
        replaced.grad = GradSpec(grad.mode, replaced.grad.loss, grad.weight, grad.targets + (name,), w2)
    replaced.inputs = list(prog.inputs) + [Input(name, stored, requires_grad)]
    return replaced


def shrink(failure: Failure, seconds: float) -> Failure:
    """A smaller program failing with the same signature (failure itself if none is found)."""
    deadline = time.monotonic() + seconds
    best = failure

    def attempt(candidate: Program | None) -> bool:
        nonlocal best
        if candidate is None:
            return False
        candidate = live_program(candidate)
        if candidate is None:
            return False
        if time.monotonic() > deadline:
            raise _OutOfTime
        try:
            found = check_program(candidate)
        except Exception:  # noqa: BLE001 - a candidate the reference cannot run is not a repro
            return False
        if found is not None and found.signature == best.signature:
            best = found
            return True
        return False

    try:
        prog = best.program
        # the gradient stage and the outputs that do not matter
        if prog.grad is not None:
            g = prog.grad
            if best.kind == "gradient" and g.mode != "gradient":
                attempt(prog.copy(grad=GradSpec("gradient", g.loss, g.weight, g.targets, ())))
            elif best.kind not in ("gradient", "second-order"):
                attempt(prog.copy(grad=None))
        if best.output is not None and best.kind not in ("gradient", "second-order") and best.output in best.program.outputs:
            attempt(best.program.copy(outputs=[best.output]))
        elif best.kind in ("gradient", "second-order"):
            attempt(best.program.copy(outputs=[]))
        else:
            for out in list(best.program.outputs):
                if attempt(best.program.copy(outputs=[out])):
                    break
        changed = True
        while changed:
            changed = False
            center = run_ref(best.program)
            prog = best.program
            for index in range(len(prog.instrs) - 1, -1, -1):
                prog = best.program
                if index >= len(prog.instrs):
                    continue
                ins = prog.instrs[index]
                value = center.get(ins.out)
                if value is None:
                    continue
                options = [_substitute(prog, ins.out, a, index) for a in dict.fromkeys(ins.args)
                           if a in center and center[a].shape == value.shape and center[a].dtype == value.dtype]
                options.append(_as_input(prog, index, value.numpy(), value.dtype))
                for option in options:
                    if attempt(option):
                        changed = True
                        center = run_ref(best.program)
                        break
            # inputs: drop requires_grad and layout where they do not matter
            prog = best.program
            for i, inp in enumerate(prog.inputs):
                if inp.requires_grad and (prog.grad is None or inp.name not in prog.grad.targets):
                    inputs = list(prog.inputs)
                    inputs[i] = Input(inp.name, inp.value, False)
                    if attempt(prog.copy(inputs=inputs)):
                        changed = True
                        prog = best.program
        if best.program.together:
            attempt(best.program.copy(together=False))
        if best.program.grad is not None and len(best.program.grad.targets) > 1:
            g = best.program.grad
            for i, t in enumerate(g.targets):
                one = GradSpec(g.mode, g.loss, g.weight, (t,), (g.weights2[i],) if g.weights2 else ())
                if attempt(best.program.copy(grad=one)):
                    break
    except _OutOfTime:
        pass
    return Failure(best.kind, best.detail, best.message, renumber(best.program), best.output)


def renumber(prog: Program) -> Program:
    """Names x0, x1, ... and v1, v2, ... in order of appearance."""
    names = {inp.name: f"x{k}" for k, inp in enumerate(prog.inputs)}
    names.update({ins.out: f"v{k + 1}" for k, ins in enumerate(prog.instrs)})
    inputs = [Input(names[i.name], i.value, i.requires_grad) for i in prog.inputs]
    instrs = [Instr(names[i.out], i.op, tuple(names[a] for a in i.args), i.params) for i in prog.instrs]
    grad = prog.grad
    if grad is not None:
        grad = GradSpec(grad.mode, names[grad.loss], grad.weight, tuple(names[t] for t in grad.targets), grad.weights2)
    return Program(inputs, instrs, [names[o] for o in prog.outputs], grad, prog.together)


def localize(failure: Failure, seconds: float = 20.0) -> tuple[str, tuple | None]:
    """For a forward value failure: which op first computes a wrong value when each
    intermediate is realized on its own (a note, and that failure's signature), or a note that
    only the fused program is wrong."""
    if failure.kind != "forward":
        return "", None
    prog = failure.program
    deadline = time.monotonic() + seconds
    for ins in prog.instrs:
        if time.monotonic() > deadline:
            return "", None
        sub = live_program(Program(prog.inputs, prog.instrs, [ins.out], None, False))
        if sub is None:
            continue
        try:
            found = check_program(sub)
        except Exception:  # noqa: BLE001
            continue
        if found is not None:
            if ins.out == failure.output:
                return "", found.signature
            return (f"realized on its own, {ins.out} (op {ins.op}) is already wrong: {found.message.splitlines()[0]}",
                    found.signature)
    return "every intermediate is right when realized on its own: only the fused kernel(s) compute a wrong value", None
