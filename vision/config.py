"""Configuration of the vision domain: image datasets, fully connected and convolutional networks, training."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import hardware.kinds  # noqa: F401  (registers feedback.kind=optical and dfa_ternary)
from common.config import Fraction, LearningRate, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, Widths
from common.feedback import FeedbackConfig


@dataclass(frozen=True)
class DataConfig:
    """Which images are read, how they are split and prepared (see vision/data.py and its DATASETS)."""

    name: Literal["mnist", "fashion_mnist", "cifar10", "npz"] = "mnist"
    """mnist and fashion_mnist ship (IDX files); cifar10 is read from your copy of its python batches;
    npz is your own file (``data.path``; keys ``x``, ``y`` and optionally ``x_test``, ``y_test``)."""
    path: str = ""
    """The dataset's folder (or the .npz file); empty: its usual place under data/ (relative paths are
    taken from the repository root)."""
    train_limit: NonNegativeInt = 0
    """Use only the first N training images (0: all); taken before the validation hold-out. For smoke runs."""
    test_limit: NonNegativeInt = 0
    """Use only the first N test images (0: all); for smoke runs."""
    val_size: NonNegativeInt = 0
    """Training images held out for validation (a fixed draw, the same for every seed). The reported test
    metrics are those of the epoch with the lowest validation error (the best-validation model). 0: no
    validation; the last epoch is reported."""
    test_fraction: Fraction = 0.2
    """npz without ``x_test``/``y_test`` only: the share of images held out as the test set (a fixed draw)."""
    resize: NonNegativeInt = 0
    """Resize images to resize × resize (bilinear, rounded to 8-bit levels as an image library does); 0: keep.
    BioTorch feeds MNIST to LeNet at 32 × 32."""
    augment: bool = False
    """Random crops (4-pixel zero padding) and horizontal flips of the training images (He et al. 2016, CIFAR)."""


@dataclass(frozen=True)
class ModelConfig:
    """The network (vision/models.py MODELS). Input shape and classes come from the data."""

    name: Literal["mlp", "lenet", "lenet_cifar", "resnet"] = "mlp"
    """mlp: fully connected (Nøkland 2016); lenet: LeNet-5, BioTorch's MNIST variant (32 × 32 inputs);
    lenet_cifar: BioTorch's CIFAR LeNet; resnet: He et al. 2016's CIFAR ResNet (``depth``)."""
    hidden: Widths = (800, 800)
    """mlp: widths of the hidden layers (a feedback point follows each)."""
    activation: Literal["tanh", "relu"] = "tanh"
    """mlp: the hidden non-linearity (the conv nets use ReLU, as their papers do)."""
    depth: PositiveInt = 20
    """resnet: 6n + 2 layers, n basic blocks per stage (20, 32, 44, 56, 110)."""
    init: Literal["default", "xavier"] = "default"
    """default: PyTorch's initialisation (FA's random feedback weights on the same scale); xavier: Glorot
    uniform weights, zero biases and Glorot-scaled feedback weights (BioTorch's benchmark setting)."""


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation."""

    epochs: PositiveInt = 10
    batch_size: PositiveInt = 128
    optimizer: Literal["sgd", "adam"] = "adam"
    lr: LearningRate = 1e-3
    momentum: Fraction = 0.9
    """SGD only."""
    weight_decay: NonNegativeFloat = 0.0
    schedule: Literal["constant", "cosine", "multistep"] = "cosine"
    """Learning rate over epochs: constant; cosine annealing to zero at the last epoch; or multistep (× gamma
    at each of ``milestones``)."""
    milestones: tuple[NonNegativeInt, ...] = ()
    """multistep: the epochs (0-based) from which the learning rate is multiplied by ``gamma`` once more."""
    gamma: PositiveFloat = 0.1
    """multistep: the factor applied at each milestone."""
    align_batch: PositiveInt = 1000
    """Training examples on which alignment is measured (when feedback.align_every > 0)."""
    eval_batch: PositiveInt = 10000
    """Images per forward pass when evaluating: bounds memory (batch sizes may differ in the last bits)."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """auto: CUDA when there is a GPU, else the CPU."""


@dataclass(frozen=True)
class VisionConfig:
    """One vision run."""

    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    feedback: FeedbackConfig = field(default_factory=FeedbackConfig)
