"""Convolutions and pooling over images (N, C, H, W), composed from movement ops, one
matmul and elementwise ops, so every gradient is derived.

conv2d is im2col: the kh*kw strided (and dilated) windows of the padded input are views, stacked
into one (N*OH*OW, C*kh*kw) matrix and multiplied by the flattened weight; with groups it is a
batch of G such matmuls. conv_transpose2d is the conv2d that its gradient would be: the input
spread out by the stride (zeros between), padded, convolved with the flipped kernel whose in and
out channels are swapped. Pooling takes the elementwise max or sum of the windows, which fuses
into one kernel.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from tinygradlike.tensor import Tensor

IntPair = int | Sequence[int]


def pair(v: IntPair, what: str = "argument") -> tuple[int, int]:
    """(v, v) for an int, (v[0], v[1]) for a pair; anything else is a ValueError."""
    if isinstance(v, (int, np.integer)):
        return int(v), int(v)
    if len(v) != 2:
        raise ValueError(f"{what} must be an int or a pair of ints, got {v!r}")
    return int(v[0]), int(v[1])


def windows(x: Tensor, kernel: tuple[int, int], stride: tuple[int, int],
            dilation: tuple[int, int] = (1, 1)) -> list[Tensor]:
    """The kh*kw views of x (N, C, H, W) that a kernel position sees, each (N, C, OH, OW): view
    (i, j) holds x[n, c, d*i + s*oh, d*j + s*ow]. No memory is copied."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    oh, ow = (x.shape[2] - dh * (kh - 1) - 1) // sh + 1, (x.shape[3] - dw * (kw - 1) - 1) // sw + 1
    if oh < 1 or ow < 1:
        raise ValueError(f"a {kh}x{kw} window (dilation {dilation}) does not fit in an input of shape {x.shape}")
    return [x[:, :, dh * i:dh * i + sh * (oh - 1) + 1:sh, dw * j:dw * j + sw * (ow - 1) + 1:sw]
            for i in range(kh) for j in range(kw)]


def _check_image(x: Tensor, what: str) -> None:
    if not isinstance(x, Tensor) or x.ndim != 4:
        raise ValueError(f"{what} needs an input of shape (N, C, H, W), got "
                         f"{x.shape if isinstance(x, Tensor) else type(x).__name__}")


def _pad_spatial(x: Tensor, padding: tuple[int, int], value: float = 0.0) -> Tensor:
    ph, pw = padding
    if ph < 0 or pw < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    return x.pad(((0, 0), (0, 0), (ph, ph), (pw, pw)), value=value)


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntPair = 1, padding: IntPair = 0,
           dilation: IntPair = 1, groups: int = 1) -> Tensor:
    """2-D cross-correlation as torch's F.conv2d: x (N, C, H, W), weight (O, C/groups, kh, kw),
    bias (O,) or None; zero padding, stride, dilation and groups per torch. Result (N, O, OH, OW)."""
    _check_image(x, "conv2d")
    if weight.ndim != 4:
        raise ValueError(f"conv2d needs a weight of shape (O, C/groups, kh, kw), got {weight.shape}")
    out_ch, group_ch, kh, kw = weight.shape
    if groups < 1 or x.shape[1] % groups or out_ch % groups:
        raise ValueError(f"conv2d: groups={groups} must divide the input channels ({x.shape[1]}) and the "
                         f"output channels ({out_ch})")
    if x.shape[1] != group_ch * groups:
        raise ValueError(f"conv2d: input {x.shape} has {x.shape[1]} channels, weight {weight.shape} expects "
                         f"{group_ch} per group x {groups} groups = {group_ch * groups}")
    if bias is not None and bias.shape != (out_ch,):
        raise ValueError(f"conv2d: bias must have shape ({out_ch},), got {bias.shape}")
    stride, dilation = pair(stride, "stride"), pair(dilation, "dilation")
    if min(stride) < 1 or min(dilation) < 1:
        raise ValueError(f"conv2d: stride {stride} and dilation {dilation} must be >= 1")
    x = _pad_spatial(x, pair(padding, "padding"))
    # channels last inside each window, so the stacked patches are already the im2col layout
    patches = [w.permute(0, 2, 3, 1) for w in windows(x, (kh, kw), stride, dilation)]
    n, oh, ow, _ = patches[0].shape
    cols = Tensor.stack(*patches, dim=-1) if len(patches) > 1 else patches[0].unsqueeze(-1)
    k = group_ch * kh * kw
    if groups == 1:
        out = cols.reshape(n * oh * ow, k) @ weight.reshape(out_ch, k).T  # column = (c, i, j)
    else:  # one matmul per group, batched: (G, N*OH*OW, k) @ (G, k, O/G)
        cols = cols.reshape(n * oh * ow, groups, k).permute(1, 0, 2)
        w = weight.reshape(groups, out_ch // groups, k).permute(0, 2, 1)
        out = (cols @ w).permute(1, 0, 2).reshape(n * oh * ow, out_ch)
    if bias is not None:
        out = out + bias
    return out.reshape(n, oh, ow, out_ch).permute(0, 3, 1, 2)


def _spread(x: Tensor, stride: tuple[int, int]) -> Tensor:
    """x with stride-1 zeros between its pixels: (H, W) -> ((H-1)*sh + 1, (W-1)*sw + 1). Views only."""
    sh, sw = stride
    if (sh, sw) == (1, 1):
        return x
    n, c, h, w = x.shape
    spread = x.reshape(n, c, h, 1, w, 1).pad(((0, 0), (0, 0), (0, 0), (0, sh - 1), (0, 0), (0, sw - 1)))
    return spread.reshape(n, c, h * sh, w * sw)[:, :, :(h - 1) * sh + 1, :(w - 1) * sw + 1]


def conv_transpose2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntPair = 1,
                     padding: IntPair = 0, output_padding: IntPair = 0, groups: int = 1,
                     dilation: IntPair = 1) -> Tensor:
    """The transposed convolution (the gradient of conv2d with respect to its input), as torch's
    F.conv_transpose2d: x (N, C, H, W), weight (C, O/groups, kh, kw), bias (O,) or None. The
    result is (N, O, (H-1)*sh - 2*ph + dh*(kh-1) + oph + 1, likewise W); output_padding must be
    smaller than the stride or the dilation, as torch requires."""
    _check_image(x, "conv_transpose2d")
    if weight.ndim != 4 or weight.shape[0] != x.shape[1]:
        raise ValueError(f"conv_transpose2d needs weight (C, O/groups, kh, kw) with C = the input's "
                         f"{x.shape[1] if x.ndim == 4 else '?'} channels, got {weight.shape}")
    in_ch, group_out, kh, kw = weight.shape
    if groups < 1 or in_ch % groups:
        raise ValueError(f"conv_transpose2d: groups={groups} must divide the input channels ({in_ch})")
    stride, padding = pair(stride, "stride"), pair(padding, "padding")
    dilation, output_padding = pair(dilation, "dilation"), pair(output_padding, "output_padding")
    if min(stride) < 1 or min(dilation) < 1 or min(padding) < 0 or min(output_padding) < 0:
        raise ValueError(f"conv_transpose2d: stride {stride} and dilation {dilation} must be >= 1, padding "
                         f"{padding} and output_padding {output_padding} >= 0")
    for op, s, d in zip(output_padding, stride, dilation):
        if op >= max(s, d):
            raise ValueError(f"conv_transpose2d: output_padding {output_padding} must be smaller than the "
                             f"stride {stride} or the dilation {dilation}")
    # the forward conv's kernel: in/out channels swapped within each group, flipped in space
    w = weight.reshape(groups, in_ch // groups, group_out, kh, kw).permute(0, 2, 1, 3, 4)
    w = w.reshape(groups * group_out, in_ch // groups, kh, kw).flip((2, 3))
    spread = _spread(x, stride)
    edges = []
    for k, d, p, op in zip((kh, kw), dilation, padding, output_padding):
        before = d * (k - 1) - p
        edges.append((before, before + op))
    # a padding larger than the kernel's reach cuts the spread input instead of padding it
    cut = [(max(-b, 0), spread.shape[2 + i] - max(-a, 0)) for i, (b, a) in enumerate(edges)]
    if any(lo >= hi for lo, hi in cut):
        raise ValueError(f"conv_transpose2d: padding {padding} leaves no output for input {x.shape} "
                         f"and kernel {(kh, kw)}")
    spread = spread.shrink([None, None, *cut])
    spread = spread.pad(((0, 0), (0, 0), *((max(b, 0), max(a, 0)) for b, a in edges)))
    return conv2d(spread, w, bias, 1, 0, dilation, groups)


def max_pool2d(x: Tensor, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0,
               dilation: IntPair = 1) -> Tensor:
    """Max over kh*kw windows of x (N, C, H, W), as torch's F.max_pool2d: stride defaults to the
    kernel size, padding (at most half the kernel) counts as -inf, rows and columns no window
    covers are dropped. Non-overlapping windows are a reshape and one max reduce; others the
    elementwise maximum of the windows (one kernel)."""
    _check_image(x, "max_pool2d")
    kernel = pair(kernel_size, "kernel_size")
    stride = pair(stride, "stride") if stride is not None else kernel
    padding, dilation = pair(padding, "padding"), pair(dilation, "dilation")
    _check_pool_padding(kernel, padding, "max_pool2d")
    if stride == kernel and padding == (0, 0) and dilation == (1, 1):
        (kh, kw), (n, c, h, w) = kernel, x.shape
        oh, ow = h // kh, w // kw
        if oh < 1 or ow < 1:
            raise ValueError(f"max_pool2d: a {kh}x{kw} window does not fit in an input of shape {x.shape}")
        x = x[:, :, :oh * kh, :ow * kw]  # torch drops the rows and columns no window covers
        return x.reshape(n, c, oh, kh, ow, kw).max(axis=(3, 5))
    out = None
    for window in windows(_pad_spatial(x, padding, -math.inf), kernel, stride, dilation):
        out = window if out is None else out.maximum(window)
    return out


def avg_pool2d(x: Tensor, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0,
               count_include_pad: bool = True) -> Tensor:
    """Mean over kh*kw windows of x (N, C, H, W), as torch's F.avg_pool2d: stride defaults to the
    kernel size, zero padding (at most half the kernel) is counted in the mean unless
    count_include_pad=False, rows and columns no window covers are dropped. One kernel."""
    _check_image(x, "avg_pool2d")
    kernel = pair(kernel_size, "kernel_size")
    stride = pair(stride, "stride") if stride is not None else kernel
    padding = pair(padding, "padding")
    _check_pool_padding(kernel, padding, "avg_pool2d")
    x = x if x.dtype.is_float else x.float()
    total = None
    for window in windows(_pad_spatial(x, padding), kernel, stride):
        total = window if total is None else total + window
    if count_include_pad or padding == (0, 0):
        return total * (1.0 / (kernel[0] * kernel[1]))
    # how many real pixels each window holds: known on the host, uploaded as one constant row
    counts = _window_counts(x.shape[2:], kernel, stride, padding)
    return total / Tensor(counts.astype(x.dtype.np))


def _window_counts(size: tuple[int, int], kernel, stride, padding) -> np.ndarray:
    counts = []
    for n, k, s, p in zip(size, kernel, stride, padding):
        out = (n + 2 * p - k) // s + 1
        starts = np.arange(out) * s - p
        counts.append(np.minimum(starts + k, n) - np.maximum(starts, 0))
    return np.outer(counts[0], counts[1])


def _check_pool_padding(kernel: tuple[int, int], padding: tuple[int, int], what: str) -> None:
    if any(p < 0 or p > k // 2 for p, k in zip(padding, kernel)):
        raise ValueError(f"{what}: padding {padding} must be >= 0 and at most half the kernel {kernel}, as torch")


def interpolate(x: Tensor, size: int | Sequence[int] | None = None,
                scale_factor: float | Sequence[float] | None = None, mode: str = "nearest") -> Tensor:
    """Nearest-neighbour resizing of x (N, C, L) or (N, C, H, W), as torch's F.interpolate with
    its default mode: give the output `size` or a `scale_factor` (then the size is
    floor(input * scale_factor)). Output pixel i reads input pixel floor(i * scale), scale =
    input/output (or 1/scale_factor), computed in float32 as torch does. Integer upscaling is
    a broadcast view; other factors pick rows with a host index (one reduce per axis)."""
    if mode != "nearest":
        raise NotImplementedError(f"interpolate: only mode='nearest' is implemented, got {mode!r}")
    if not isinstance(x, Tensor) or x.ndim not in (3, 4):
        raise ValueError(f"interpolate needs an input of shape (N, C, L) or (N, C, H, W), got "
                         f"{x.shape if isinstance(x, Tensor) else type(x).__name__}")
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate needs exactly one of size and scale_factor")
    spatial = x.shape[2:]
    if size is not None:
        sizes = (size,) * len(spatial) if isinstance(size, (int, np.integer)) else tuple(size)
        scales = [None] * len(spatial)
    else:
        scales = (scale_factor,) * len(spatial) if isinstance(scale_factor, (int, float)) else tuple(scale_factor)
        sizes = tuple(int(math.floor(n * float(s))) for n, s in zip(spatial, scales))
    if len(sizes) != len(spatial) or len(scales) != len(spatial) or any(int(s) < 1 for s in sizes):
        raise ValueError(f"interpolate: output size {sizes} must give one size >= 1 per spatial dimension "
                         f"of {x.shape}")
    for axis, (n, out, scale) in enumerate(zip(spatial, sizes, scales), start=2):
        x = _nearest_axis(x, axis, n, int(out), scale)
    return x


def _nearest_axis(x: Tensor, axis: int, n: int, out: int, scale_factor: float | None) -> Tensor:
    source = _nearest_sources(n, out, scale_factor)
    if np.array_equal(source, np.arange(out)):  # the first `out` pixels (all of them when out == n)
        return x.shrink([(0, out) if d == axis else None for d in range(x.ndim)])
    if out % n == 0 and np.array_equal(source, np.arange(out) // (out // n)):  # each pixel repeated
        shape = x.shape
        spread = x.unsqueeze(axis + 1).expand(*shape[:axis + 1], out // n, *shape[axis + 1:])
        return spread.reshape(*shape[:axis], out, *shape[axis + 1:])
    key = (slice(None),) * axis + (source,)
    return x[key]


def _nearest_sources(n: int, out: int, scale_factor: float | None) -> np.ndarray:
    """The input pixel each output pixel reads, by torch's nearest rule (float32 arithmetic)."""
    if out == n:
        return np.arange(out)
    if scale_factor is None:
        scale = np.float32(n) / np.float32(out)
    else:
        scale = np.float32(1.0 / float(scale_factor))
    src = np.floor(np.arange(out, dtype=np.float32) * scale).astype(np.int64)
    return np.minimum(src, n - 1)
