"""Configuration of the recsys domain: datasets (generated or real Criteo), CTR models, training, grid search.

Two kinds of files:

* ``recsys/datasets/<name>.yaml`` — a :class:`DatasetConfig`: where the rows come from (the generator or
  a user's ``train.txt``) and how they are preprocessed. Preprocessing runs once per dataset and is
  shared by every experiment on it (``python -m recsys.preprocess --dataset <name>``).
* ``recsys/configs/<model>_<dataset>.yaml`` — a :class:`RecsysConfig`: one experiment (model, training,
  and, per ``feedback.kind``, the learning-rate × dropout grid; BP and DFA are tuned separately).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

import hardware.kinds  # noqa: F401  (registers feedback.kind=optical and dfa_ternary)
from common.config import Fraction, LearningRate, NonEmpty, NonNegativeFloat, NonNegativeInt, PositiveInt, Widths
from common.feedback import FeedbackConfig

# Distinct values per categorical column (C1..C26) of the Kaggle train.txt; the generator caps them at 10^6.
CRITEO_CARDINALITIES = (
    1460, 583, 10131227, 2202608, 305, 24, 12517, 633, 3, 93145, 5683, 8351593, 3194,
    27, 14992, 5461306, 10, 5652, 2173, 4, 7046547, 18, 15, 286181, 105, 142572,
)  # fmt: skip
# Approximate share of empty fields per column of the Kaggle train.txt.
CRITEO_INT_MISSING = (0.45, 0.0, 0.21, 0.22, 0.03, 0.22, 0.04, 0.0, 0.04, 0.45, 0.04, 0.77, 0.22)
CRITEO_CAT_MISSING = (
    0.0, 0.0, 0.03, 0.03, 0.0, 0.12, 0.0, 0.0, 0.0, 0.0, 0.0, 0.03, 0.0,
    0.0, 0.0, 0.03, 0.0, 0.0, 0.44, 0.44, 0.03, 0.76, 0.0, 0.03, 0.44, 0.44,
)  # fmt: skip


@dataclass(frozen=True)
class GeneratorConfig:
    """Criteo-format rows drawn from a hidden click model (see :mod:`recsys.generate`)."""

    rows: PositiveInt = 2_000_000
    seed: int = 0
    cardinalities: tuple[int, ...] = tuple(min(k, 10**6) for k in CRITEO_CARDINALITIES)
    """Distinct values of each categorical field (26 entries): the real file's, capped at 10^6."""
    zipf_exponent: float = 1.1
    """Value frequencies within a categorical field fall as rank^-exponent."""
    cat_missing: tuple[float, ...] = CRITEO_CAT_MISSING
    """Probability that each categorical field is empty (26 entries)."""
    int_missing: tuple[float, ...] = CRITEO_INT_MISSING
    """Probability that each integer field is empty (13 entries)."""
    int_log_mean: tuple[float, ...] = (0.7, 1.1, 1.9, 1.6, 7.8, 3.4, 1.4, 2.1, 3.7, 0.5, 0.9, 0.3, 1.6)
    """Integer field v = floor(exp(mean + std·z)) − 1 − offset, z ~ N(0, 1): heavy-tailed counts (13 entries)."""
    int_log_std: tuple[float, ...] = (1.0, 1.4, 1.3, 0.9, 1.8, 1.6, 1.3, 0.9, 1.3, 0.5, 0.8, 0.6, 1.0)
    int_offset: tuple[int, ...] = (0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    """Shift of each integer field (I2 of the real file goes down to −3)."""
    positive_rate: Fraction = 0.256
    """Share of clicks (the Kaggle file has 25.6%); the hidden model's bias is solved for it."""
    first_order: float = 1.4
    """Standard deviation, in the logit, of the sum of per-value weights. The three strengths make the true
    model's AUC about 0.79 with the first-order term alone, 0.80 with the pairwise one, 0.83 with all three:
    first-order effects dominate and each richer model gains a little, as logistic regression, FM and the
    deep models do on the real Criteo data."""
    pairwise: float = 0.4
    """Standard deviation of the pairwise term sum_{f<g} <v_f, v_g> (what a factorization machine can fit)."""
    higher_order: float = 0.7
    """Standard deviation of the third-order term: products of per-value factors of field triples."""
    pair_rank: PositiveInt = 4
    triples: NonNegativeInt = 24
    """Number of field triples in the third-order term."""
    triple_max_values: PositiveInt = 1000
    """The triples are drawn among the integer fields and the categorical fields with at most this many values."""
    table_size: PositiveInt = 16384
    """Hidden parameters per field; values beyond it share parameters (index modulo the size)."""


@dataclass(frozen=True)
class PreprocessConfig:
    """Text → int32 arrays (see :mod:`recsys.preprocess`)."""

    min_count: PositiveInt = 10
    """A value seen fewer times in the training split maps to its field's out-of-vocabulary id."""
    split: tuple[Fraction, Fraction, Fraction] = (0.8, 0.1, 0.1)
    """Shares of train, validation and test; each row is assigned independently."""
    split_seed: int = 0
    block_kb: PositiveInt = 8192
    """Text read and parsed at a time (KiB): bounds the reader's memory."""


@dataclass(frozen=True)
class DatasetConfig:
    """One dataset: its rows' origin and their preprocessing."""

    source: Literal["generated", "file"] = "generated"
    """``generated``: rows from the generator (written to the cache); ``file``: a Criteo-format file of the user."""
    path: str = ""
    """For ``file``: the text file (relative paths from the repository root)."""
    description: str = ""
    """How the report names the data."""
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)


@dataclass(frozen=True)
class DataConfig:
    """Which prepared dataset an experiment trains on."""

    dataset: str = "synthetic"
    """Name of ``recsys/datasets/<name>.yaml``."""
    path: str = ""
    """Your own Criteo-format text file (tab-separated label, 13 integer and 26 categorical fields), read
    instead of ``dataset``: prepared on first use into ``<cache>/file-<hash>/`` (the hash covers the file's
    content and the preprocessing settings). Relative paths are from the repository root."""
    cache: str = "data/cache/recsys"
    """Folder of prepared datasets (``<cache>/<name>/``), relative to the repository root."""
    train_limit: NonNegativeInt = 0
    """Use only the first N training rows (0: all)."""
    eval_limit: NonNegativeInt = 0
    """Use only the first N validation and test rows (0: all)."""


@dataclass(frozen=True)
class ModelConfig:
    """A CTR model of :data:`recsys.models.MODELS`; each reads the fields it needs."""

    name: Literal["fm", "deepfm", "dcn", "afn"] = "deepfm"
    embed_dim: PositiveInt = 10
    first_order_init: float = 0.01
    """Standard deviation of the first-order weights at initialisation. 0.01 learns on small files and on the
    generated data; 1.0 is pytorch-fm's (nn.Embedding's), which the authors used on 36M training rows and the
    paper configs (``*_criteo.yaml``) keep: with fewer rows the initial noise of the weights of rarely seen
    values dominates (FM on 1,600 real Criteo rows: test AUC below 0.5)."""
    mlp_dims: Widths = (400, 400, 400)
    """Widths of the MLP blocks (Linear → BatchNorm → ReLU → Dropout, a feedback point after each)."""
    cross_layers: PositiveInt = 6
    """Deep & Cross: number of cross layers."""
    lnn_dim: PositiveInt = 1500
    """AFN: number of logarithmic neurons."""
    embedding_feedback: bool = False
    """AFN: give the embeddings their own DFA signal. False follows the authors' code, where a cut without a
    signal leaves AFN's embeddings at their initialisation under dfa and shallow."""


@dataclass(frozen=True)
class SearchConfig:
    """The learning-rate × dropout grid of one run; the point with the best validation AUC is reported."""

    lr: Annotated[tuple[LearningRate, ...], NonEmpty()] = (1e-3,)
    dropout: Annotated[tuple[Fraction, ...], NonEmpty()] = (0.0,)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation (Adam), early stopping and evaluation."""

    epochs: PositiveInt = 15
    """At most this many epochs per grid point."""
    patience: PositiveInt = 3
    """Stop a grid point after this many epochs without a better validation AUC."""
    batch_size: PositiveInt = 2048
    weight_decay: NonNegativeFloat = 0.0
    clip_grad_norm: NonNegativeFloat = 0.0
    """Clip the gradient norm to this value (0: off); the authors clip Deep&Cross at 100."""
    eval_batch_size: PositiveInt = 16384
    device: str = "auto"
    """``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda`` or ``cuda:<i>``; the splits move there whole."""


@dataclass(frozen=True)
class RecsysConfig:
    """One recsys run."""

    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    feedback: FeedbackConfig = field(default_factory=FeedbackConfig)
