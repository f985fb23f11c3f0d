"""Convolution, transposed convolution, pooling and nearest resizing against PyTorch, forward
and gradient (of the input, the weight and the bias), with padding, stride, dilation and groups,
on contiguous and permuted (non-contiguous) inputs. Shapes are few: every new one compiles."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygradlike import Tensor, nn
from torch_compare import compare_with_torch

RTOL, ATOL = 2e-4, 2e-4


def compare(fn_ours, fn_torch, *arrays, permuted=False, rtol=RTOL, atol=ATOL):
    """fn on the same values both ways; the first array is seen through a permute of its
    transposed storage when `permuted`. Compares the result and every gradient of sum(out * r)."""
    first = ((np.ascontiguousarray(arrays[0].transpose(0, 1, 3, 2)), lambda t: t.permute(0, 1, 3, 2)) if permuted
             else (arrays[0], lambda t: t))
    compare_with_torch(fn_ours, fn_torch, first, *((a, lambda t: t) for a in arrays[1:]), rtol=rtol, atol=atol, seed=1)


def arrays(seed, *shapes):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


CONV = [  # (stride, padding, dilation, groups)
    (1, 0, 1, 1),
    (2, 1, 1, 1),
    ((1, 2), (2, 0), (2, 1), 1),
    (1, 1, 1, 2),
    (2, (0, 1), 2, 4),
]


@pytest.mark.parametrize("case", range(len(CONV)))
@settings(max_examples=2)
@given(permuted=st.booleans(), bias=st.booleans())
def test_conv2d_matches_torch(case, permuted, bias):
    stride, padding, dilation, groups = CONV[case]
    x, w, b = arrays(case, (2, 4, 7, 6), (4, 4 // groups, 3, 2), (4,))

    def ours(x, w, b):
        return nn.conv2d(x, w, b if bias else None, stride, padding, dilation, groups)

    def theirs(x, w, b):
        return F.conv2d(x, w, b if bias else None, stride, padding, dilation, groups)
    # an unused bias gets no gradient in either; pass it only when used
    if bias:
        compare(ours, theirs, x, w, b, permuted=permuted)
    else:
        compare(lambda x, w: ours(x, w, None), lambda x, w: theirs(x, w, None), x, w, permuted=permuted)


TRANSPOSED = [  # (stride, padding, output_padding, groups, dilation)
    (1, 0, 0, 1, 1),
    (2, 0, 1, 1, 1),
    ((2, 3), (1, 0), (1, 2), 2, (1, 2)),
    (1, 2, 0, 1, 1),  # padding wider than the kernel reaches: the spread input is cut
    (3, 1, 0, 4, 2),
]


@pytest.mark.parametrize("case", range(len(TRANSPOSED)))
@settings(max_examples=2)
@given(permuted=st.booleans())
def test_conv_transpose2d_matches_torch(case, permuted):
    stride, padding, output_padding, groups, dilation = TRANSPOSED[case]
    out_ch = 4 if groups == 4 else 6
    x, w, b = arrays(case, (2, 4, 4, 5), (4, out_ch // groups, 3, 2), (out_ch,))
    compare(lambda x, w, b: nn.conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation),
            lambda x, w, b: F.conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation),
            x, w, b, permuted=permuted)


def test_conv_transpose2d_is_the_gradient_of_conv2d_with_respect_to_its_input():
    x, w, g = arrays(7, (1, 3, 7, 7), (2, 3, 3, 3), (1, 2, 3, 3))
    xt = Tensor(x, requires_grad=True)
    grad, = (nn.conv2d(xt, Tensor(w), stride=2) * Tensor(g)).sum().gradient(xt)
    np.testing.assert_allclose(nn.conv_transpose2d(Tensor(g), Tensor(w), stride=2).numpy(), grad.numpy(),
                               rtol=RTOL, atol=ATOL)


def test_conv_transpose2d_layer_matches_torchs_with_its_weights():
    ours = nn.ConvTranspose2d(4, 6, (3, 2), stride=2, padding=1, output_padding=1, groups=2)
    theirs = torch.nn.ConvTranspose2d(4, 6, (3, 2), stride=2, padding=1, output_padding=1, groups=2)
    assert ours.weight.shape == tuple(theirs.weight.shape) and ours.bias.shape == tuple(theirs.bias.shape)
    bound = 1 / np.sqrt(3 * 3 * 2)  # torch's: 1/sqrt(weight.shape[1] * kh * kw)
    assert np.abs(ours.weight.numpy()).max() <= bound and np.abs(ours.weight.numpy()).max() > bound / 2
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x, = arrays(3, (2, 4, 3, 3))
    np.testing.assert_allclose(ours(Tensor(x)).numpy(), theirs(torch.tensor(x)).detach().numpy(), rtol=RTOL, atol=ATOL)
    assert len(ours.parameters()) == 2


def test_conv2d_layer_with_groups_and_dilation_has_torchs_weight_shape():
    ours, theirs = nn.Conv2d(4, 6, 3, dilation=2, groups=2), torch.nn.Conv2d(4, 6, 3, dilation=2, groups=2)
    assert ours.weight.shape == tuple(theirs.weight.shape)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x, = arrays(4, (1, 4, 7, 7))
    np.testing.assert_allclose(ours(Tensor(x)).numpy(), theirs(torch.tensor(x)).detach().numpy(), rtol=RTOL, atol=ATOL)


POOLS = {
    "avg": (lambda x: nn.avg_pool2d(x, 2), lambda x: F.avg_pool2d(x, 2)),
    "avg_stride_pad": (lambda x: nn.avg_pool2d(x, 3, 2, 1), lambda x: F.avg_pool2d(x, 3, 2, 1)),
    "avg_without_pad_count": (lambda x: nn.avg_pool2d(x, 3, 2, 1, count_include_pad=False),
                              lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)),
    "max_pad_dilation": (lambda x: nn.max_pool2d(x, 3, 2, 1, 2), lambda x: F.max_pool2d(x, 3, 2, 1, 2)),
    "max_stride_pad": (lambda x: nn.max_pool2d(x, (3, 2), 1, (1, 0)), lambda x: F.max_pool2d(x, (3, 2), 1, (1, 0))),
}


@settings(max_examples=5)
@given(name=st.sampled_from(sorted(POOLS)), permuted=st.booleans())
def test_pooling_matches_torch(name, permuted):
    ours, theirs = POOLS[name]
    x, = arrays(5, (2, 3, 7, 7))
    compare(ours, theirs, x, permuted=permuted)


RESIZES = [dict(size=(9, 4)), dict(scale_factor=2), dict(scale_factor=1.7), dict(scale_factor=(0.5, 3)),
           dict(size=5)]


@settings(max_examples=5)
@given(case=st.sampled_from(range(len(RESIZES))), permuted=st.booleans())
def test_interpolate_nearest_matches_torch(case, permuted):
    x, = arrays(6, (1, 2, 5, 6))
    kwargs = RESIZES[case]
    compare(lambda x: x.interpolate(**kwargs), lambda x: F.interpolate(x, **kwargs), x, permuted=permuted)


def test_interpolate_nearest_of_a_sequence_matches_torch():
    x, = arrays(7, (2, 3, 5))
    for kwargs in (dict(size=8), dict(scale_factor=3)):
        np.testing.assert_array_equal(Tensor(x).interpolate(**kwargs).numpy(), F.interpolate(torch.tensor(x), **kwargs).numpy())


def test_tinygrad_method_names_call_the_same_ops():
    x, w = arrays(8, (1, 2, 6, 6), (4, 2, 3, 3))
    tx = torch.tensor(x)
    np.testing.assert_allclose(Tensor(x).conv2d(Tensor(w), stride=2, padding=1).numpy(),
                               F.conv2d(tx, torch.tensor(w), stride=2, padding=1).numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(Tensor(x).max_pool2d().numpy(), F.max_pool2d(tx, 2).numpy())
    np.testing.assert_allclose(Tensor(x).avg_pool2d(3, 1, padding=1).numpy(), F.avg_pool2d(tx, 3, 1, 1).numpy(),
                               rtol=RTOL, atol=ATOL)
    wt, = arrays(9, (2, 3, 2, 2))
    np.testing.assert_allclose(Tensor(x).conv_transpose2d(Tensor(wt), stride=2).numpy(),
                               F.conv_transpose2d(tx, torch.tensor(wt), stride=2).numpy(), rtol=RTOL, atol=ATOL)


ERRORS = [
    (lambda: nn.conv2d(Tensor.zeros(1, 3, 5, 5), Tensor.zeros(4, 3, 3, 3), groups=2), ValueError, "groups=2"),
    (lambda: nn.conv2d(Tensor.zeros(1, 4, 5, 5), Tensor.zeros(4, 3, 3, 3)), ValueError, "channels"),
    (lambda: nn.conv2d(Tensor.zeros(1, 3, 5, 5), Tensor.zeros(4, 3, 3, 3), Tensor.zeros(3)), ValueError, "bias"),
    (lambda: nn.conv2d(Tensor.zeros(3, 5, 5), Tensor.zeros(4, 3, 3, 3)), ValueError, r"\(N, C, H, W\)"),
    (lambda: nn.conv2d(Tensor.zeros(1, 3, 2, 2), Tensor.zeros(4, 3, 3, 3)), ValueError, "does not fit"),
    (lambda: nn.conv2d(Tensor.zeros(1, 3, 5, 5), Tensor.zeros(4, 3, 3, 3), stride=0), ValueError, "stride"),
    (lambda: nn.conv_transpose2d(Tensor.zeros(1, 2, 3, 3), Tensor.zeros(2, 1, 3, 3), stride=2, output_padding=2),
     ValueError, "output_padding"),
    (lambda: nn.conv_transpose2d(Tensor.zeros(1, 2, 3, 3), Tensor.zeros(3, 1, 3, 3)), ValueError, "channels"),
    (lambda: nn.avg_pool2d(Tensor.zeros(1, 1, 4, 4), 2, padding=2), ValueError, "half the kernel"),
    (lambda: Tensor.zeros(1, 1, 4).interpolate(size=2, scale_factor=2), ValueError, "exactly one"),
    (lambda: Tensor.zeros(1, 1, 4).interpolate(size=8, mode="bilinear"), NotImplementedError, "nearest"),
    (lambda: Tensor.zeros(4).interpolate(size=8), ValueError, r"\(N, C, L\)"),
    (lambda: Tensor.zeros(1, 1, 4, 4).conv2d(Tensor.zeros(1, 1, 2, 2), None, 1), TypeError, "positional"),
]


@pytest.mark.parametrize("case", range(len(ERRORS)))
def test_misuse_is_refused_when_the_op_is_built(case):
    build, error, message = ERRORS[case]
    with pytest.raises(error, match=message):
        build()
