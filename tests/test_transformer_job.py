"""The second main job: a small GPT learns minGPT's sorting task (python -m tinygradlike --model
transformer) to 99% exact-match on held-out sequences, under jit, compiling nothing after its
first step; the sorting data and the array batching helper it uses."""
import subprocess
import sys

import numpy as np
import pytest

from tinygradlike import datasets, train
from tinygradlike.tensor import Tensor

# One Adam step of the default GPT (2 blocks, width 32, 4 heads, 11 tokens, batch 32, q/k/v as one
# Linear): measured 159 kernel launches under jit (191 with three separate q, k, v Linears). A
# bound, so that better fusion elsewhere does not fail it.
GPT_ADAM_KERNELS_PER_STEP = 159


@pytest.fixture(scope="module")
def job():
    """The full default job (30 epochs of 17 steps): ~5 s once its kernels are cached, ~20 s cold."""
    return train.main(["--model", "transformer", "--quiet"])


def test_the_transformer_sorts_99_percent_of_held_out_sequences_exactly(job):
    assert job.metric == "held-out exact match"
    assert job.test_accuracy >= 0.99


def test_the_transformer_loss_falls_from_chance(job):
    assert job.first_loss == pytest.approx(np.log(3), abs=0.5)  # three digits: chance is ln 3
    assert job.final_loss < job.first_loss / 100


def test_the_transformer_step_is_replayed_and_compiles_nothing_after_the_first(job):
    assert job.compiled_after_first_step == 0
    assert 0 < job.kernels_per_step <= GPT_ADAM_KERNELS_PER_STEP
    assert job.steps == 30 * (len(datasets.load_sorting().x_train) // 32)


def test_generation_never_reads_the_held_out_answer(job):
    """Whatever the answer tokens of the input hold, the generated answer is the same."""
    task = datasets.load_sorting()
    model = train.build_gpt(task)
    garbage = task.x_test.copy()
    garbage[:, task.length:] = np.random.default_rng(0).integers(0, task.digits, garbage[:, task.length:].shape)
    np.testing.assert_array_equal(train.generate_sorted(model, garbage, task.length),
                                  train.generate_sorted(model, task.x_test, task.length))


def test_a_short_transformer_run_prints_the_same_report_as_the_mlp_job():
    out = subprocess.run([sys.executable, "-m", "tinygradlike", "--model", "transformer", "--epochs", "2", "--quiet"],
                         capture_output=True, text=True, timeout=300, check=True).stdout
    for phrase in ("held-out exact match", "time per epoch", "kernels per step", "kernels compiled",
                   "compiled after the first step: 0"):
        assert phrase in out, out


def test_the_transformer_refuses_an_image_data_set():
    with pytest.raises(ValueError, match="--data is for the image models"):
        train.run(train.parse_args(["--model", "transformer", "--data", "mnist.npz"]))


# ------------------------------------------------------------------------------ the sorting task

def test_sorting_answers_are_the_sorted_inputs_and_the_model_reads_them_shifted():
    task = datasets.load_sorting(length=5, digits=4)
    inputs = task.x_train[:, :5]
    np.testing.assert_array_equal(task.y_train, np.sort(inputs, axis=1))
    np.testing.assert_array_equal(task.x_train[:, 5:], task.y_train[:, :-1])  # teacher forcing
    assert task.x_train.shape[1] == 9 and task.x_train.dtype == np.int32


def test_sorting_held_out_sequences_never_appear_in_training():
    task = datasets.load_sorting()
    train_rows = {row.tobytes() for row in task.x_train[:, :task.length]}
    assert not any(row.tobytes() in train_rows for row in task.x_test[:, :task.length])
    assert len(task.x_train) + len(task.x_test) == 3 ** 6  # every sequence once


def test_sorting_samples_without_repeats_past_max_sequences():
    task = datasets.load_sorting(length=10, digits=10, max_sequences=1000)
    inputs = np.concatenate([task.x_train, task.x_test])[:, :10]
    assert len(inputs) == 1000 and len(np.unique(inputs, axis=0)) == 1000


# ------------------------------------------------------------------------------ batches of arrays

def test_batches_of_several_arrays_keep_their_rows_together():
    x, y = np.arange(20).reshape(10, 2), np.arange(10)
    for xb, yb in datasets.batches((x, y), 3, seed=1):
        np.testing.assert_array_equal(xb[:, 0], 2 * yb)
        assert len(yb) == 3


def test_batches_cover_every_row_once_without_drop_last():
    y = np.arange(10)
    seen = np.concatenate(list(datasets.batches(y, 4, seed=0, drop_last=False)))
    assert sorted(seen.tolist()) == list(range(10)) and not np.array_equal(seen, y)


def test_batches_in_order_when_not_shuffled():
    assert [b.tolist() for b in datasets.batches(np.arange(5), 2, shuffle=False)] == [[0, 1], [2, 3]]


def test_batches_with_the_same_seed_are_the_same():
    first = [b.tolist() for b in datasets.batches(np.arange(9), 3, seed=7)]
    assert first == [b.tolist() for b in datasets.batches(np.arange(9), 3, seed=7)]


def test_batches_as_tensors_hold_the_rows():
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    (batch,) = list(datasets.batches(x, 3, shuffle=False, tensors=True))
    assert isinstance(batch, Tensor)
    np.testing.assert_array_equal(batch.numpy(), x)


def test_batches_refuse_arrays_of_different_lengths():
    with pytest.raises(ValueError, match="same length"):
        next(datasets.batches((np.zeros(3), np.zeros(4)), 2))
