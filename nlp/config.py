"""Configuration of the NLP domain: a causal Transformer language model on WikiText (the paper's Table 5).

The defaults are the paper's: 6 layers, 8 heads, d_model 512, d_ff 2048, dropout 0.1, post-LN,
sinusoidal positions, untied output layer; chunks of 128 BPE tokens, batches of 64, gradient clipping
0.5; Adam (β2 0.98, ε 1e-9) under the Noam schedule. Where the authors' code
(lightonai/dfa-scales-to-modern-deep-learning, ``paper-experiments/natural-language-processing``)
fixes a detail the paper leaves open, the field says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import hardware.kinds  # noqa: F401  (registers feedback.kind=optical and dfa_ternary)
from common.config import Fraction, LearningRate, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt
from common.feedback import FeedbackConfig


@dataclass(frozen=True)
class DataConfig:
    """Which corpus, how it is tokenised, and how much of it a run reads."""

    corpus: Literal["wikitext2", "wikitext103", "text"] = "wikitext103"
    """WikiText-103 (the paper's) is read from the user's files (see ``root``); WikiText-2 ships in data/wikitext2;
    ``text``: your own plain-text corpus (see ``path``)."""
    root: str = ""
    """Folder holding wiki.{train,valid,test}.tokens ('' = the corpus's usual place, see nlp.data.CORPORA)."""
    path: str = ""
    """corpus=text: a folder holding train.txt, valid.txt and test.txt (UTF-8), or one text file that
    ``split`` cuts in three (relative paths are from the repository)."""
    split: tuple[float, float, float] = (0.9, 0.05, 0.05)
    """corpus=text, one file: shares of train, valid and test, cut in file order at the end of a line."""
    vocab_size: PositiveInt = 32000
    """BPE vocabulary (byte alphabet + merges), learned on the training split (the paper: 32k on WikiText-103)."""
    lowercase: bool = True
    """Lowercase the text before BPE, as the authors' torchtext field did (``lower=True``)."""
    seq_len: PositiveInt = 128
    """Tokens per training chunk (the model sees no context beyond a chunk)."""
    cache: str = "data/cache/nlp"
    """Where the tokenizer and the encoded token arrays are kept (one folder per corpus × BPE setting; a corpus
    read from elsewhere than its usual place has the hash of its content in the folder's name)."""
    train_tokens: NonNegativeInt = 0
    """Train on the first N tokens of the training split only (0: all); for reduced profiles."""
    valid_tokens: NonNegativeInt = 0
    """Evaluate on the first N tokens of the validation split only (0: all)."""


@dataclass(frozen=True)
class ModelConfig:
    """A post-LN causal Transformer (Vaswani et al. 2017) and where its feedback points sit."""

    n_layer: PositiveInt = 6
    n_head: PositiveInt = 8
    d_model: PositiveInt = 512
    d_ff: PositiveInt = 2048
    dropout: Fraction = 0.1
    """On embeddings + positions, attention probabilities, the feed-forward activation and each sub-layer's
    output (the four places the authors' code applies it)."""
    activation: Literal["relu", "gelu"] = "relu"
    init_range: PositiveFloat = 0.1
    """Embedding and output layer drawn from U(-r, r) (the authors' ``init_weights``); other layers keep
    PyTorch's defaults."""
    max_len: PositiveInt = 1024
    """Longest sequence the sinusoidal position table covers."""
    placement: Literal["macro", "micro"] = "macro"
    """DFA feedback points. ``macro``: after each block. ``micro``: after attention + norm, after the
    feed-forward activation, and after each block (the authors' ``--dfa simple`` / ``--dfa full``)."""
    error_at: Literal["hidden", "logits"] = "hidden"
    """Where the global error e is read. ``hidden``: dL/dh at the last block's d_model output, below the
    vocabulary layer (the authors' default); ``logits``: dL/dlogits, the vocabulary error
    (``--dfa_after_vocab``). The vocabulary layer trains on its true gradient either way."""
    embedding_point: bool = False
    """Add a feedback point after the (scaled) token embedding, so that the embedding receives its own DFA
    signal (``--dfa_embed``). Off: the embedding learns by backprop through the first block (or, in micro,
    its first sub-layer)."""


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation: the columns of Table 5 are settings of these fields (see nlp/configs)."""

    epochs: PositiveInt = 20
    max_steps: NonNegativeInt = 0
    """Stop after this many optimizer steps (0: ``epochs`` full passes over the training chunks)."""
    batch_size: PositiveInt = 64
    eval_every: NonNegativeInt = 0
    """Evaluate (log, checkpoint, keep the best) every this many steps (0: once per epoch)."""
    eval_batch_size: PositiveInt = 64
    lr: LearningRate = 6.9877e-4
    """Peak learning rate of ``noam``, the constant one of ``constant``, the initial one of ``plateau``."""
    beta1: float = 0.9
    beta2: float = 0.98
    eps: PositiveFloat = 1.0e-9
    weight_decay: NonNegativeFloat = 0.0
    schedule: Literal["noam", "constant", "plateau"] = "noam"
    """``noam``: lr · min(s / warmup, sqrt(warmup / s)) at step s ≥ 1, i.e. Vaswani et al.'s
    d^-0.5 · min(s^-0.5, s · warmup^-1.5) with the factor folded into the peak ``lr``;
    ``constant``; ``plateau``: × ``plateau_factor`` when the validation loss has not improved for
    ``plateau_patience`` evaluations (PyTorch's ReduceLROnPlateau)."""
    warmup: NonNegativeInt = 4000
    plateau_factor: Fraction = 0.2
    plateau_patience: NonNegativeInt = 1
    grad_clip: NonNegativeFloat = 0.5
    """Clip the global norm of the updates (BP gradients or DFA signals' weight updates); 0: off."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """``auto``: CUDA when available."""
    amp: Literal["none", "bf16"] = "none"
    """Mixed precision: ``bf16`` autocast of the forward pass (GPU runs), or ``none`` (spelled as in nerf; not
    ``off``, which YAML reads as the boolean false)."""
    align_batch: PositiveInt = 16
    """Training chunks on which alignment is measured (feedback.align_every counts evaluations)."""


@dataclass(frozen=True)
class NLPConfig:
    """One language-model run."""

    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    feedback: FeedbackConfig = field(default_factory=FeedbackConfig)
