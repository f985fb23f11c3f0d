# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 11 · Training a network
#
# <!-- needs: device -->
#
# Tutorial 04 trained a network of scalars; here the same loop runs on tensors: layers, a loss, an
# optimizer and a loop. Nothing new happens underneath. A layer is a few Tensor ops, the loss is a
# few more, `backward()` adds the gradient graph, and the optimizer's `step()` realizes the whole
# step in one schedule.
#
# Every cell runs as part of the test suite (`tests/test_tutorials.py`).
#
# ## The data
#
# The package ships the UCI handwritten digits (1,797 images of 8x8 pixels, CC BY 4.0; see
# `tinygradlike/data/README.md`). `load_digits` always makes the same 80/20 split:

# %%
import numpy as np
from tinygradlike import Tensor, nn, optim, runtime
from tinygradlike.datasets import load_digits, batches

data = load_digits()
print(data)  # Dataset(digits: 1438 train, 359 test, images (1, 8, 8), 10 classes)
assert data.x_train.shape == (1438, 1, 8, 8) and data.x_train.dtype == np.float32

# %% [markdown]
# ## A model is a few tensors and a forward function
#
# `nn.Linear(64, 128)` holds a weight (128, 64) and a bias (128,), both made with
# `requires_grad=True`, and computes `x @ weight.T + bias`. `nn.Sequential` chains layers:

# %%
Tensor.manual_seed(0)  # the initial weights come from Tensor's seeded generator
model = nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
print(model)
assert [name for name in model.state_dict()] == ["1.weight", "1.bias", "3.weight", "3.bias"]

x = Tensor(data.x_train[:32])
logits = model(x)                      # lazy: a graph, no kernel has run
loss = nn.cross_entropy(logits, Tensor(data.y_train[:32]))
assert logits.lazy and loss.shape == ()

# %% [markdown]
# The names follow torch's (`"1.weight"` is the weight of layer 1), and so do the layouts,
# so a `state_dict` moves between the two with `.numpy()` and `torch.from_numpy`.
#
# `cross_entropy` is also composed: `logsumexp(logits) - logits[label]`, with the label picked
# by comparing it to `arange(10)` (a one-hot row), so its gradient is `softmax - onehot` and
# comes from the rules of the primitive ops, like everything else.
#
# ## One step

# %%
opt = optim.Adam(model.parameters(), lr=0.01)

opt.zero_grad()
loss.backward()        # fills p.grad for every parameter: lazy tensors, still no kernel
opt.step(loss)         # ONE schedule: forward, backward, all updates, and the loss we pass
print(f"first loss {loss.item():.3f}")  # about log(10) = 2.3: the model guesses

# %% [markdown]
# `step()` builds each parameter's new value (and Adam's m and v) as lazy tensors and realizes
# them together, then writes each into the memory its tensor already owns (`Tensor.assign`).
# The parameters become leaves again: the graph of this step is gone, so nothing grows from
# step to step. Passing `loss` to `step` computes it in the same schedule, for free.
#
# ## The loop, replayed with jit
#
# A training step builds the same graph every time. `jit` records the kernels of one call and
# replays them from then on, with only the input buffers swapped. Inputs must be tensors
# passed in: a replay runs no Python, so a tensor made from numpy *inside* the function would
# be frozen into the recording (jit refuses it while recording, with a message saying so):

# %%
from tinygradlike.jit import jit

@jit
def train_step(x: Tensor, y: Tensor):
    logits = model(x)
    loss = nn.cross_entropy(logits, y)
    opt.zero_grad()
    loss.backward()
    opt.step(loss, logits)
    return loss, logits

def test_accuracy(model):
    model.eval()
    predicted = model(Tensor(data.x_test)).argmax(axis=1).numpy()
    model.train()
    return (predicted == data.y_test).mean()


rng = np.random.default_rng(0)
history = []  # (epoch, mean training loss, test accuracy)
for epoch in range(3):
    losses = []
    for i, idx in enumerate(batches(len(data.x_train), 32, rng)):  # drops the short last batch
        if epoch == 1 and i == 0:
            runtime.reset_stats()
        loss, logits = train_step(Tensor(data.x_train[idx]), Tensor(data.y_train[idx]))
        # read it now: a replay writes its results into the same memory on every call, so a
        # loss kept for later would show the last step's value (jit's rules, tinygradlike/jit.py)
        losses.append(loss.item())
    mean_loss = float(np.mean(losses))
    history.append((epoch + 1, mean_loss, test_accuracy(model)))
    print(f"epoch {epoch + 1}: loss {mean_loss:.3f}, test accuracy {history[-1][2]:.2%}")

steps = 2 * (len(data.x_train) // 32)
print(f"kernels per step: {runtime.stats()['kernels_launched'] / steps:.0f}")
assert runtime.stats()["kernels_compiled"] == 0  # every step after the first reuses its kernels

# %% [markdown]
# The optimizer keeps everything that changes between steps on the device: the learning rate
# is a one-element buffer (`opt.lr = 0.005` rewrites it; no kernel recompiles), and Adam's bias
# corrections are state that the step itself advances, so a replay, which runs no Python,
# still does exactly what the plain step does.

# %% [markdown]
# ## Loss and accuracy curves

# %%
import matplotlib.pyplot as plt
from helpers import show_figure

fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3))
left.plot([h[0] for h in history], [h[1] for h in history], "o-")
left.set_xlabel("epoch")
left.set_ylabel("training loss")
right.plot([h[0] for h in history], [h[2] for h in history], "o-")
right.set_xlabel("epoch")
right.set_ylabel("test accuracy")
show_figure(fig, "11_mlp_curves")
plt.close(fig)
assert history[-1][1] < history[0][1]

# %% [markdown]
# ## What jit saves
#
# Without `jit`, each step runs the Python of the forward pass, the backward rules and the
# optimizer, then finds the step's schedule by the graph's structure (it has seen the same
# graph before, so it groups, renders and compiles nothing). With `jit`, a step is a replay of
# recorded launches. Time both on the same batches, as a ratio:

# %%
import time


def plain_step(x, y):
    logits = model(x)
    loss = nn.cross_entropy(logits, y)
    opt.zero_grad()
    loss.backward()
    opt.step(loss, logits)
    return loss, logits


def time_steps(step, n=30):
    idx = np.arange(32)
    x, y = Tensor(data.x_train[idx]), Tensor(data.y_train[idx])
    step(x, y)[0].item()
    start = time.perf_counter()
    for _ in range(n):
        loss, _ = step(x, y)
    loss.item()
    return (time.perf_counter() - start) / n


t_plain, t_jit = time_steps(plain_step), time_steps(train_step)
print(f"a step without jit {t_plain * 1e3:.2f} ms, with jit {t_jit * 1e3:.2f} ms")
assert t_plain < 5 * t_jit      # eager code stays close to the replay (benchmarks/overhead.py)

# %% [markdown]
# ## Evaluation
#
# `model.eval()` switches layers that behave differently at test time (Dropout, BatchNorm):

# %%
model.eval()
predicted = model(Tensor(data.x_test)).argmax(axis=1).numpy()
accuracy = (predicted == data.y_test).mean()
print(f"test accuracy {accuracy:.2%}")
assert accuracy > 0.9
model.train()

# %% [markdown]
# ## Checkpoints
#
# Weights go to `.npz` or `.safetensors` (chosen by the extension). Loading parses bytes and
# nothing else: no pickle, so a weights file cannot run code, and a damaged one says so:

# %%
import os, tempfile

path = os.path.join(tempfile.mkdtemp(), "digits.safetensors")
model.save(path)

Tensor.manual_seed(1)
fresh = nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
fresh.load(path)
fresh.eval()
assert (fresh(Tensor(data.x_test)).argmax(axis=1).numpy() == predicted).all()

with open(path, "r+b") as f:
    f.truncate(100)    # cut the file short
try:
    fresh.load(path)
except ValueError as e:
    print(e)           # ...digits.safetensors is not a valid safetensors file: the header claims ...

# %% [markdown]
# ## A convolutional network
#
# `nn.Conv2d` is composed from the same primitives: im2col (a view that gathers each 3x3 patch,
# with padding as a masked view) and one matmul; `nn.MaxPool2d(2)` is a reshape and a max. The
# loop does not change.

# %%
Tensor.manual_seed(0)
cnn = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                    nn.Linear(8 * 4 * 4, 10))
cnn_opt = optim.Adam(cnn.parameters(), lr=0.01)


@jit
def cnn_step(x: Tensor, y: Tensor):
    loss = nn.cross_entropy(cnn(x), y)
    cnn_opt.zero_grad()
    loss.backward()
    cnn_opt.step(loss)
    return loss


for epoch in range(2):
    for idx in batches(len(data.x_train), 32, rng):
        loss = cnn_step(Tensor(data.x_train[idx]), Tensor(data.y_train[idx]))
    print(f"cnn epoch {epoch + 1}: loss {loss.item():.3f}, test accuracy {test_accuracy(cnn):.2%}")
assert test_accuracy(cnn) > 0.85

# %% [markdown]
# ## The same, from the command line
#
# `python -m tinygradlike train` runs this job with a progress bar and prints the test
# accuracy, the time per epoch, the kernels per step and the kernels compiled. Options:
# `--epochs`, `--batch-size`, `--lr`, `--optimizer {adam,adamw,sgd}`, `--model {mlp,cnn}`
# (a small conv net: `Conv2d` by im2col and one matmul, `MaxPool2d` by reshape and max),
# `--seed`, `--device`, `--save PATH`, and `--data PATH` for MNIST from a local `.npz` or a
# folder of idx files. `benchmarks/train.py` times the same job against PyTorch.

# %% [markdown]
# ## Exercises
#
# **11.1 `accuracy(logits, labels)`**: the share of rows of a numpy array of logits whose largest
# entry is at the label's index.
#
# **11.2 `momentum_step(p, g, buf, lr, momentum)`**: one step of SGD with momentum as PyTorch
# defines it, on numpy arrays; return the new parameter and the new buffer.
#
# Solutions: `tutorials/solutions/s11.py`.

# %%
import checks


def accuracy(logits, labels):
    raise NotImplementedError


def momentum_step(p, g, buf, lr, momentum):
    raise NotImplementedError


print(checks.accuracy(accuracy))
print(checks.momentum_step(momentum_step))
