"""One check shared by the op tests: a result built our way and torch's way from the same
storages, compared with every leaf's gradient of sum(result * r) for a fixed random r."""
import numpy as np
import torch

from tinygradlike import Tensor


def compare_with_torch(fn_ours, fn_torch, *specs, rtol, atol, seed=0):
    """specs: (storage array, view function) pairs; each function sees the leaf made from its
    storage through the view (a permute, a slice, ...), for our Tensors and torch's alike."""
    ours = [Tensor(s, requires_grad=True) for s, _ in specs]
    theirs = [torch.tensor(s, requires_grad=True) for s, _ in specs]
    out = fn_ours(*(view(t) for t, (_, view) in zip(ours, specs)))
    out_t = fn_torch(*(view(t) for t, (_, view) in zip(theirs, specs)))
    assert tuple(out.shape) == tuple(out_t.shape)
    np.testing.assert_allclose(out.numpy(), out_t.detach().numpy(), rtol=rtol, atol=atol)
    r = np.random.default_rng(seed).standard_normal(tuple(out_t.shape)).astype(np.float32)
    (out * Tensor(r)).sum().backward()
    (out_t * torch.tensor(r)).sum().backward()
    for t, tt in zip(ours, theirs):
        np.testing.assert_allclose(t.grad.numpy(), tt.grad.numpy(), rtol=rtol, atol=atol)
