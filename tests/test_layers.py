"""Normalization layers, Embedding, attention, initializers and gradient clipping against PyTorch:
forward values and gradients, with torch's parameter layouts (a torch module's state dict loads
as it is). Shapes come from small sets and hypothesis draws few examples: each distinct shape or
layout is an OpenCL compile."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygradlike import Tensor, nn, reset_stats, stats
from tinygradlike.jit import jit
from tinygradlike.testing import make_layout

RTOL, ATOL = 1e-4, 1e-5
few = settings(max_examples=3)


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def close(ours, theirs, rtol=RTOL, atol=ATOL):
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else theirs
    np.testing.assert_allclose(ours.numpy() if isinstance(ours, Tensor) else ours, theirs, rtol=rtol, atol=atol)


def tensor_in(layout: str, x: np.ndarray, seed: int = 0) -> Tensor:
    """x as a tensor with its own gradient, viewed through `layout` (testing.make_layout)."""
    if layout == "contiguous":
        return Tensor(x, requires_grad=True)
    return make_layout(x, layout, np.random.default_rng(seed)).requires_grad_()


def copy_torch_weights(ours: nn.Module, theirs: torch.nn.Module, seed: int = 1) -> None:
    """Give torch's module random parameters (not its ones/zeros defaults, which would hide a
    swapped weight and bias) and load its state dict into ours, names unchanged."""
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for p in theirs.parameters():
            p.copy_(torch.from_numpy(rng.standard_normal(tuple(p.shape)).astype(np.float32) * 0.5))
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


def backward_both(out: Tensor, ref: torch.Tensor, seed: int = 7) -> None:
    """Backpropagate the same non-uniform upstream gradient through both outputs."""
    upstream = rand(*out.shape, seed=seed)
    (out * Tensor(upstream)).sum().backward()
    (ref * torch.from_numpy(upstream)).sum().backward()


# ------------------------------------------------------------------------------ normalization

def check_layer_against_torch(ours, theirs, x, layout, affine=True, **param_tolerance):
    """Our layer and torch's (with torch's weights copied in) on the same input, seen through
    `layout`: the outputs, the input's gradient and, with affine, the parameters' gradients."""
    if affine:
        copy_torch_weights(ours, theirs)
    tx, rx = tensor_in(layout, x), torch.from_numpy(x).requires_grad_()
    out, ref = ours(tx), theirs(rx)
    close(out, ref)
    backward_both(out, ref)
    close(tx.grad, rx.grad, atol=1e-4)
    if affine:
        assert ours.named_parameters(), "an affine layer without parameters"
        for name, p in ours.named_parameters():
            close(p.grad, dict(theirs.named_parameters())[name].grad, **param_tolerance)


@few
@given(shape=st.sampled_from([(4, 6), (2, 3, 4)]), dims=st.sampled_from([1, 2]),
       affine=st.booleans(), layout=st.sampled_from(["contiguous", "permuted", "sliced"]))
def test_layer_norm_matches_torch_in_forward_and_backward(shape, dims, affine, layout):
    x = rand(*shape)
    normalized = shape[len(shape) - dims:]
    ours, theirs = nn.LayerNorm(normalized, elementwise_affine=affine), torch.nn.LayerNorm(normalized, elementwise_affine=affine)
    check_layer_against_torch(ours, theirs, x, layout, affine)


def test_layer_norm_has_torchs_parameter_names_and_shapes():
    ours, theirs = nn.LayerNorm((3, 4)), torch.nn.LayerNorm((3, 4))
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: tuple(v.shape) for k, v in theirs.state_dict().items()}


@few
@given(case=st.sampled_from([((2, 6, 3, 3), 3), ((3, 4), 2), ((2, 4, 5), 1), ((2, 4, 5), 4)]),
       affine=st.booleans(), layout=st.sampled_from(["contiguous", "permuted"]))
def test_group_norm_matches_torch_in_forward_and_backward(case, affine, layout):
    shape, groups = case
    x = rand(*shape)
    ours, theirs = nn.GroupNorm(groups, shape[1], affine=affine), torch.nn.GroupNorm(groups, shape[1], affine=affine)
    check_layer_against_torch(ours, theirs, x, layout, affine, atol=1e-4)


def test_group_norm_refuses_channels_not_divisible_by_groups():
    with pytest.raises(ValueError, match="divisible"):
        nn.GroupNorm(4, 6)


@few
@given(shape=st.sampled_from([(4, 6), (2, 3, 4)]), dims=st.sampled_from([1, 2]), eps=st.sampled_from([None, 1e-3]),
       layout=st.sampled_from(["contiguous", "sliced"]))
def test_rms_norm_matches_torch_in_forward_and_backward(shape, dims, eps, layout):
    x = rand(*shape)
    normalized = shape[len(shape) - dims:]
    ours, theirs = nn.RMSNorm(normalized, eps=eps), torch.nn.RMSNorm(normalized, eps=eps)
    check_layer_against_torch(ours, theirs, x, layout, atol=1e-4)


def test_functional_norms_without_parameters_match_torch():
    x = rand(2, 4, 3)
    close(nn.layer_norm(Tensor(x), 3), F.layer_norm(torch.from_numpy(x), (3,)))
    close(nn.group_norm(Tensor(x), 2), F.group_norm(torch.from_numpy(x), 2))
    close(nn.rms_norm(Tensor(x), (4, 3)), F.rms_norm(torch.from_numpy(x), (4, 3)))


def test_layer_norm_refuses_an_input_of_another_shape():
    with pytest.raises(ValueError, match=r"ending in \(5,\)"):
        nn.LayerNorm(5)(Tensor.zeros(2, 4))


# ------------------------------------------------------------------------------ embedding

def test_embedding_matches_torch_in_forward_and_backward_with_repeated_indices():
    indices = np.array([[1, 4, 1], [0, 4, 4]], np.int32)  # rows used twice add their gradients
    ours, theirs = nn.Embedding(5, 3), torch.nn.Embedding(5, 3)
    copy_torch_weights(ours, theirs)
    out, ref = ours(Tensor(indices)), theirs(torch.from_numpy(indices).long())
    assert out.shape == (2, 3, 3)
    close(out, ref)
    backward_both(out, ref)
    close(ours.weight.grad, theirs.weight.grad)


def test_embedding_padding_row_gets_no_gradient_as_torch():
    indices = np.array([0, 2, 2, 1], np.int32)
    ours, theirs = nn.Embedding(4, 2, padding_idx=2), torch.nn.Embedding(4, 2, padding_idx=2)
    np.testing.assert_array_equal(ours.weight.numpy()[2], 0)  # the padding row starts at zero
    copy_torch_weights(ours, theirs)  # a non-zero padding row is still looked up, as torch
    out, ref = ours(Tensor(indices)), theirs(torch.from_numpy(indices).long())
    close(out, ref)
    backward_both(out, ref)
    close(ours.weight.grad, theirs.weight.grad)
    np.testing.assert_array_equal(ours.weight.grad.numpy()[2], 0)


def test_embedding_of_host_indices_out_of_range_is_an_index_error():
    with pytest.raises(IndexError, match="out of range"):
        nn.embedding(np.array([0, 3]), Tensor.zeros(3, 2))


def test_embedding_of_device_indices_out_of_range_gives_nan_rows():
    out = nn.embedding(Tensor([1, 3, -1]), Tensor(rand(3, 2))).numpy()
    assert np.isfinite(out[0]).all() and np.isnan(out[1:]).all()


def test_embedding_is_a_one_hot_kernel_and_a_matmul():
    """The forward stores the one-hot matrix and multiplies (the range check is the matmul's
    epilogue); the weight's gradient stores the upstream gradient (a matmul operand must be
    memory) and multiplies by the one-hot matrix the forward kept."""
    weight = Tensor(rand(6, 4), requires_grad=True)
    indices = Tensor(np.array([[1, 5], [0, 1]], np.int32))
    out = nn.embedding(indices, weight)
    reset_stats()
    out.realize()
    assert stats()["kernels_launched"] == 2
    (out * Tensor(rand(2, 2, 4, seed=3))).sum().backward()
    reset_stats()
    weight.grad.realize()
    assert stats()["kernels_launched"] == 2


# ------------------------------------------------------------------------------ attention

def attention_inputs(batch, heads, rows, cols, dim, layout="contiguous"):
    q, k, v = rand(batch, heads, rows, dim, seed=1), rand(batch, heads, cols, dim, seed=2), rand(batch, heads, cols, dim, seed=3)
    ours = [tensor_in(layout, a, seed) for seed, a in enumerate((q, k, v))]
    theirs = [torch.from_numpy(a).requires_grad_() for a in (q, k, v)]
    return ours, theirs


def attention_mask(kind: str, rows: int, cols: int):
    """(ours, torch's) mask of `kind`, broadcast over the batch and the heads."""
    if kind in ("none", "causal"):
        return None, None
    if kind == "bool":
        keep = np.random.default_rng(5).random((1, rows, cols)) < 0.7
        keep[..., 0] = True  # no row masked entirely
        return Tensor(keep), torch.from_numpy(keep)
    bias = rand(rows, cols, seed=6)
    return Tensor(bias), torch.from_numpy(bias)


@few
@given(shape=st.sampled_from([(2, 2, 5, 5, 4), (1, 3, 4, 6, 8)]), mask=st.sampled_from(["none", "causal", "bool", "float"]),
       layout=st.sampled_from(["contiguous", "permuted"]), scale=st.sampled_from([None, 0.3]))
def test_scaled_dot_product_attention_matches_torch_in_forward_and_backward(shape, mask, layout, scale):
    batch, heads, rows, cols, dim = shape
    (q, k, v), (rq, rk, rv) = attention_inputs(batch, heads, rows, cols, dim, layout)
    ours_mask, torch_mask = attention_mask(mask, rows, cols)
    out = nn.scaled_dot_product_attention(q, k, v, ours_mask, is_causal=mask == "causal", scale=scale)
    ref = F.scaled_dot_product_attention(rq, rk, rv, torch_mask, is_causal=mask == "causal", scale=scale)
    close(out, ref)
    backward_both(out, ref)
    for ours_grad, ref_grad in ((q.grad, rq.grad), (k.grad, rk.grad), (v.grad, rv.grad)):
        close(ours_grad, ref_grad, atol=1e-4)


def test_attention_runs_in_5_kernels():
    """scores (q @ k^T with the scale and the causal mask as the matmul's epilogue), their row
    max, the row sum of exp(scores - max), the weights exp(scores - max) / sum, and weights @ v.
    The weights need a kernel of their own because a matmul operand must be memory (rule 3 of
    scheduler.pyx, section 4); the max and the sum are read expanded back over the rows, so
    each is stored (rule 2), and the scores are a matmul read by three kernels."""
    (q, k, v), (rq, rk, rv) = attention_inputs(2, 2, 6, 6, 4)
    out = nn.scaled_dot_product_attention(q, k, v, is_causal=True)
    reset_stats()
    got = out.numpy()
    assert stats()["kernels_launched"] == 5
    close(got, F.scaled_dot_product_attention(rq, rk, rv, is_causal=True))


def test_causal_attention_replays_under_jit_without_uploads():
    """The causal mask compares 0..n-1 kept on the device: nothing is uploaded inside the step,
    so jit records and replays it."""
    attend = jit(lambda q, k, v: nn.scaled_dot_product_attention(q, k, v, is_causal=True))
    for seed in range(3):
        arrays = [rand(1, 2, 5, 4, seed=seed * 3 + i) for i in range(3)]
        out = attend(*(Tensor(a) for a in arrays))
    close(out, F.scaled_dot_product_attention(*(torch.from_numpy(a) for a in arrays), is_causal=True))


def test_attention_refuses_a_mask_together_with_is_causal():
    q = Tensor.zeros(1, 2, 2)
    with pytest.raises(ValueError, match="not both"):
        nn.scaled_dot_product_attention(q, q, q, Tensor.ones(2, 2).bool(), is_causal=True)


def mha_pair(embed, heads, batch_first, seed=1):
    ours = nn.MultiheadAttention(embed, heads, batch_first=batch_first)
    theirs = torch.nn.MultiheadAttention(embed, heads, batch_first=batch_first)
    copy_torch_weights(ours, theirs, seed)
    return ours, theirs


def test_multihead_attention_has_torchs_state_dict_layout():
    ours, theirs = nn.MultiheadAttention(8, 2), torch.nn.MultiheadAttention(8, 2)
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]


def test_multihead_self_attention_with_torchs_weights_matches_torch_with_gradients():
    ours, theirs = mha_pair(8, 2, batch_first=True)
    x = rand(2, 5, 8, seed=4)
    tx, rx = Tensor(x, requires_grad=True), torch.from_numpy(x).requires_grad_()
    mask = np.triu(np.ones((5, 5), bool), 1)  # torch's MHA: True = may NOT attend
    out, weights = ours(tx, tx, tx, attn_mask=Tensor(mask))
    ref, ref_weights = theirs(rx, rx, rx, attn_mask=torch.from_numpy(mask))
    close(out, ref)
    close(weights, ref_weights)
    backward_both(out, ref)
    close(tx.grad, rx.grad, atol=1e-4)
    for name, p in theirs.named_parameters():
        close(dict(ours.named_parameters())[name].grad, p.grad, atol=1e-4)
    # is_causal alone builds the same mask (torch asks for the mask beside it)
    close(ours(Tensor(x), is_causal=True, need_weights=False)[0], ref)


def test_multihead_cross_attention_sequence_first_with_key_padding_matches_torch():
    ours, theirs = mha_pair(6, 3, batch_first=False, seed=2)
    query, memory = rand(4, 2, 6, seed=5), rand(3, 2, 6, seed=6)  # (L, N, E), (S, N, E)
    padding = np.array([[False, False, True], [False, True, True]])  # True = a padded key
    tq, tm = Tensor(query, requires_grad=True), Tensor(memory, requires_grad=True)
    rq, rm = torch.from_numpy(query).requires_grad_(), torch.from_numpy(memory).requires_grad_()
    out, weights = ours(tq, tm, tm, key_padding_mask=Tensor(padding), average_attn_weights=False)
    ref, ref_weights = theirs(rq, rm, rm, key_padding_mask=torch.from_numpy(padding), average_attn_weights=False)
    close(out, ref)
    close(weights, ref_weights)
    backward_both(out, ref)
    close(tq.grad, rq.grad, atol=1e-4)
    close(tm.grad, rm.grad, atol=1e-4)


@pytest.mark.parametrize("batch_first", [True, False])
def test_multihead_attention_takes_an_unbatched_sequence_as_torch(batch_first):
    ours, theirs = mha_pair(4, 2, batch_first=batch_first, seed=3)
    x = rand(5, 4, seed=8)  # (L, E)
    out, weights = ours(Tensor(x), Tensor(x), Tensor(x))
    ref, ref_weights = theirs(*(torch.from_numpy(x),) * 3)
    close(out, ref)
    close(weights, ref_weights)


# ------------------------------------------------------------------------------ initializers

SHAPE = (256, 128, 3)  # fan_in 384, fan_out 768: unequal, so a swapped fan shows


@pytest.mark.parametrize("name,kwargs", [
    ("kaiming_uniform_", {}),
    ("kaiming_uniform_", {"mode": "fan_out", "nonlinearity": "relu"}),
    ("kaiming_normal_", {"a": 0.2, "nonlinearity": "leaky_relu"}),
    ("kaiming_normal_", {"mode": "fan_out", "nonlinearity": "tanh"}),
    ("xavier_uniform_", {"gain": 2.0}),
    ("xavier_normal_", {}),
    ("uniform_", {"a": -0.5, "b": 1.5}),
    ("normal_", {"mean": 0.3, "std": 2.0}),
])
def test_initializer_statistics_match_torchs(name, kwargs):
    """Mean and std of ~100k draws agree with torch's initializer on the same shape (its
    formulas, fans and gains) to within sampling error, and a uniform one keeps torch's bounds."""
    ours = getattr(nn.init, name)(Tensor.zeros(*SHAPE), **kwargs).numpy().astype(np.float64)
    theirs = getattr(torch.nn.init, name)(torch.empty(SHAPE), **kwargs).numpy().astype(np.float64)
    std = theirs.std()
    assert ours.std() == pytest.approx(std, rel=0.02)
    assert abs(ours.mean() - theirs.mean()) < 0.02 * std
    if "uniform" in name:
        assert ours.min() >= theirs.min() - 0.01 * std and ours.max() <= theirs.max() + 0.01 * std
        assert ours.max() - ours.min() == pytest.approx(theirs.max() - theirs.min(), rel=0.01)


def test_initializers_are_deterministic_under_manual_seed():
    Tensor.manual_seed(3)
    first = nn.init.kaiming_uniform_(Tensor.zeros(4, 5)).numpy()
    Tensor.manual_seed(3)
    np.testing.assert_array_equal(nn.init.kaiming_uniform_(Tensor.zeros(4, 5)).numpy(), first)


def test_initializers_write_a_parameter_in_place():
    """The parameter keeps its memory (a jit recording or an optimizer reading it sees the new
    values) and stays trainable; the initializer returns it, as torch's."""
    layer = nn.Linear(3, 2)
    weight, memory = layer.weight, layer.weight.node.buffer
    assert nn.init.ones_(layer.weight) is weight
    assert weight.node.buffer is memory and weight.requires_grad
    np.testing.assert_array_equal(layer.weight.numpy(), np.ones((2, 3), np.float32))
    assert nn.init.zeros_(layer.bias).numpy().tolist() == [0.0, 0.0]


@pytest.mark.parametrize("nonlinearity,param", [("relu", None), ("tanh", None), ("leaky_relu", 0.2), ("selu", None), ("sigmoid", None)])
def test_calculate_gain_matches_torch(nonlinearity, param):
    assert nn.init.calculate_gain(nonlinearity, param) == pytest.approx(torch.nn.init.calculate_gain(nonlinearity, param))


def test_fans_of_a_vector_are_refused():
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        nn.init.xavier_uniform_(Tensor.zeros(5))


# ------------------------------------------------------------------------------ gradient clipping

def gradients_pair(scale: float):
    grads = [rand(3, 4, seed=10) * scale, rand(5, seed=11) * scale]
    ours = [Tensor(np.zeros_like(g), requires_grad=True) for g in grads]
    theirs = [torch.zeros(g.shape, requires_grad=True) for g in grads]
    for p, r, g in zip(ours, theirs, grads):
        p.grad, r.grad = Tensor(g), torch.from_numpy(g.copy())
    return ours, theirs


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("scale", [1.0, 0.01])  # above max_norm: clipped; below: unchanged
def test_clip_grad_norm_matches_torch(norm_type, scale):
    ours, theirs = gradients_pair(scale)
    total = nn.utils.clip_grad_norm_(ours, 1.5, norm_type=norm_type)
    ref_total = torch.nn.utils.clip_grad_norm_(theirs, 1.5, norm_type=norm_type)
    assert total.shape == ()
    close(total, ref_total, rtol=1e-5)
    for p, r in zip(ours, theirs):
        close(p.grad, r.grad, rtol=1e-5, atol=1e-7)


def test_clip_grad_norm_waits_for_nothing():
    ours, _ = gradients_pair(1.0)
    reset_stats()
    nn.utils.clip_grad_norm_(ours, 1.0)
    assert stats()["kernels_launched"] == 0 and stats()["synchronizations"] == 0
    assert all(p.grad.lazy for p in ours)


def test_clip_grad_value_matches_torch():
    ours, theirs = gradients_pair(1.0)
    nn.utils.clip_grad_value_(ours, 0.5)
    torch.nn.utils.clip_grad_value_(theirs, 0.5)
    for p, r in zip(ours, theirs):
        close(p.grad, r.grad)
