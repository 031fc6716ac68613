"""Configuration of the vision domain (MNIST, fully connected networks)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from common.feedback import FeedbackConfig


@dataclass(frozen=True)
class DataConfig:
    """Where MNIST is read from and how much of it is used."""

    root: str = "data/mnist/raw"
    """Folder with the four gzipped IDX files (train/t10k images/labels), relative to the repository."""
    train_limit: int = 0
    """Use only the first N training images (0: all 60,000); for smoke runs."""
    test_limit: int = 0
    """Use only the first N test images (0: all 10,000); for smoke runs."""


@dataclass(frozen=True)
class ModelConfig:
    """A fully connected network 784 → hidden... → 10."""

    hidden: tuple[int, ...] = (800, 800)
    """Widths of the hidden layers (a feedback point follows each)."""
    activation: Literal["tanh", "relu"] = "tanh"


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation."""

    epochs: int = 10
    batch_size: int = 128
    optimizer: Literal["sgd", "adam"] = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    """SGD only."""
    weight_decay: float = 0.0
    schedule: Literal["constant", "cosine"] = "cosine"
    """Learning rate over epochs: constant, or cosine annealing to zero at the last epoch."""
    align_batch: int = 1000
    """Training examples on which alignment is measured (when feedback.align_every > 0)."""


@dataclass(frozen=True)
class VisionConfig:
    """One vision run."""

    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    feedback: FeedbackConfig = field(default_factory=FeedbackConfig)
