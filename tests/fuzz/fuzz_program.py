"""A fuzz program: inputs, a list of op calls, outputs and an optional gradient stage.

The same program runs twice: rendered as Python source and executed on tinygradlike (the
source is the printed repro), and interpreted by the reference (fuzz_ref, float64 torch),
once plainly and NOISY_RUNS times with float32-sized jitter. `check_program` compares the
two and returns a Failure or None.
"""
from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from fuzz_ops import OPS, lit
from fuzz_ref import FLOATS, NUMPY, RV, Ref
from fuzz_ops import _arith, _ref_sum

NOISY_RUNS = 3
TOLERANCE = {  # (rtol, atol, atol relative to the output's largest magnitude)
    "float32": (1e-4, 1e-5, 1e-6),
    "float64": (1e-9, 1e-12, 1e-13),
}
SPREAD_FACTOR = 8.0  # how far beyond the noisy runs' spread a value may be


@dataclass
class Input:
    name: str
    value: np.ndarray
    requires_grad: bool = False


@dataclass
class Instr:
    out: str
    op: str
    args: tuple[str, ...]
    params: dict


@dataclass
class GradSpec:
    mode: str                    # "gradient" | "backward" | "backward2" | "second"
    loss: str                    # the variable whose weighted sum is the loss
    weight: np.ndarray
    targets: tuple[str, ...]     # input names
    weights2: tuple[np.ndarray, ...] = ()


@dataclass
class Program:
    inputs: list[Input]
    instrs: list[Instr]
    outputs: list[str]
    grad: GradSpec | None = None
    together: bool = True        # realize all outputs in one schedule

    def copy(self, **changes) -> Program:
        fresh = Program(list(self.inputs), list(self.instrs), list(self.outputs), self.grad, self.together)
        return replace(fresh, **changes)

    def result_names(self) -> list[str]:
        names = list(self.outputs)
        if self.grad is not None:
            names += [f"d_{t}" for t in self.grad.targets]
            if self.grad.mode == "second":
                names += [f"dd_{t}" for t in self.grad.targets]
        return names

    def op_names(self) -> list[str]:
        return [i.op for i in self.instrs]


@dataclass
class Failure:
    kind: str          # build error, realize error, not a Tensor, dtype, shape, forward, gradient, second-order
    detail: str        # short, normalized: with kind, the signature that groups failures
    message: str       # what exactly went wrong, for people
    program: Program
    output: str | None = None

    @property
    def signature(self) -> tuple[str, str]:
        return (self.kind, self.detail)


# --------------------------------------------------------------------------- rendering

def _number(v, dtype: np.dtype) -> str:
    if dtype.kind == "b":
        return "True" if v else "False"
    if dtype.kind in "iu":
        return str(int(v))
    if np.isnan(v):
        return "nan"
    if np.isinf(v):
        return "inf" if v > 0 else "-inf"
    return str(np.float32(v)) if dtype == np.float32 else repr(float(v))


def render_array(a: np.ndarray) -> str:
    def nest(x):
        if x.ndim == 0:
            return _number(x.item() if a.dtype.kind != "f" else x, a.dtype)
        return "[" + ", ".join(nest(s) for s in x) + "]"
    return f"np.array({nest(a)}, dtype=np.{a.dtype.name})"


def render_tensor(a: np.ndarray, requires_grad: bool = False) -> str:
    return f"Tensor({render_array(a)}{', requires_grad=True' if requires_grad else ''})"


HEADER = "from math import inf, nan\nimport numpy as np\nfrom tinygradlike import Tensor, dtypes\n"


def render_build(prog: Program) -> str:
    lines = [HEADER]
    for inp in prog.inputs:
        lines.append(f"{inp.name} = {render_tensor(inp.value, inp.requires_grad)}")
    for ins in prog.instrs:
        lines.append(f"{ins.out} = {OPS[ins.op].code(list(ins.args), ins.params)}")
    lines.append("outputs = {" + ", ".join(f"{o!r}: {o}" for o in prog.outputs) + "}")
    gs = prog.grad
    if gs is not None:
        targets = ", ".join(gs.targets)
        d = ", ".join(f"d_{t}" for t in gs.targets) + ("," if len(gs.targets) == 1 else "")
        lines.append(f"loss = ({gs.loss} * {render_tensor(gs.weight)}).sum()")
        if gs.mode in ("backward", "backward2"):
            lines.append("loss.backward()")
            if gs.mode == "backward2":
                lines.append("loss.backward()  # twice: the gradients add up")
            lines += [f"d_{t} = {t}.grad" for t in gs.targets]
        else:
            lines.append(f"{d} = loss.gradient({targets})")
        if gs.mode == "second":
            terms = " + ".join(f"(d_{t} * {render_tensor(w)}).sum()" for t, w in zip(gs.targets, gs.weights2))
            lines.append(f"loss2 = {terms}")
            lines.append(f"{d.replace('d_', 'dd_')} = loss2.gradient({targets})")
        names = [f"d_{t}" for t in gs.targets] + ([f"dd_{t}" for t in gs.targets] if gs.mode == "second" else [])
        lines.append("outputs.update({" + ", ".join(f"{n!r}: {n}" for n in names) + "})")
    return "\n".join(lines) + "\n"


def render_repro(prog: Program, expected: dict[str, np.ndarray] | None = None) -> str:
    """The whole program as a runnable script, with the reference values as comments."""
    text = render_build(prog)
    names = prog.result_names()
    if prog.together and len(names) > 1:
        text += "tensors = [t for t in outputs.values() if t is not None]\n"
        text += "tensors[0].realize(*tensors[1:])  # one schedule for all outputs\n"
    text += "for name, t in outputs.items():\n    print(name, None if t is None else t.numpy())\n"
    if expected:
        text += "# reference (float64 torch, tinygradlike semantics):\n"
        for name in names:
            if name in expected:
                body = np.array2string(np.asarray(expected[name]), separator=", ", threshold=100)
                text += "\n".join(f"#   {line}" for line in f"{name} = {body}".splitlines()) + "\n"
    return text


# --------------------------------------------------------------------------- the reference

def run_ref(prog: Program, noise_seed: int | None = None, native32: bool = False) -> dict[str, RV]:
    R = Ref(noise_seed, native32=native32)
    env: dict[str, RV] = {}
    with torch.enable_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for inp in prog.inputs:
            env[inp.name] = R.leaf(inp.value, inp.requires_grad)
        for ins in prog.instrs:
            env[ins.out] = OPS[ins.op].ref(R, [R.use(env[a]) for a in ins.args], ins.params)
        if prog.grad is not None:
            env.update(_ref_gradients(R, prog.grad, env))
    return env


def _grads(R: Ref, loss: RV, leaves: list[RV], create_graph: bool) -> list[torch.Tensor]:
    """d loss / d leaf, in the leaves' precision (a float32 gradient is a float32 number)."""
    zeros = [torch.zeros(l.shape, dtype=l.t.dtype) for l in leaves]
    if not loss.t.requires_grad:
        return zeros
    found = torch.autograd.grad(loss.t, [l.t for l in leaves], create_graph=create_graph, allow_unused=True)
    return [z if g is None else R.out(g, l.dtype).t for g, z, l in zip(found, zeros, leaves)]


def _weighted_sum(R: Ref, v: RV, w: np.ndarray) -> RV:
    weight = R.leaf(w, False)
    return _ref_sum(R, [_arith("mul", R, v, R.convert(weight, v.dtype), v.dtype)], {"axis": None, "keepdim": False})


def _ref_gradients(R: Ref, gs: GradSpec, env: dict[str, RV]) -> dict[str, RV]:
    leaves = [env[t] for t in gs.targets]
    loss = _weighted_sum(R, env[gs.loss], gs.weight)
    grads = _grads(R, loss, leaves, create_graph=gs.mode == "second")
    if gs.mode == "backward2":
        grads = [g * 2 for g in grads]
    out = {f"d_{t}": RV(g, leaf.dtype) for t, g, leaf in zip(gs.targets, grads, leaves)}
    if gs.mode == "second":
        loss2 = None
        for t, w in zip(gs.targets, gs.weights2):
            term = _weighted_sum(R, out[f"d_{t}"], w)
            loss2 = term if loss2 is None else _arith("add", R, loss2, term, term.dtype)
        grads2 = _grads(R, loss2, leaves, create_graph=False)
        out.update({f"dd_{t}": RV(g, leaf.dtype) for t, g, leaf in zip(gs.targets, grads2, leaves)})
    return out


# --------------------------------------------------------------------------- tinygradlike

def run_ours(prog: Program):
    """Build and realize the program on tinygradlike: (namespace, {name: ndarray or None}) or a
    Failure for an exception."""
    from tinygradlike import Tensor

    source = render_build(prog)
    ns: dict = {}
    try:
        exec(compile(source, "<fuzz program>", "exec"), ns)
    except Exception as e:  # noqa: BLE001 - any exception is a finding
        return ns, _exception_failure("build error", e, prog)
    outputs = ns["outputs"]
    tensors = [t for t in outputs.values() if isinstance(t, Tensor)]
    try:
        if prog.together and tensors:
            tensors[0].realize(*tensors[1:])
        values = {k: (t.numpy() if isinstance(t, Tensor) else t) for k, t in outputs.items()}
    except Exception as e:  # noqa: BLE001
        return ns, _exception_failure("realize error", e, prog)
    return ns, values


def _normalize(text: str) -> str:
    text = re.sub(r"\S+\.cl:\d+:\d+:\s*", "", text)  # the compiler's temporary file and position
    text = re.sub(r"has no attribute '[^']*'", "has no attribute '...'", text)
    text = re.sub(r"0x[0-9a-f]+", "ADDR", text)
    text = re.sub(r"(?<![A-Za-z_])\d+", "N", text)
    return text.strip()[:200]


def _exception_failure(kind: str, e: Exception, prog: Program) -> Failure:
    message = str(e)
    first = message.splitlines()[0] if message else ""
    if "--- compiler log ---" in message:
        log = message.split("--- compiler log ---", 1)[1].split("--- source ---", 1)[0]
        errors = [re.sub(r"^.*?error:", "error:", line).strip() for line in log.splitlines() if "error:" in line]
        first = "; ".join(dict.fromkeys(errors)) or first
    detail = f"{type(e).__name__}: {_normalize(first)}"
    return Failure(kind, detail, f"{type(e).__name__}: {message[:3000]}", prog)


# --------------------------------------------------------------------------- checking

def op_signature(ins: Instr) -> str:
    """The op and the parameters that change its typing (which kind of constant, on which side)."""
    p = ins.params
    if ins.op.endswith("_const"):
        return f"{ins.op}({type(p['c']).__name__} on the {p['side']})"
    if ins.op == "where":
        return f"where(form={p['form']})"
    if ins.op == "cast":
        return f"cast(to {p['to']})"
    return ins.op


def check_program(prog: Program, counters: dict | None = None) -> Failure | None:
    """Run prog on both sides; the first disagreement as a Failure, or None."""
    center = run_ref(prog)
    ns, values = run_ours(prog)
    # types, dtypes and shapes of every variable: known without running anything (and the
    # root cause when a later op refuses to build)
    typing = _check_types(prog, ns, center)
    if typing is not None:
        return typing
    if isinstance(values, Failure):
        return values
    runs = [center] + [run_ref(prog, seed) for seed in range(1, NOISY_RUNS + 1)] + [run_ref(prog, native32=True)]
    for name in prog.result_names():
        ref = center[name]
        got = values.get(name)
        kind = "forward" if name in prog.outputs else ("second-order" if name.startswith("dd_") else "gradient")
        if got is None and kind != "forward":
            got = np.zeros(ref.shape, NUMPY[ref.dtype])  # backward() leaves .grad None where no gradient flows
        if not isinstance(got, np.ndarray):
            return Failure("not a Tensor", f"{kind} output is {type(got).__name__}", f"{name} is {got!r}", prog, name)
        if got.shape != ref.shape:
            return Failure("shape", f"{kind} output", f"{name} has shape {got.shape}, expected {ref.shape}", prog, name)
        if got.dtype != NUMPY[ref.dtype]:
            return Failure("dtype", f"{kind} output: got {got.dtype}, expected {ref.dtype}",
                           f"{name} has dtype {got.dtype}, expected {ref.dtype}", prog, name)
        problem = compare_values(got, [r[name].numpy() for r in runs], ref.dtype, counters,
                                 inf_may_be_nan=kind != "forward")
        if problem is not None:
            sub, message = problem
            producer = next((op_signature(i) for i in prog.instrs if i.out == name), None)
            detail = sub + (f" at {producer}" if producer else "")
            return Failure(kind, detail, f"{name}: {message}", prog, name)
    return None


def _check_types(prog: Program, ns: dict, center: dict[str, RV]) -> Failure | None:
    """The first variable whose type, dtype or shape differs from the reference's."""
    from tinygradlike import Tensor

    for ins in prog.instrs:
        if ins.out not in ns:  # the build stopped before this op
            return None
        ours, ref = ns[ins.out], center[ins.out]
        code = f"{ins.out} = {OPS[ins.op].code(list(ins.args), ins.params)}"
        if not isinstance(ours, Tensor):
            c = ins.params.get("c")
            what = (f"a numpy scalar on the {ins.params['side']}" if isinstance(c, np.generic) else op_signature(ins))
            return Failure("not a Tensor", f"{what} returned {type(ours).__name__}",
                           f"{code} returned {type(ours).__name__}: {ours!r}", prog, ins.out)
        if ours.dtype.name != ref.dtype:
            return Failure("dtype", f"{op_signature(ins)} of {_dtypes_in(prog, ins, center)}: got {ours.dtype.name}, "
                           f"expected {ref.dtype}", f"{code} has dtype {ours.dtype.name}, expected {ref.dtype}", prog, ins.out)
        if tuple(ours.shape) != ref.shape:
            return Failure("shape", f"{op_signature(ins)}: got a different shape",
                           f"{code} has shape {tuple(ours.shape)}, expected {ref.shape}", prog, ins.out)
    return None


def _dtypes_in(prog: Program, ins: Instr, env: dict[str, RV]) -> str:
    return "(" + ", ".join(env[a].dtype for a in ins.args) + ")"


def compare_values(got: np.ndarray, runs: list[np.ndarray], dtype: str, counters: dict | None = None,
                   inf_may_be_nan: bool = False):
    """None if got agrees with the reference runs (runs[0] the center) wherever they are stable;
    else (kind of mismatch, message). inf_may_be_nan: for gradients, where the reference is
    +-inf a nan is accepted, and where it is nan an inf (0 * inf or inf - inf inside a gradient
    formula is a matter of how the formula is written: abs'(x) * inf, gelu'(inf))."""
    c = runs[0]
    if dtype not in FLOATS:
        stable = np.ones(c.shape, bool)
        for r in runs[1:]:
            stable &= (r == c)
        bad = stable & (got.astype(np.int64) != c.astype(np.int64))
        _count(counters, stable)
        if bad.any():
            return f"wrong {dtype}", _describe(bad, got, c, stable)
        return None
    c = c.astype(np.float64)
    g = got.astype(np.float64)
    rs = [r.astype(np.float64) for r in runs]
    nan = [np.isnan(r) for r in rs]
    all_nan, any_nan = np.logical_and.reduce(nan), np.logical_or.reduce(nan)
    same_inf = np.logical_and.reduce([(np.isinf(r) == np.isinf(c)) & (~np.isinf(c) | (r == c)) for r in rs])
    stable = (all_nan | ~any_nan) & same_inf
    with np.errstate(invalid="ignore", over="ignore"):
        spread = np.zeros(c.shape)
        for r in rs[1:]:
            spread = np.fmax(spread, np.abs(r - c))
        finite_c = np.isfinite(c)
        biggest = np.abs(c[finite_c]).max() if finite_c.any() else 0.0
        rtol, atol, atol_rel = TOLERANCE[dtype]
        tol = rtol * np.abs(c) + atol + atol_rel * biggest + SPREAD_FACTOR * spread
        _count(counters, stable)
        lost_nan = stable & all_nan & ~np.isnan(g) & ~(inf_may_be_nan & np.isinf(g))
        new_nan = stable & ~any_nan & np.isnan(g) & ~(inf_may_be_nan & np.isinf(c))
        inf_wrong = stable & np.isinf(c) & (g != c) & ~(inf_may_be_nan & np.isnan(g))
        off = stable & finite_c & ~np.isnan(g) & ~(np.abs(g - c) <= tol)
    opposite_inf = inf_wrong & (g == -c)
    for mask, kind in [(new_nan, "nan where the reference is a number"), (lost_nan, "a number where the reference is nan"),
                       (inf_wrong & ~opposite_inf, "wrong inf"), (off, "wrong value"),
                       (opposite_inf, "inf of the wrong sign (a signed zero upstream?)")]:
        if mask.any():
            return kind, _describe(mask, got, runs[0], stable, tol)
    return None


def _count(counters, stable):
    if counters is not None:
        counters["elements_compared"] = counters.get("elements_compared", 0) + int(stable.sum())
        counters["elements_unstable"] = counters.get("elements_unstable", 0) + int((~stable).sum())


def _describe(mask, got, expected, stable, tol=None) -> str:
    idx = [tuple(int(i) for i in ix) for ix in zip(*np.nonzero(mask))] if mask.ndim else [()]
    first = idx[0]
    text = (f"{len(idx)} of {mask.size} elements differ ({int((~stable).sum())} unstable ones skipped); "
            f"first at {first}: got {got[first]!r}, expected {expected[first]!r}")
    if tol is not None and np.isfinite(tol[first]):
        text += f" (tolerance {tol[first]:.3g})"
    with np.printoptions(threshold=60, precision=6):
        text += f"\n    got      {np.array2string(np.asarray(got), separator=', ')}"
        text += f"\n    expected {np.array2string(np.asarray(expected), separator=', ')}"
    return text
