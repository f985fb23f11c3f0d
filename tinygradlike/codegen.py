"""Codegen: a kernel group becomes OpenCL C, filled into a template from kernels/.

The fused expression is written as one C statement per node (`float t3 = t1 * t2;`) in
dependency order, so a node used twice in a kernel is computed once and deep chains do not
nest parentheses. Each node is rendered in a *context*: a ShapeTracker from the kernel's
iteration space to the node's own elements. Reading through a VIEW composes its
ShapeTracker onto the context; reading memory renders the composed tracker as index math.

Codegen never imports tensor.py or the runtime: it takes nodes, returns source text.
"""
from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources

import numpy as np

from tinygradlike.dtypes import DType, dtypes
from tinygradlike.graph import Node, Op
from tinygradlike.schedule import KernelGroup, kernel_ops
from tinygradlike.view import ShapeTracker

FAST_MATH = os.environ.get("TGL_FASTMATH", "0") not in ("", "0")


@dataclass(frozen=True)
class RenderedKernel:
    """Everything the runtime needs to build and launch one kernel."""

    name: str
    source: str
    global_size: tuple[int, ...]
    local_size: tuple[int, ...] | None
    inputs: tuple[Node, ...]  # nodes whose memory is passed after `out`, in order
    options: tuple[str, ...] = ()
    flops: int = 0
    nbytes: int = 0
    scratch: tuple[tuple[str, int], ...] = ()  # extra buffers the kernel needs: (ctype, count)
    scalars: tuple = ()  # numpy scalars passed after the scratch buffers (a size-free kernel's n)
    ops: str = ""  # the ops it computes, "matmul+add+where" (schedule.kernel_ops): profiles name it so


@lru_cache(maxsize=None)
def load_template(name: str) -> str:
    return resources.files("tinygradlike.kernels").joinpath(name).read_text()


def fill(template: str, **values) -> str:
    for key, value in values.items():
        template = template.replace("{{" + key + "}}", str(value))
    return template


# ---------------------------------------------------------------------------------------
# literals and ops


def render_const(value, dtype: DType) -> str:
    """The one place a number becomes a C literal of `dtype`.

    Negative literals are parenthesized, so any operator may stand before them (`-(-2.5f)`,
    never `--2.5f`); the most negative int and long are written as expressions because
    `2147483648` alone is not an int; a long literal has its L and a uchar one its cast, so that
    max(x, 3) finds one overload. A float32 (or float16) literal is the value rounded to that type
    first (what the kernel computes with; float16 is computed in float), written with enough
    digits to round-trip."""
    if dtype == dtypes.bool:
        return "1" if value else "0"
    if dtype.is_int:
        value = int(value)
        if dtype == dtypes.uint8:
            return f"((uchar){value})"
        suffix = "L" if dtype == dtypes.int64 else ""
        if value == dtype.limits[0]:
            return f"({value + 1}{suffix}-1)"
        return f"({value}{suffix})" if value < 0 else f"{value}{suffix}"
    single = dtype != dtypes.float64  # float16 and float32 values are floats in a kernel
    if dtype == dtypes.float16:
        with np.errstate(over="ignore"):  # past 65504 is inf, as torch's half
            value = float(np.float16(value))
    value = float(np.float32(value)) if dtype == dtypes.float32 else float(value)
    if math.isnan(value):
        return "NAN" if single else "((double)NAN)"
    if math.isinf(value):
        inf = "INFINITY" if single else "((double)INFINITY)"
        return inf if value > 0 else f"(-{inf})"
    text = repr(value)
    if "e" not in text and "." not in text:
        text += ".0"
    text += "f" if single else ""
    return f"({text})" if text.startswith("-") else text


def _fn(name: str) -> str:
    return f"native_{name}" if FAST_MATH and name in ("exp", "exp2", "log", "log2", "sqrt", "sin", "cos") else name


# int32 and int64 arithmetic wraps, as torch's; in C signed overflow is undefined, so it goes
# through the unsigned type (uchar arithmetic is done in int and wraps when stored as uchar)
_UNSIGNED = {"int": "uint", "long": "ulong"}


def _neg(a, node, _):
    signed = node.dtype.cl_type
    if signed in _UNSIGNED:
        return f"as_{signed}(-as_{_UNSIGNED[signed]}({a[0]}))"
    return f"(!{a[0]})" if node.dtype == dtypes.bool else f"(-{a[0]})"


def _tanh(a, node, _):
    # Past this |x|, tanh rounds to +-1 exactly; PoCL's tanh stops at +-0.99999994 there,
    # which made 1 + tanh(-inf) nonzero (gelu(-inf) = -inf, torch: nan)
    x = a[0]
    saturated = render_const(19.1 if node.dtype == dtypes.float64 else 9.1, node.dtype)
    return f"(({x}!={x})?{x}:fabs({x})>{saturated}?copysign({render_const(1, node.dtype)},{x}):tanh({x}))"


def _exp(name: str):
    # PoCL's exp and tanh turn an argument the compiler knows to be NaN into poison (a float
    # to int conversion inside), and the kernel then drops whole branches: NaN never gets in
    return lambda a, node, _: f"(({a[0]}!={a[0]})?{a[0]}:{_fn(name)}({a[0]}))"


def _call(name: str):
    return lambda a, node, _: f"{_fn(name)}({a[0]})"


def _int_wraps(symbol: str, bool_symbol: str):
    def render(a, node, _):
        signed = node.dtype.cl_type
        if node.dtype.is_int and signed in _UNSIGNED:
            # PoCL turned x - INT_MIN (x + -INT_MIN) into x; unsigned arithmetic wraps by definition
            u = _UNSIGNED[signed]
            return f"as_{signed}(as_{u}({a[0]}){symbol}as_{u}({a[1]}))"
        return f"({a[0]}{bool_symbol if node.dtype == dtypes.bool else symbol}{a[1]})"
    return render


def _cast(x: str, src: DType, dtype: DType) -> str:
    if dtype == dtypes.bool:
        return f"({x}!=0)"
    if dtype == dtypes.float16:  # rounded to half here (to nearest even), held as a float
        return f"tgl_round_half{'_d' if src == dtypes.float64 else ''}({x})"
    return f"(({value_ctype(dtype)}){x})"


# A float rounded to half precision (and read back) through private memory: vstore_half_rte and
# vload_half are in every OpenCL C, while a `half` variable needs cl_khr_fp16
_ROUND_HALF = ("static inline float tgl_round_half(float x) {\n"
               "  ushort h; vstore_half_rte(x, 0, (half*)&h); return vload_half(0, (const half*)&h);\n}")
_ROUND_HALF_D = ("static inline float tgl_round_half_d(double x) {\n"
                 "  ushort h; vstore_half_rte(x, 0, (half*)&h); return vload_half(0, (const half*)&h);\n}")


def half_helpers(body: str) -> str:
    """The half-rounding helpers that `body` calls, to place before it."""
    return "\n".join(h for name, h in (("tgl_round_half(", _ROUND_HALF), ("tgl_round_half_d(", _ROUND_HALF_D))
                     if name in body)


def _extreme(compare: str, name: str):
    def render(a, node, src_dtypes):
        x, y = a
        if src_dtypes[0].is_float:  # numpy semantics: a NaN on either side wins (fmax would drop it)
            return f"(({x}!={x}||{x}{compare}{y})?{x}:{y})"
        return f"{name}({x},{y})"
    return render


# The op table of the code generator: one entry per elementwise op, (argument expressions,
# the node, the sources' dtypes) -> a C expression of the node's dtype.
RENDER = {
    Op.NEG: _neg,
    Op.EXP: _exp("exp"),
    Op.EXP2: _exp("exp2"),
    Op.LOG: _call("log"),
    Op.LOG2: _call("log2"),
    Op.LOG1P: _call("log1p"),
    Op.SQRT: _call("sqrt"),
    Op.SIN: _call("sin"),
    Op.COS: _call("cos"),
    Op.TANH: _tanh,
    Op.ERF: _call("erf"),
    Op.RECIP: lambda a, node, _: f"({render_const(1, node.dtype)}/{a[0]})",
    Op.CAST: lambda a, node, src: _cast(a[0], src[0], node.dtype),
    Op.COPY: lambda a, node, _: a[0],
    Op.DETACH: lambda a, node, _: a[0],
    Op.CUSTOM: lambda a, node, _: a[0],
    Op.ADD: _int_wraps("+", "|"),
    Op.MUL: _int_wraps("*", "&"),
    Op.DIV: lambda a, node, _: f"({a[0]}/{a[1]})",
    Op.POW: lambda a, node, _: f"pow({a[0]},{a[1]})",
    Op.MAX: _extreme(">", "max"),
    Op.MIN: _extreme("<", "min"),
    Op.CMPLT: lambda a, node, _: f"({a[0]}<{a[1]})",
    Op.CMPEQ: lambda a, node, _: f"({a[0]}=={a[1]})",
    Op.WHERE: lambda a, node, _: f"({a[0]}?{a[1]}:{a[2]})",
}


def is_shared_const(node: Node) -> bool:
    """A constant an elementwise kernel takes as an argument instead of baking it into its
    source, so `x * 2 + 1` and `x * 3 + 1` run one program (typing at a prompt compiles once).
    Float constants only, and not the structural ones (0, 1, -1, inf, nan: masks, relu, signs),
    which the compiler folds and which no user changes from call to call."""
    if node.op is not Op.CONST or node.dtype not in (dtypes.float32, dtypes.float64):
        return False
    value = float(node.arg)
    return math.isfinite(value) and value not in (0.0, 1.0, -1.0)


def const_scalar(node: Node):
    """The numpy scalar passed for a shared constant (is_shared_const)."""
    return node.dtype.np.type(node.arg)


def render_op(op: Op, args: list[str], node: Node, src_dtypes: list[DType]) -> str:
    rule = RENDER.get(op)
    if rule is None:
        raise NotImplementedError(f"codegen has no rule for {op}")
    return rule(args, node, src_dtypes)


def storage_ctype(dtype: DType) -> str:
    """How a dtype lives in memory: bool as uchar, since OpenCL buffers cannot hold bool;
    float16 as half."""
    return dtype.cl_type


def value_ctype(dtype: DType) -> str:
    """How a dtype lives in a kernel's variables: bool as bool, float16 as float."""
    return "bool" if dtype == dtypes.bool else "float" if dtype == dtypes.float16 else dtype.cl_type


def result_ctype(dtype: DType) -> str:
    """What a helper returns for storing: the storage type, but float for float16 (a half value
    cannot be held without cl_khr_fp16; render_store rounds it)."""
    return "float" if dtype == dtypes.float16 else storage_ctype(dtype)


def render_load(buffer: str, index: str, dtype: DType) -> str:
    """The C expression reading element `index` of `buffer`, as value_ctype(dtype)."""
    if dtype == dtypes.float16:
        return f"vload_half({index},{buffer})"
    return f"({buffer}[{index}]!=0)" if dtype == dtypes.bool else f"{buffer}[{index}]"


def render_store(buffer: str, index: str, value: str, dtype: DType) -> str:
    """The C statement writing `value` to element `index` of `buffer`: float16 rounded to
    nearest even, as torch's."""
    if dtype == dtypes.float16:
        return f"vstore_half_rte({value}, {index}, {buffer});"
    return f"{buffer}[{index}] = {'(uchar)(' + value + ')' if dtype == dtypes.bool else value};"


def compose(inner: ShapeTracker, outer: ShapeTracker) -> ShapeTracker:
    """The tracker that first applies `outer` (kernel space -> inner's shape), then `inner`."""
    if outer.is_contiguous and outer.size == inner.size:
        return inner if inner.shape == outer.shape else inner.reshape(outer.shape)
    return ShapeTracker(inner.views + outer.views).simplify()


# ---------------------------------------------------------------------------------------
# expression rendering


class ExprRenderer:
    """Writes the fused expression behind one kernel as SSA lines.

    `index` renders a context tracker into (index expression, validity or None) in the
    kernel's own index variables. `loads` are the nodes read from memory; `core` is the
    reduce/matmul node whose value, inside its own kernel, is the variable `acc`.
    """

    def __init__(self, index, is_load, core: Node | None = None, params: dict[int, str] | None = None,
                 const_params: dict[int, str] | None = None):
        self.index = index
        self.is_load = is_load
        self.core = core
        self.params: dict[int, str] = {} if params is None else params
        self.const_params: dict[int, str] = const_params or {}  # id(shared constant) -> its argument
        self.inputs: list[Node] = []
        self.lines: list[str] = []
        self.memo: dict[tuple[int, ShapeTracker], str] = {}
        self.index_memo: dict[ShapeTracker, tuple[str, str | None]] = {}
        self.load_contexts: list[ShapeTracker] = []  # how each memory read is indexed
        self.count = 0

    def param_for(self, node: Node) -> str:
        if id(node) not in self.params:
            self.params[id(node)] = f"b{len(self.params)}"
            self.inputs.append(node)
        return self.params[id(node)]

    def rendered_index(self, ctx: ShapeTracker) -> tuple[str, str | None]:
        if ctx not in self.index_memo:
            self.index_memo[ctx] = self.index(ctx)
        return self.index_memo[ctx]

    def children(self, node: Node, ctx: ShapeTracker) -> list[tuple[Node, ShapeTracker]]:
        if node is self.core or self.is_load(node) or node.op is Op.CONST:
            return []
        if node.op is Op.VIEW:
            return [(node.base, compose(node.arg, ctx))]
        return [(src, ctx) for src in node.srcs]

    def render(self, root: Node, ctx: ShapeTracker) -> str:
        """Emit the lines computing `root` in context `ctx`; return the variable holding it."""
        stack = [(root, ctx, False)]
        while stack:
            node, c, ready = stack.pop()
            key = (id(node), c)
            if key in self.memo:
                continue
            kids = self.children(node, c)
            missing = [(k, kc) for k, kc in kids if (id(k), kc) not in self.memo]
            if missing and not ready:
                stack.append((node, c, True))
                stack.extend((k, kc, False) for k, kc in reversed(missing))
                continue
            self.memo[key] = self.emit(node, c, [self.memo[(id(k), kc)] for k, kc in kids])
        return self.memo[(id(root), ctx)]

    def emit(self, node: Node, ctx: ShapeTracker, args: list[str]) -> str:
        if node.op is Op.VIEW:
            return args[0]
        if node is self.core:
            if not ctx.is_contiguous:
                raise AssertionError("a fused reduce/matmul must be read in place")
            return "acc"
        if self.is_load(node):
            self.load_contexts.append(ctx)
            idx, valid = self.rendered_index(ctx)
            load = render_load(self.param_for(node), idx, node.dtype)
            expr = load if valid is None else f"(({valid})?{load}:{render_const(0, node.dtype)})"
        else:
            if node.op is Op.CONST:
                expr = self.const_params.get(id(node)) or render_const(node.arg, node.dtype)
            else:
                expr = render_op(node.op, args, node, [s.dtype for s in node.srcs])
            _, valid = self.rendered_index(ctx)
            if valid is not None:  # outside a pad every computed node reads as zero, not as f(0)
                expr = f"(({valid})?{expr}:{render_const(0, node.dtype)})"
        if node.op is Op.CONST and valid is None:
            return expr
        name = f"t{self.count}"
        self.count += 1
        self.lines.append(f"  {value_ctype(node.dtype)} {name} = {expr};")
        return name


# ---------------------------------------------------------------------------------------
# kernels


def _header(dtypes_used, body: str = "") -> str:
    """The pragmas and helpers a kernel needs: fp64 for doubles, half rounding where `body` casts."""
    doubles = dtypes.float64 in dtypes_used or "tgl_round_half_d(" in body
    fp64 = "#pragma OPENCL EXTENSION cl_khr_fp64 : enable" if doubles else ""
    return "\n".join(filter(None, [fp64, half_helpers(body)]))


def _param_list(renderer: ExprRenderer) -> list[str]:
    return [f"__global const {storage_ctype(n.dtype)}* restrict {renderer.params[id(n)]}" for n in renderer.inputs]


def _kernel_name(prefix: str, shape: tuple[int, ...], tag: str = "") -> str:
    """Kind and shape (E_32_128, R_10), and a tag that tells apart kernels of one shape."""
    return "_".join([prefix, *map(str, shape), *([tag] if tag else [])])


def _dtypes_of(group_root: Node, inputs: list[Node]) -> set[DType]:
    return {group_root.dtype, *(n.dtype for n in inputs)}


INT_LIMIT = 2**31 - 1


def _index_type(renderers: list[ExprRenderer], *sizes: int) -> str:
    """`int` for index math, unless some count, memory size or view span of the kernel reaches
    2^31: then `long`, so a 2^31-element sum (expanded and padded views included) indexes right.
    64-bit division is slower, so only the kernels that need it pay for it."""
    spans = list(sizes)
    for renderer in renderers:
        spans += [n.base.size for n in renderer.inputs]
        for st in renderer.index_memo:
            for view in st.views:
                spans.append(view.size)
                spans.append(abs(view.offset) + sum((d - 1) * abs(s) for d, s in zip(view.shape, view.strides)))
    return "long" if max(spans, default=0) >= INT_LIMIT else "int"


def _round_up(n: int, multiple: int) -> int:
    return (n + multiple - 1) // multiple * multiple


def render_elementwise(group: KernelGroup, is_load, device, tag: str = "", consts: list[Node] = ()) -> RenderedKernel:
    """`consts`: the shared constants (is_shared_const), passed as arguments c0, c1, ... in
    this order, before the size argument of a size-free kernel."""
    root = group.root
    ctx = ShapeTracker.from_shape(root.shape)
    const_params = {id(node): f"c{k}" for k, node in enumerate(consts)}
    renderer = ExprRenderer(lambda st: st.render_linear("gid"), is_load, const_params=const_params)
    out_names = ["out"] + [f"out{i}" for i in range(1, len(group.roots))]
    stores = []
    for out_name, r in zip(out_names, group.roots):  # siblings share the renderer: common parts once
        result = renderer.render(r, ctx)
        stores.append("  " + render_store(out_name, "gid", result, r.dtype))
    local, global_size = _elementwise_launch(root.size, device)
    index_type = _index_type([renderer], global_size)
    # A kernel that reads each input element for element, or one element of it for all (no
    # slice, transpose or broadcast of a row), has no size in its index math: it takes the
    # size as an argument, so one program serves every size (the Adam update of each
    # parameter, a batch of another length). Others keep their sizes and strides as
    # constants, which the compiler folds.
    loads = [renderer.index_memo[st][0] for st in renderer.load_contexts]
    flat = (index_type == "int" and all(index == "gid" or "gid" not in index for index in loads)
            and all(valid is None for _, valid in renderer.index_memo.values()))
    size = "n" if flat else str(root.size)
    # the global size is rounded up to whole work-groups only when it must be; the bounds check
    # that this needs stops some CPU compilers (PoCL 3.0's LLVM 14) from vectorizing: 1.5x slower
    guard = f"  if (gid >= {size}) return;  // the last work-group runs past the end" if global_size != root.size else ""
    params = [f"__global {storage_ctype(r.dtype)}* restrict {out_name}" for out_name, r in zip(out_names, group.roots)]
    params += _param_list(renderer) + [f"const {value_ctype(node.dtype)} c{k}" for k, node in enumerate(consts)]
    params += ["const int n"] if flat else []
    header = _header(_dtypes_of(root, renderer.inputs) | {r.dtype for r in group.roots}, "\n".join(renderer.lines))
    if flat:  # the name must not tell sizes apart either: tagged by what the kernel does
        tag = hashlib.sha1("\n".join([header, *params, guard, *renderer.lines, *stores]).encode()).hexdigest()[:4]
    name = _kernel_name("E", ("n",) if flat else root.shape, tag)
    source = fill(
        load_template("elementwise.cl"),
        NAME=name,
        IDX=index_type,
        HEADER=header,
        PARAMS=", ".join(params),
        GUARD=guard,
        BODY="\n".join(renderer.lines),
        STORES="\n".join(stores),
    )
    nbytes = sum(r.size * r.dtype.itemsize for r in group.roots) + sum(n.size * n.dtype.itemsize for n in renderer.inputs)
    return RenderedKernel(name, source, (global_size,), (local,), tuple(renderer.inputs),
                          flops=root.size * max(1, len(renderer.lines)), nbytes=nbytes,
                          scalars=tuple(const_scalar(node) for node in consts) + ((np.int32(root.size),) if flat else ()))


def _elementwise_launch(size: int, device) -> tuple[int, int]:
    """(local size, global size): a work-group size that divides the size if one does."""
    preferred = 256 if device.is_gpu else 64
    local = preferred
    while local > 8 and size % local:
        local //= 2
    if size % local == 0:
        return min(local, size), size
    local = min(preferred, size)
    return local, _round_up(size, local)


def _reduce_layout(core: Node) -> tuple[ShapeTracker, int, int]:
    """The context that maps the kernel's (o, r) grid onto the reduce's input elements."""
    src = core.srcs[0]
    axes = core.arg[1]
    keep = [i for i in range(len(src.shape)) if i not in axes]
    outputs = math.prod(src.shape[i] for i in keep)
    reduce_size = math.prod(src.shape[i] for i in axes)
    ctx = ShapeTracker.from_shape(src.shape).permute(tuple(keep + list(axes))).reshape((outputs, reduce_size))
    return ctx, outputs, reduce_size


def _outputs_are_neighbours(load_contexts: list[ShapeTracker]) -> bool:
    """Do the reduce's inputs sit closer together along the outputs than along the reduction?"""
    votes = 0
    for st in load_contexts:
        if len(st.views) == 1 and len(st.shape) == 2:
            stride_o, stride_r = (abs(s) for s in st.views[0].strides)
            votes += 1 if stride_r > stride_o > 0 or (stride_r == 0 and stride_o > 0) else -1
    return votes > 0


def _reduce_strategy(outputs: int, reduce_size: int, device, outputs_inner: bool = False) -> tuple[int, int, int]:
    """(strategy, local size, groups per output); kernels/reduce.cl explains both strategies.

    Enough outputs to keep every core busy: one work-item per output (strategy 0).
    Otherwise each output is split over several work-groups (strategy 1): single work-item
    groups on a CPU, where a contiguous front-to-back sum vectorizes; wide groups on a GPU.
    """
    parallel = max(1, device.compute_units) * (64 if device.is_gpu else 8)
    if not device.is_gpu and outputs_inner and outputs >= 8 * parallel:
        return 2, 1, 1
    if outputs >= parallel or reduce_size <= 1024:
        return 0, 1, 1
    local = 256 if device.is_gpu else 1
    min_chunk = 4096 if device.is_gpu else 16384
    groups = max(1, min(-(-parallel // outputs), reduce_size // min_chunk))
    return 1, local, groups


def _reduce_combine(reduce_op: Op, dtype: DType) -> tuple[str, str, str]:
    """(identity literal, combine macro name, its #define) of a reduction. Float max and min let
    a NaN win, as numpy and torch do; fmax/fmin would drop it."""
    if reduce_op is Op.ADD:
        return render_const(0, dtype), "TGL_ADD", "#define TGL_ADD(a, b) ((a) + (b))"
    bound = dtype.limits[1 if reduce_op is Op.MIN else 0]
    name, cmp, fn = ("TGL_MIN", "<", "min") if reduce_op is Op.MIN else ("TGL_MAX", ">", "max")
    body = f"(((a) != (a) || (a) {cmp} (b)) ? (a) : (b))" if dtype.is_float else f"{fn}(a, b)"
    return render_const(bound, dtype), name, f"#define {name}(a, b) {body}"


def render_reduce(group: KernelGroup, is_load, device, tag: str = "") -> RenderedKernel:
    core, root = group.core, group.root
    reduce_op = core.arg[0]
    ctx, outputs, reduce_size = _reduce_layout(core)
    acc_t = value_ctype(core.dtype)

    params: dict[int, str] = {}
    prologue = ExprRenderer(lambda st: st.render(["o", "r"]), is_load, params=params)
    value = prologue.render(core.srcs[0], ctx)
    epilogue = ExprRenderer(lambda st: st.render_linear("o"), is_load, core=core, params=params)
    result = epilogue.render(root, ShapeTracker.from_shape(root.shape))
    inputs = prologue.inputs + epilogue.inputs
    buffer_params = [f"__global const {storage_ctype(n.dtype)}* restrict {params[id(n)]}" for n in inputs]
    arg_names = "".join(f", {params[id(n)]}" for n in inputs)
    fn_params = "".join(", " + p for p in buffer_params)
    idx = _index_type([prologue, epilogue], outputs * reduce_size)
    functions = "\n".join([
        f"static inline {acc_t} tgl_value({idx} o, {idx} r{fn_params}) {{",
        *prologue.lines, f"  return {value};", "}",
        f"static inline {result_ctype(root.dtype)} tgl_result({acc_t} acc, {idx} o{fn_params}) {{",
        *epilogue.lines, f"  return ({result_ctype(root.dtype)})({result});", "}",
    ])
    store = render_store("out", "(i)", "(v)", root.dtype).rstrip(";")
    identity, combine, combine_def = _reduce_combine(reduce_op, core.dtype)
    outputs_inner = _outputs_are_neighbours(prologue.load_contexts)
    strategy, local, groups_per_output = _reduce_strategy(outputs, reduce_size, device, outputs_inner)
    chunk = _round_up(-(-reduce_size // groups_per_output), 8 * local)
    name = _kernel_name("R", root.shape, tag)
    source = fill(
        load_template("reduce.cl"),
        NAME=name,
        IDX=idx,
        HEADER="\n".join(filter(None, [_header(_dtypes_of(root, inputs) | {core.dtype}, functions), combine_def,
                                        f"#define TGL_COMPENSATED {int(reduce_op is Op.ADD and core.dtype.is_float)}",
                                        f"#define TGL_STORE(i, v) {store}"])),
        FUNCTIONS=functions,
        STRATEGY=strategy,
        FN_PARAMS=fn_params,
        PARAMS=", ".join([f"__global {storage_ctype(root.dtype)}* restrict out", *buffer_params]),
        ARGS=arg_names,
        ACC_T=acc_t,
        IDENTITY=identity,
        COMBINE=combine,
        OUTPUTS=outputs,
        REDUCE_SIZE=reduce_size,
        LOCAL=local,
        GROUPS_PER_OUTPUT=groups_per_output,
        CHUNK=chunk,
    )
    nbytes = outputs * root.dtype.itemsize + sum(n.size * n.dtype.itemsize for n in inputs)
    flops = outputs * reduce_size * max(1, len(prologue.lines))
    if strategy in (0, 2):
        items = outputs if strategy == 0 else -(-outputs // 8)
        local_size = min(64 if device.is_gpu else 8, items)
        return RenderedKernel(name, source, (_round_up(items, local_size),), (local_size,), tuple(inputs),
                              flops=flops, nbytes=nbytes)
    scratch = ((acc_t, outputs * groups_per_output), ("int", outputs))
    return RenderedKernel(name, source, (outputs * groups_per_output * local,), (local,), tuple(inputs),
                          flops=flops, nbytes=nbytes, scratch=scratch)


def _operand_layout(node: Node, is_load) -> tuple[Node, int, tuple[int, ...]]:
    """(memory node, offset, element strides) of a matmul operand read through its view."""
    if node.op is Op.VIEW:
        base, st = node.base, node.arg
    else:
        base, st = node, ShapeTracker.from_shape(node.shape)
    if not is_load(base) or len(st.views) != 1 or st.views[0].mask is not None:
        raise AssertionError("matmul operands must be memory read through one plain strided view")
    view = st.views[0]
    return base, view.offset, view.strides


def render_matmul_group(group: KernelGroup, is_load, device, tag: str = "") -> RenderedKernel:
    from tinygradlike.matmul_kernel import MatmulSpec, render_matmul

    core, root = group.core, group.root
    a_node, b_node = core.srcs
    a_base, a_offset, a_strides = _operand_layout(a_node, is_load)
    b_base, b_offset, b_strides = _operand_layout(b_node, is_load)
    *batch, M, N = core.shape
    K = a_node.shape[-1]
    # The epilogue names everything it reads itself (b0, b1, ...), the matmul's own operands
    # included: those are passed again as extra arguments, since the helper function cannot see
    # the kernel's A and B. It returns the root's own type: `(a @ b) > 0` stores bools.
    epilogue = ExprRenderer(lambda st: st.render_linear("oidx"), is_load, core=core)
    result = epilogue.render(root, ShapeTracker.from_shape(root.shape))
    extra_inputs = epilogue.inputs
    extra_params = tuple(f"__global const {storage_ctype(n.dtype)}* restrict {epilogue.params[id(n)]}"
                         for n in extra_inputs)
    acc_t = value_ctype(core.dtype)
    out_t = storage_ctype(root.dtype)
    if epilogue.lines or result != "acc" or root.dtype != core.dtype:
        arg_names = "".join(f", {epilogue.params[id(n)]}" for n in extra_inputs)
        ret_t = result_ctype(root.dtype)
        preamble = "\n".join(filter(None, [
            _header(_dtypes_of(root, extra_inputs), "\n".join(epilogue.lines)),
            f"static inline {ret_t} tgl_epilogue({acc_t} acc, int oidx{''.join(', ' + p for p in extra_params)}) {{",
            *epilogue.lines, f"  return ({ret_t})({result});", "}",
        ]))
        epilogue_expr = f"tgl_epilogue(acc, oidx{arg_names})"
    else:
        preamble, epilogue_expr = "", "acc"
    spec = MatmulSpec(
        batch_shape=tuple(batch), M=M, N=N, K=K,
        a_offset=a_offset, a_strides=a_strides, b_offset=b_offset, b_strides=b_strides,
        dtype=acc_t, in_dtype=storage_ctype(core.dtype), out_dtype=out_t, epilogue=epilogue_expr,
        extra_params=extra_params, preamble=preamble,
    )
    shape = "x".join(map(str, (*batch, M, N, K)))
    rendered = render_matmul(spec, device, suffix=f"_{shape}_{tag}" if tag else f"_{shape}")
    # when A and B are the same memory, the kernel still takes two pointers to it
    inputs = (a_base, b_base, *extra_inputs)
    nbytes = sum(n.size * n.dtype.itemsize for n in (root, a_base, b_base))
    return RenderedKernel(rendered.name, rendered.source, rendered.global_size, rendered.local_size, inputs,
                          options=rendered.options, flops=rendered.flops, nbytes=nbytes)


# ---------------------------------------------------------------------------------------
# the render cache: a training step renders the same kernels every time


def group_signature(group: KernelGroup, is_load, device) -> tuple[tuple, list[Node], list[Node]]:
    """Everything the rendered source depends on, as a hashable key, the memory nodes the
    kernel reads and the constants it takes as arguments (an elementwise kernel's shared
    constants, keyed by dtype, not value), each in a fixed order. Walking the group is far
    cheaper than rendering it."""
    pos: dict[int, int] = {}
    entries: list[tuple] = []
    loads: list[Node] = []
    consts: list[Node] = []
    share = group.kind == "elementwise"
    stack = [(root, False) for root in reversed(group.roots)]
    while stack:
        node, expanded = stack.pop()
        if id(node) in pos:
            continue
        if is_load(node) or node.op is Op.CONST:
            pos[id(node)] = len(entries)
            if node.op is Op.CONST and not is_load(node) and share and is_shared_const(node):
                entries.append(("argument", len(consts), node.dtype.name))
                consts.append(node)
            elif node.op is Op.CONST and not is_load(node):
                entries.append(("const", repr(node.arg), node.dtype.name))
            else:
                entries.append(("load", len(loads), node.dtype.name, node.shape))
                loads.append(node)
            continue
        srcs = (node.base,) if node.op is Op.VIEW else node.srcs
        if not expanded:
            stack.append((node, True))
            stack.extend((src, False) for src in reversed(srcs) if id(src) not in pos)
            continue
        pos[id(node)] = len(entries)
        arg = None if node.op is Op.CUSTOM else node.arg  # a custom op's arg holds graph nodes: not source
        entries.append((node.op, arg, node.dtype.name, node.shape, node is group.core,
                        tuple(pos[id(src)] for src in srcs)))
    roots = tuple(pos[id(root)] for root in group.roots)
    return (group.kind, device.cache_key, FAST_MATH, roots, tuple(entries)), loads, consts


# signature -> (the rendered kernel without inputs, which of the signature's loads each input is).
# No graph nodes are kept here: a cached node would keep its device memory alive for good.
_rendered: dict[tuple, tuple[RenderedKernel, tuple[int, ...]]] = {}


def render_group(group: KernelGroup, is_load, device) -> RenderedKernel:
    """Render one kernel group; `is_load(node)` says which nodes are read from memory.

    A group with the same signature as one rendered before reuses that source (only the
    memory it reads differs), so a repeated training step does no string work at all."""
    schedule_is_load = is_load

    roots = {id(root) for root in group.roots}

    def is_load(node: Node) -> bool:  # noqa: F811 - the kernel's own results are computed, not read
        return id(node) not in roots and schedule_is_load(node)

    key, loads, consts = group_signature(group, is_load, device)
    cached = _rendered.get(key)
    if cached is not None:  # the same source; this graph's memory and constants
        rendered, order = cached
        values = tuple(const_scalar(node) for node in consts)
        return replace(rendered, inputs=tuple(loads[i] for i in order), scalars=values + rendered.scalars[len(values):])
    # a short, stable tag of the signature tells apart different kernels of one shape in
    # TGL_DEBUG lines and profiles (stable: repr, not hash(), which changes per process)
    tag = hashlib.sha1(repr(key).encode()).hexdigest()[:4]
    if group.kind == "elementwise":
        rendered = render_elementwise(group, is_load, device, tag, consts)
    else:
        rendered = (render_reduce if group.kind == "reduce" else render_matmul_group)(group, is_load, device, tag)
    rendered = replace(rendered, ops=kernel_ops(group, is_load))  # kept in the cache: named once per signature
    where = {id(node): i for i, node in enumerate(loads)}
    _rendered[key] = (replace(rendered, inputs=()), tuple(where[id(node)] for node in rendered.inputs))
    return rendered

