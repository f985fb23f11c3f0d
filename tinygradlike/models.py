"""The networks of the training job that are more than a Sequential: a small GPT.

    model = GPT(vocab=3, block_size=11, width=48, depth=2, heads=4, outputs=6)
    logits = model(tokens)          # tokens (B, 11) int32 -> logits (B, 6, 3) of the last 6 positions

GPT is minGPT's shape, pre-norm: token and position embeddings, then `depth` blocks of
x + attention(LayerNorm(x)) and x + MLP(LayerNorm(x)) (causal self-attention over `heads`
heads; MLP: width -> 4 width, GELU, -> width), a last LayerNorm and a linear head.
Its weights are named as the torch twin in benchmarks/train.py names them, so a state dict
moves between the two.
"""
from __future__ import annotations

from tinygradlike import nn
from tinygradlike.tensor import Tensor


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention where position t sees positions <= t: the q, k, v projections
    (one Linear to 3 * width, as minGPT's c_attn: one matmul and one weight update instead of
    three), softmax(q k^T / sqrt(head size)) v per head, the heads joined and projected.

    >>> from tinygradlike.models import CausalSelfAttention
    >>> CausalSelfAttention(8, heads=2)(Tensor.zeros(1, 3, 8)).shape
    (1, 3, 8)
    """

    def __init__(self, width: int, heads: int):
        if width % heads:
            raise ValueError(f"the width {width} must be a multiple of the number of heads {heads}")
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: Tensor) -> Tensor:
        batch, time, width = x.shape
        size = width // self.heads

        # (B, T, 3 width) -> (3, B, heads, T, head size): q, k and v are views of one result
        qkv = self.qkv(x).reshape(batch, time, 3, self.heads, size).permute(2, 0, 3, 1, 4)
        out = nn.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], is_causal=True)
        return self.proj(out.permute(0, 2, 1, 3).reshape(batch, time, width))


class Block(nn.Module):
    """One pre-norm transformer block: x + attention(ln1(x)), then x + mlp(ln2(x)).

    >>> from tinygradlike.models import Block
    >>> Block(8, heads=2)(Tensor.zeros(2, 3, 8)).shape
    (2, 3, 8)
    """

    def __init__(self, width: int, heads: int):
        self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attn = CausalSelfAttention(width, heads)
        self.fc, self.out = nn.Linear(width, 4 * width), nn.Linear(4 * width, width)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.out(self.fc(self.ln2(x)).gelu())


class GPT(nn.Module):
    """A small GPT: tokens (B, T <= block_size) int32 -> logits (B, outputs, vocab) for the last
    `outputs` positions (each one predicting the token after it); outputs=None gives all T.

    >>> from tinygradlike.models import GPT
    >>> GPT(vocab=3, block_size=5, width=8, depth=1, heads=2, outputs=3)(Tensor.zeros(2, 5, dtype=dtypes.int32)).shape
    (2, 3, 3)
    """

    def __init__(self, vocab: int, block_size: int, width: int = 48, depth: int = 2, heads: int = 4,
                 outputs: int | None = None):
        self.block_size, self.outputs = block_size, outputs
        self.tokens = nn.Embedding(vocab, width)
        self.positions = Tensor.randn(block_size, width, requires_grad=True)  # as nn.Embedding initializes
        self.blocks = [Block(width, heads) for _ in range(depth)]
        self.ln_f = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab)

    def forward(self, idx: Tensor) -> Tensor:
        time = idx.shape[1]
        if time > self.block_size:
            raise ValueError(f"a sequence of {time} tokens is longer than the block size {self.block_size}")
        x = self.tokens(idx) + self.positions[:time]
        for block in self.blocks:
            x = block(x)
        if self.outputs is not None:
            x = x[:, time - self.outputs:]  # only the positions that are scored: a smaller head
        return self.head(self.ln_f(x))

    def extra_repr(self) -> str:
        return f"block_size={self.block_size}, outputs={self.outputs}"
