"""The training job: accuracy, reproducibility, kernels per step, compiles after the first
step, bounded memory over many steps, the MNIST loaders and the CLI."""
import gc
import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinygradlike import datasets, nn, optim, runtime, train
from tinygradlike.jit import jit
from tinygradlike.tensor import Tensor

# One Adam step of the 64-128-10 MLP, measured: 18 kernels.
#   forward            5: two matmuls (bias fused), the ReLU'd hidden layer (a matmul operand
#                         must be memory), max and sum-exp of logsumexp
#   backward           6: softmax - onehot, the hidden gradient (a matmul, ReLU mask fused), per
#                         weight one matmul computed in the weight's (out, in) layout, per bias
#                         one reduction
#   Adam update        5: per parameter ONE kernel writing m, v and the new value (schedule rule
#                         4: same-shape outputs share a kernel), and the bias corrections
#   loss               2: the picked logit (fused with logsumexp - picked) and the batch mean
# The state and parameters are then written back with 13 device copies (not kernels).
MLP_ADAM_KERNELS_PER_STEP = 18


@pytest.fixture(scope="module")
def default_runs():
    """The default job, twice with the same seed (10 epochs of the MLP on digits)."""
    return train.main(["--quiet"]), train.main(["--quiet"])


def test_default_mlp_reaches_95_percent_on_digits(default_runs):
    first, _ = default_runs
    assert first.test_accuracy >= 0.95


def test_the_same_seed_gives_the_same_accuracy_twice(default_runs):
    first, second = default_runs
    assert first.test_accuracy == second.test_accuracy
    assert first.final_loss == second.final_loss


def test_a_step_after_the_first_compiles_nothing(default_runs):
    first, second = default_runs
    assert first.compiled_after_first_step == 0
    assert second.kernels_compiled == 0  # the second run reuses every program of the first


def test_kernels_per_mlp_step_are_bounded(default_runs):
    first, _ = default_runs
    assert first.kernels_per_step <= MLP_ADAM_KERNELS_PER_STEP


def test_another_seed_changes_the_run():
    report = train.main(["--quiet", "--epochs", "1", "--seed", "1"])
    assert 0.5 < report.test_accuracy < 1.0


def test_the_cnn_trains_and_compiles_nothing_after_its_first_step():
    report = train.main(["--quiet", "--model", "cnn", "--epochs", "2", "--lr", "0.01"])
    assert report.test_accuracy >= 0.9
    assert report.compiled_after_first_step == 0


def test_device_option_selects_the_device(monkeypatch):
    current = runtime.get_device()
    monkeypatch.setenv("TGL_DEVICE", current.index)  # restored after the test: main() sets it
    report = train.main(["--quiet", "--epochs", "1", "--device", current.index])
    assert runtime.get_device() is current and report.steps == len(datasets.load_digits().x_train) // 32


def test_the_plain_path_without_jit_trains_identically():
    with_jit = train.main(["--quiet", "--epochs", "2"])
    without = train.main(["--quiet", "--epochs", "2", "--no-jit"])
    assert with_jit.test_accuracy == without.test_accuracy
    assert with_jit.final_loss == pytest.approx(without.final_loss, rel=1e-5)


def test_save_writes_weights_that_load_into_the_model(tmp_path):
    path = tmp_path / "mlp.safetensors"
    report = train.main(["--quiet", "--epochs", "1", "--save", str(path)])
    model = train.build_model("mlp", (1, 8, 8), 10)
    model.load(path)
    data = datasets.load_digits()
    accuracy = (train.predict(model, data.x_test) == data.y_test).mean()
    assert accuracy == pytest.approx(report.test_accuracy)


@pytest.mark.parametrize("use_jit", [False, True], ids=["graph-per-step", "jit-replay"])
def test_1000_steps_keep_device_buffers_and_host_memory_bounded(use_jit):
    Tensor.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32)

    def step(xb, yb):
        loss = nn.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step(loss)
        return loss
    run = jit(step) if use_jit else step

    def train(i):
        rows = slice(4 * i % 64, 4 * i % 64 + 4)
        return run(Tensor(x[rows]), Tensor(y[rows]))

    for i in range(50):
        loss = train(i)  # held, as after the loop below: it keeps its step's graph alive
    gc.collect()
    buffers, objects, rss = runtime.live_buffers(), len(gc.get_objects()), resident_bytes()
    for i in range(1000):
        loss = train(i)
    gc.collect()
    assert loss.item() < 0.5  # it learned something: the steps were real
    assert runtime.live_buffers() <= buffers + 8
    assert len(gc.get_objects()) - objects < 1000
    assert resident_bytes() - rss < 32 * 2**20


def resident_bytes() -> int:
    page = 4096
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * page
    except OSError:  # not Linux: the peak is a coarser but still useful bound
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# ------------------------------------------------------------------------------ data files

def fake_mnist(rng, n):
    """Digits-sized fake MNIST (8x8), so training on it reuses the digits' kernels."""
    labels = rng.integers(0, 10, n).astype(np.uint8)
    images = np.zeros((n, 8, 8), np.uint8)
    images[np.arange(n), labels % 8, labels // 8 * 4] = 255  # one bright pixel per class: easy to learn
    return images, labels


def test_idx_files_are_read_back_exactly(tmp_path):
    for array in (np.arange(24, dtype=np.uint8).reshape(2, 3, 4), np.arange(-3, 3, dtype=np.int32),
                  np.linspace(0, 1, 6, dtype=np.float32).reshape(2, 3)):
        datasets.write_idx(tmp_path / "a", array)
        back = datasets.read_idx(tmp_path / "a")
        assert back.dtype == array.dtype
        np.testing.assert_array_equal(back, array)


def test_a_truncated_idx_file_is_a_clear_error(tmp_path):
    datasets.write_idx(tmp_path / "a", np.zeros((4, 8, 8), np.uint8))
    (tmp_path / "a").write_bytes((tmp_path / "a").read_bytes()[:-1])
    with pytest.raises(ValueError, match="truncated"):
        datasets.read_idx(tmp_path / "a")


def test_training_on_a_folder_of_gzipped_idx_files(tmp_path):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 320), ("t10k", 64)):
        images, labels = fake_mnist(rng, n)
        datasets.write_idx(tmp_path / f"{prefix}-images-idx3-ubyte", images)
        raw = (tmp_path / f"{prefix}-images-idx3-ubyte").read_bytes()
        (tmp_path / f"{prefix}-images-idx3-ubyte").unlink()
        (tmp_path / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(raw))
        datasets.write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte", labels)
    data = datasets.load_mnist(tmp_path)
    assert data.x_train.shape == (320, 1, 8, 8) and data.x_train.max() == 1.0 and data.classes == 10
    report = train.main(["--quiet", "--data", str(tmp_path), "--epochs", "3"])
    assert report.test_accuracy >= 0.9


def test_mnist_npz_in_the_keras_layout(tmp_path):
    rng = np.random.default_rng(0)
    (xa, ya), (xb, yb) = fake_mnist(rng, 40), fake_mnist(rng, 10)
    np.savez(tmp_path / "mnist.npz", x_train=xa, y_train=ya, x_test=xb, y_test=yb)
    data = datasets.load_mnist(tmp_path / "mnist.npz")
    assert data.x_test.shape == (10, 1, 8, 8) and data.y_test.dtype == np.int32
    np.savez(tmp_path / "bad.npz", x_train=xa)
    with pytest.raises(ValueError, match=r"bad.npz: missing arrays \['y_train', 'x_test', 'y_test'\]"):
        datasets.load_mnist(tmp_path / "bad.npz")


def test_the_digits_split_is_fixed_and_disjoint():
    a, b = datasets.load_digits(), datasets.load_digits()
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert len(a.x_train) + len(a.x_test) == 1797 and len(a.x_test) == 359
    rows = {r.tobytes() for r in a.x_train}
    assert sum(r.tobytes() in rows for r in a.x_test) < 10  # the set has a few duplicate images


def test_the_cli_prints_the_summary():
    out = subprocess.run([sys.executable, "-m", "tinygradlike", "train", "--epochs", "1", "--quiet"],
                         capture_output=True, text=True, timeout=300, check=True).stdout
    for phrase in ("test accuracy", "time for the one epoch", "kernels per step", "kernels compiled"):
        assert phrase in out
