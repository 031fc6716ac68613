"""Configuration of the graphs domain: Planetoid or your own graph, five graph convolutions, node or link task.

Every experiment file (``graphs/configs/<model>_<dataset>.yaml``) holds only what differs from these
defaults, with BP and DFA hyper-parameters side by side under ``methods:`` (see common.config).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import hardware.kinds  # noqa: F401  (registers feedback.kind=optical and dfa_ternary)
from common.config import Fraction, LearningRate, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt
from common.feedback import FeedbackConfig


@dataclass(frozen=True)
class DataConfig:
    """Which graph, how it is transformed and how it is split."""

    format: Literal["planetoid", "npz", "pyg"] = "planetoid"
    """``planetoid``: the Planetoid raw files (shipped: Cora, CiteSeer, PubMed); ``npz``: one NumPy file of
    your own graph (``path``; arrays described in graphs/formats.py); ``pyg``: any dataset class of
    ``torch_geometric.datasets`` (``pyg_class``) whose raw files are present under ``root``."""
    name: str = "Cora"
    """planetoid: Cora, CiteSeer or PubMed, read from ``<root>/<name>/raw/ind.<name lower-case>.*``;
    pyg: the class's ``name`` argument (e.g. Texas for WebKB), if it takes one. npz: unused (the file names it)."""
    root: str = "data/planetoid"
    """planetoid: folder holding one sub-folder of raw files per graph; pyg: the class's ``root``
    (relative paths are from the repository)."""
    path: str = ""
    """npz: the file (relative paths are from the repository)."""
    pyg_class: str = ""
    """pyg: the class name in ``torch_geometric.datasets``, e.g. WebKB, HeterophilousGraphDataset, Amazon."""
    undirected: bool = True
    """npz, pyg: add the reverse of every edge (GCNs propagate along both directions of a citation or a
    friendship); Planetoid graphs are stored undirected already."""
    cache: str = "data/cache/planetoid"
    """Where PyG writes its processed copy (``<cache>/<name>/processed``); generated, never tracked."""
    normalize_features: bool = True
    """Scale each node's features to sum to one (PyG's ``NormalizeFeatures``)."""
    pseudo: Literal["none", "target_indegree"] = "none"
    """Edge pseudo-coordinates: ``target_indegree`` gives each edge the in-degree of its target over the
    largest in-degree (PyG's ``TargetIndegree``), the input of SplineConv's kernel."""
    split: Literal["public", "random"] = "public"
    """``public``: the dataset's own split: Planetoid's (20 labels per class, 500 validation, 1000 test
    nodes), or the train/val/test masks of an npz or PyG dataset; masks holding K splits give split k to
    the run with seed k. ``random``: stratified folds drawn with the run seed; one fold trains, one
    validates, the rest test (the authors' split for DNAConv)."""
    folds: PositiveInt = 5
    """Number of stratified folds of the random split (5: 20% train, 20% validation, 60% test)."""
    val_edges: Fraction = 0.05
    """Link prediction: fraction of the undirected edges held out for validation."""
    test_edges: Fraction = 0.10
    """Link prediction: fraction of the undirected edges held out for test."""


@dataclass(frozen=True)
class ModelConfig:
    """A graph network from the registry ``graphs.models.MODELS``; fields name the models they concern."""

    name: str = "gcn"
    """cheb, gcn, spline, gat or dna."""
    hidden: PositiveInt = 16
    """Width of the hidden layer (per head for gat; the channel count of dna)."""
    out_channels: NonNegativeInt = 0
    """Width of the output; 0: the number of classes (node classification). The GAE's embedding size."""
    activation: Literal["relu", "elu"] = "relu"
    """Non-linearity after the first convolution (before the feedback point)."""
    input_dropout: Fraction = 0.0
    """Dropout on the node features before the first layer."""
    dropout: Fraction = 0.5
    """Dropout on the hidden activations (after the feedback point)."""
    cheb_k: PositiveInt = 2
    """cheb: order K of the Chebyshev polynomial filter."""
    kernel_size: PositiveInt = 2
    """spline: B-spline kernel size per pseudo-coordinate dimension."""
    spline_degree: PositiveInt = 1
    """spline: degree of the B-spline basis (1, 2 or 3)."""
    spline_backend: Literal["torch", "pyg-lib"] = "torch"
    """spline: ``torch`` is this repository's pure-PyTorch B-spline basis and weighting; ``pyg-lib`` uses
    pyg-lib's compiled kernels (must be installed)."""
    heads: PositiveInt = 8
    """gat: attention heads of the first layer; dna: attention heads of every layer."""
    out_heads: PositiveInt = 1
    """gat: attention heads of the output layer (averaged)."""
    attention_dropout: Fraction = 0.6
    """gat: dropout on the first layer's attention coefficients; dna: on every layer's."""
    out_attention_dropout: Fraction = 0.6
    """gat: dropout on the output layer's attention coefficients."""
    layers: PositiveInt = 5
    """dna: number of DNAConv layers (a feedback point follows the input layer and each of them)."""
    groups: PositiveInt = 16
    """dna: groups of the grouped query/key/value projections."""
    error_at: Literal["logits", "log_probs"] = "logits"
    """Where the global error is read: dNLL/dlogits (the paper's description), or dNLL/dlog-probs, which
    is what the authors' DNAConv code does (the error is then the negative one-hot label)."""


@dataclass(frozen=True)
class TrainConfig:
    """Full-batch Adam."""

    epochs: PositiveInt = 250
    lr: LearningRate = 0.01
    weight_decay: NonNegativeFloat = 5e-4
    decay: Literal["all", "first"] = "all"
    """``first``: weight decay on the first layer only (Kipf & Welling's convention, used by the authors
    for ChebConv and GCNConv); ``all``: on every parameter."""
    select: Literal["best_val", "last"] = "best_val"
    """Report the test metrics of the epoch with the best validation score, or of the last epoch."""
    checkpoint_every: PositiveInt = 25
    """Epochs between checkpoints (also at the end and where ``--stop-after`` stops the run): writing one
    costs more than a whole Cora epoch."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """``auto``: CUDA when available. final.json is bit-for-bit repeatable on the CPU only."""


@dataclass(frozen=True)
class TsneConfig:
    """A t-SNE map of the hidden activations after training (the paper's Figure 2), written as tsne.png."""

    enabled: bool = False
    seeds: tuple[int, ...] = (0,)
    """Only runs with these seeds draw the map (the report shows one; t-SNE costs ~10 s of CPU on Cora)."""
    perplexity: PositiveFloat = 20.0
    learning_rate: PositiveFloat = 100.0
    iterations: PositiveInt = 1000
    """The authors ran 5000 iterations of a GPU t-SNE; sklearn's Barnes-Hut has converged well before."""


@dataclass(frozen=True)
class GraphsConfig:
    """One graphs run."""

    seed: int = 0
    task: Literal["node", "link"] = "node"
    """``node``: semi-supervised node classification; ``link``: graph auto-encoder link prediction."""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    tsne: TsneConfig = field(default_factory=TsneConfig)
    feedback: FeedbackConfig = field(default_factory=FeedbackConfig)
