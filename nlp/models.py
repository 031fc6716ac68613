"""A causal Transformer language model with DFA feedback points (the paper's Section 4.4 and Table 5).

Architecture: the post-LN Transformer of Vaswani et al. 2017 ("Attention Is All You Need", arXiv:1706.03762)
used as a decoder-only language model, as in the authors' ``LMTransformer``
(lightonai/dfa-scales-to-modern-deep-learning): token embedding × sqrt(d) + sinusoidal positions, N blocks
under a causal mask, an untied linear layer to the vocabulary. Attention is PyTorch's fused
``scaled_dot_product_attention`` (flash / memory-efficient kernels on GPU).

Feedback points (see common.feedback), ``model.placement``:

* ``macro`` — after every block, the last one included: ``h_l = point(Block_l(h_{l-1}))``;
* ``micro`` — inside every block as well: after attention + norm, and after the feed-forward activation
  (and its dropout), then after the block.

The global error (``model.error_at``): ``hidden`` reads ``e = dL/dh_L`` at the last block's d_model-wide
output, where the output marker sits on the last point; the vocabulary layer above it trains on its true
gradient and every block, the last included, receives ``B e``. This is the authors' placement (TinyDFA's
``DFA`` module at the encoder output, a ``DFALayer`` after each block). ``logits`` reads the vocabulary
error ``dL/dlogits`` instead. The embedding learns by backprop through the first block (or, in micro,
its first sub-layer) unless ``model.embedding_point`` gives it a point of its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from common.feedback import Feedback, FeedbackConfig
from nlp.config import ModelConfig

ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu}


def sinusoids(length: int, d_model: int) -> Tensor:
    """Vaswani et al.'s positional encodings: sin on even features, cos on odd ones. (length, d_model)"""
    position = torch.arange(length, dtype=torch.float32)[:, None]  # (L, 1)
    frequency = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    table = torch.zeros(length, d_model)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency)
    return table


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention where position t attends to positions ≤ t."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.d_model % cfg.n_head:
            raise ValueError(f"model.d_model={cfg.d_model} is not a multiple of model.n_head={cfg.n_head}")
        self.n_head, self.dropout = cfg.n_head, cfg.dropout
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        nn.init.xavier_uniform_(self.qkv.weight)  # as nn.MultiheadAttention's in_proj, the authors' layer
        nn.init.zeros_(self.qkv.bias)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: Tensor) -> Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)  # 3 × (B, T, C)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))  # (B, T, C)


class Block(nn.Module):
    """Post-LN block: a = LN(x + Attn(x)); out = LN(a + W2 act(W1 a)). ``mark`` sets the micro points."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.attn = CausalSelfAttention(cfg)
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.fc1 = nn.Linear(cfg.d_model, cfg.d_ff)
        self.fc2 = nn.Linear(cfg.d_ff, cfg.d_model)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.act = ACTIVATIONS[cfg.activation]

    def forward(self, x: Tensor, mark: Callable[[Tensor], Tensor]) -> Tensor:
        a = mark(self.ln1(x + self.drop(self.attn(x))))  # (B, T, d): micro point 1, attention + norm
        f = mark(self.drop(self.act(self.fc1(a))))  # (B, T, d_ff): micro point 2, feed-forward activation
        return self.ln2(a + self.drop(self.fc2(f)))  # (B, T, d)


def _unmarked(h: Tensor) -> Tensor:
    return h


class Transformer(nn.Module):
    """Token ids (B, T) → next-token logits (B, T, vocab_size), with the feedback points of ``cfg.placement``.

    Args:
        cfg: the architecture and the placement of feedback points.
        vocab_size: tokens of the BPE vocabulary.
        feedback: how the blocks learn (bp, dfa, shallow, optical); ``self.fb`` runs the backward.
        seed: the run seed (draws the DFA feedback matrix with ``feedback.projector.seed``).
    """

    def __init__(self, cfg: ModelConfig, vocab_size: int, feedback: FeedbackConfig | None = None, seed: int = 0):
        super().__init__()
        self.cfg, self.vocab_size = cfg, vocab_size
        self.wte = nn.Embedding(vocab_size, cfg.d_model)
        self.register_buffer("pe", sinusoids(cfg.max_len, cfg.d_model), persistent=False)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.head = nn.Linear(cfg.d_model, vocab_size)  # untied from the embedding
        nn.init.uniform_(self.wte.weight, -cfg.init_range, cfg.init_range)
        nn.init.uniform_(self.head.weight, -cfg.init_range, cfg.init_range)
        nn.init.zeros_(self.head.bias)
        d_err = cfg.d_model if cfg.error_at == "hidden" else vocab_size
        dims = [width for _, width in self.points()]
        self.fb = Feedback(feedback or FeedbackConfig(), d_err=d_err, dims=dims, seed=seed)

    def points(self) -> list[tuple[str, int]]:
        """Name and width of every feedback point, in the order a forward pass meets them."""
        d, d_ff = self.cfg.d_model, self.cfg.d_ff
        names = [("embedding", d)] if self.cfg.embedding_point else []
        for layer in range(self.cfg.n_layer):
            if self.cfg.placement == "micro":
                names += [(f"block{layer}.attn", d), (f"block{layer}.ff", d_ff)]
            names.append((f"block{layer}.out", d))
        return names

    def forward(self, idx: Tensor) -> Tensor:
        T = idx.shape[1]  # idx: (B, T)
        if self.cfg.max_len < T:
            raise ValueError(f"sequence of {T} tokens exceeds model.max_len={self.cfg.max_len}")
        x = self.wte(idx) * math.sqrt(self.cfg.d_model)  # (B, T, d)
        if self.cfg.embedding_point:
            x = self.fb.point(x)
        x = self.drop(x + self.pe[:T])  # (B, T, d)
        inner = self.fb.point if self.cfg.placement == "micro" else _unmarked
        for block in self.blocks:
            x = self.fb.point(block(x, inner))  # (B, T, d)
        if self.cfg.error_at == "logits":
            return self.fb.output(self.head(x))  # (B, T, V); e = dL/dlogits
        if self.fb.projector is not None and torch.is_grad_enabled() and not x.requires_grad:
            x.requires_grad_()  # x is the cut (detached) last point: let the backward leave e = dL/dx in it
        return self.head(self.fb.output(x))  # (B, T, V); e = dL/dh_L
