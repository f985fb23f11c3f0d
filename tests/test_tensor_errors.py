"""Bad input fails when the graph is built, with a message that names shapes or axes."""
import numpy as np
import pytest

from tinygradlike import Tensor


def test_incompatible_broadcast_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4,\)"):
        Tensor.ones(2, 3) + Tensor.ones(4)


def test_matmul_inner_dimension_mismatch():
    with pytest.raises(ValueError, match=r"\(2, 3\) @ \(4, 5\).*3 and 4"):
        Tensor.ones(2, 3) @ Tensor.ones(4, 5)


def test_matmul_batch_mismatch():
    with pytest.raises(ValueError, match="batch"):
        Tensor.ones(2, 3, 4) @ Tensor.ones(3, 4, 5)


def test_reshape_to_another_size():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 2\)"):
        Tensor.ones(2, 3).reshape(4, 2)


@pytest.mark.parametrize("call", [
    lambda t: t.sum(axis=2), lambda t: t.max(axis=-3), lambda t: t.softmax(5),
    lambda t: t.permute(0, 2), lambda t: t.transpose(0, 7), lambda t: t.unsqueeze(4),
])
def test_axis_out_of_range(call):
    with pytest.raises(ValueError, match="out of range|permutation"):
        call(Tensor.ones(2, 3))


def test_unsupported_dtype():
    with pytest.raises(ValueError, match="complex64.*supports"):
        Tensor(np.ones(3, dtype=np.complex64))
    with pytest.raises(ValueError, match="unsupported dtype"):
        Tensor.ones(2).cast("complex64")


def test_non_numeric_data_is_a_type_error():
    with pytest.raises(TypeError, match="str"):
        Tensor(["a", 1.0])
    with pytest.raises(TypeError, match="Tensor"):
        Tensor.ones(2) + "x"


def test_expand_only_grows_size_one_dims():
    with pytest.raises(ValueError, match="size-1"):
        Tensor.ones(2, 3).expand(4, 3)


def test_index_out_of_bounds():
    with pytest.raises(IndexError, match="out of bounds"):
        Tensor.ones(2, 3)[2]
    with pytest.raises(IndexError, match="too many"):
        Tensor.ones(2)[0, 0]


def test_errors_are_raised_before_anything_runs():
    from tinygradlike import reset_stats, stats

    reset_stats()
    with pytest.raises(ValueError):
        (Tensor.ones(2, 3).exp() + Tensor.ones(3, 2)).sum()
    assert stats()["kernels_launched"] == 0


def test_a_float_shape_is_refused_even_after_the_same_int_shape_was_used():
    # movements are memoized, and (3.0, 2.0) == (3, 2) in Python: the memo must not let it through
    x = Tensor(np.zeros((2, 3), np.float32))
    assert x.reshape(3, 2).shape == (3, 2)
    for shape in ((3.0, 2.0), [(3.0, 2.0)]):
        with pytest.raises(ValueError, match="int"):
            x.reshape(*shape)
