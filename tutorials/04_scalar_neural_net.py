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
# # 04 · A neural net of scalars
#
# Everything so far fits in one idea: Values that know their gradients. That is already enough to
# train a neural network. Here you build a small multi-layer perceptron out of `Value`s, train it
# to separate two interleaved half-moons, and draw what it learned. Every weight is one Value;
# every multiplication in the network is one node in a graph of about 70,000 nodes per step.

# %%
import math
import random

import matplotlib.pyplot as plt
import numpy as np

import checks
from helpers import show_figure
from tinygradlike import Value

# %% [markdown]
# ## The data: two half-moons
#
# A classic toy set that no straight line separates: points on two interleaved arcs, with a
# little noise, labelled -1 and +1.

# %%
def make_moons(n, noise, seed):
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, math.pi, n)
    upper = rng.random(n) < 0.5
    x = np.where(upper, np.cos(t), 1 - np.cos(t))
    y = np.where(upper, np.sin(t), 0.5 - np.sin(t))
    points = np.stack([x, y], axis=1) + rng.normal(scale=noise, size=(n, 2))
    return points, np.where(upper, 1.0, -1.0)


X, y = make_moons(100, noise=0.1, seed=1)
assert X.shape == (100, 2) and set(y) == {-1.0, 1.0}

# %% [markdown]
# ## Neurons, layers, a network
#
# A neuron computes `act(w · x + b)`: a weighted sum of its inputs plus a bias, through a
# nonlinearity (here ReLU, `max(0, z)`, except in the last layer, which stays linear to give a
# score). A layer is a list of neurons reading the same inputs; a network is a list of layers.
# `parameters()` lists every weight and bias: those are what training changes.

# %%
class Neuron:
    def __init__(self, n_inputs, rng, linear=False):
        self.w = [Value(rng.uniform(-1, 1)) for _ in range(n_inputs)]
        self.b = Value(0.0)
        self.linear = linear

    def __call__(self, xs):
        total = self.b
        for w, x in zip(self.w, xs):
            total = total + w * x
        return total if self.linear else total.relu()

    def parameters(self):
        return self.w + [self.b]


class Layer:
    def __init__(self, n_inputs, n_outputs, rng, linear=False):
        self.neurons = [Neuron(n_inputs, rng, linear) for _ in range(n_outputs)]

    def __call__(self, xs):
        return [neuron(xs) for neuron in self.neurons]

    def parameters(self):
        return [p for neuron in self.neurons for p in neuron.parameters()]


class MLP:
    def __init__(self, sizes, seed=0):
        rng = random.Random(seed)
        self.layers = [Layer(a, b, rng, linear=(i == len(sizes) - 2))
                       for i, (a, b) in enumerate(zip(sizes, sizes[1:]))]

    def __call__(self, xs):
        for layer in self.layers:
            xs = layer(xs)
        return xs[0]

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]


model = MLP([2, 16, 16, 1])
print(len(model.parameters()), "parameters")
assert len(model.parameters()) == (2 + 1) * 16 + (16 + 1) * 16 + (16 + 1) * 1

# %% [markdown]
# ## The loss
#
# For a score s and a label y of ±1, the hinge loss `max(0, 1 - y·s)` is zero once the point is
# on the right side with a margin of 1, and grows linearly the more it is wrong. We average it
# over the points and add a little L2 penalty on the weights, which keeps them small and the
# boundary smooth. Accuracy counts the points whose score has the sign of their label.

# %%
def loss_and_accuracy(model, X, y, alpha=1e-4):
    scores = [model([float(a), float(b)]) for a, b in X]
    margins = [(1 - score * float(label)).relu() for score, label in zip(scores, y)]
    data_loss = sum(margins, Value(0.0)) * (1.0 / len(margins))
    penalty = sum((p * p for p in model.parameters()), Value(0.0)) * alpha
    correct = sum((score.data > 0) == (label > 0) for score, label in zip(scores, y))
    return data_loss + penalty, correct / len(y)


loss, accuracy = loss_and_accuracy(model, X, y)
print(f"before training: loss {loss.data:.3f}, accuracy {accuracy:.0%}")

# %% [markdown]
# ## Training
#
# Gradient descent: compute the loss, zero the gradients, `backward()`, and move every parameter
# a small step against its gradient. The step size shrinks as training goes on. Each step builds
# a new graph (the parameters are leaves shared by all of them) and sweeps it once.

# %%
history = []
for step in range(80):
    loss, accuracy = loss_and_accuracy(model, X, y)
    loss.zero_grad()
    loss.backward()
    learning_rate = 1.0 - 0.9 * step / 80
    for p in model.parameters():
        p.data -= learning_rate * p.grad
    history.append((loss.data, accuracy))
print(f"after {len(history)} steps: loss {history[-1][0]:.3f}, accuracy {history[-1][1]:.0%}")
assert history[-1][1] >= 0.95 and history[-1][0] < history[0][0] / 5

# %% [markdown]
# ## What it learned
#
# The decision boundary is where the score crosses zero. To draw it we evaluate the network on a
# grid of points. Building a graph per grid point would be slow and pointless (no gradients are
# needed), so we read the weights out as numpy arrays and run the same arithmetic on the whole
# grid at once: a preview of tutorial 05, where whole arrays are the unit of work.

# %%
def as_arrays(model):
    return [(np.array([[w.data for w in n.w] for n in layer.neurons]),
             np.array([n.b.data for n in layer.neurons])) for layer in model.layers]


def scores_numpy(model, points):
    h = points
    layers = as_arrays(model)
    for i, (W, b) in enumerate(layers):
        h = h @ W.T + b
        if i < len(layers) - 1:
            h = np.maximum(h, 0)
    return h[:, 0]


assert np.allclose(scores_numpy(model, X[:5]), [model([float(a), float(b)]).data for a, b in X[:5]])
xx, yy = np.meshgrid(np.linspace(-1.5, 2.5, 120), np.linspace(-1.0, 1.5, 120))
grid = scores_numpy(model, np.stack([xx.ravel(), yy.ravel()], axis=1)).reshape(xx.shape)

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
left.contourf(xx, yy, grid > 0, alpha=0.3, cmap="coolwarm")
left.scatter(X[:, 0], X[:, 1], c=y, cmap="coolwarm", edgecolors="k", s=25)
left.set_title("decision boundary")
right.plot([h[0] for h in history], label="loss")
right.plot([h[1] for h in history], label="accuracy")
right.set_xlabel("step")
right.legend()
show_figure(fig, "04_moons")
plt.close(fig)

# %% [markdown]
# ## Exercises
#
# **04.1 `hinge_loss(scores, labels)`**: the mean of `max(0, 1 - label * score)` over a list of
# score Values and ±1 labels, as a Value (so `backward()` gives each score its gradient). Use
# `Value.relu()` for the max.
#
# **04.2 `count_parameters(sizes)`**: how many parameters an `MLP(sizes)` has, without building
# it. Check yourself: 337 for [2, 16, 16, 1].
#
# Solutions: `tutorials/solutions/s04.py`.

# %%
def hinge_loss(scores, labels):
    raise NotImplementedError


def count_parameters(sizes):
    raise NotImplementedError


print(checks.hinge_loss(hinge_loss))
print(checks.count_parameters(count_parameters))
